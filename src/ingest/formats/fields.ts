import { Level, tryParseLevel } from '../../model/level.js';
import type { ShardSink } from '../sink.js';
import { timestampNs } from '../timestamp.js';
import { parseJsonExact } from './exact-json.js';

/** Labels an entry gets when its sender names none: stored, queryable, and visibly unnamed. */
export const UNKNOWN_SERVICE = 'unknown_service';
export const UNKNOWN_SERVER = 'unknown';
export const UNKNOWN_REGION = 'unknown';

/** A whole JSON body (Loki, OTLP), or undefined after refusing it as malformed_json. */
export function parseJsonBody(sink: ShardSink, body: Uint8Array): unknown {
  try {
    return parseJsonExact(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    sink.reject(0, 'malformed_json', `body is not JSON: ${(err as Error).message}`);
    return undefined;
  }
}

/** First string field present among `names`, and its name. */
function pickField(o: Record<string, unknown>, names: readonly string[]): [string, string] | undefined {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'string' && v.length > 0) return [n, v];
    if (typeof v === 'number') return [n, String(v)];
  }
  return undefined;
}

/** A JSON value as metadata text: strings as they are, other values as JSON. */
function metadataText(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v);
}

// Field names as real shippers spell them: ours first, then pino/bunyan, then common aliases.
const SERVICE_FIELDS = ['service', 'service_name', 'name', 'app', 'job'];
const SERVER_FIELDS = ['server', 'hostname', 'host', 'instance'];
const REGION_FIELDS = ['region', 'zone', 'datacenter', 'dc'];
const MESSAGE_FIELDS = ['msg', 'message', 'line', 'log'];
export const TIME_FIELDS = ['ts', 'time', 'timestamp', '@timestamp'];
const LEVEL_FIELDS = ['level', 'severity', 'lvl', 'loglevel'];

/**
 * Adds one JSON log object to the sink (NDJSON push, pino files, bulk
 * import). A missing time is the arrival time; a missing level is INFO; a
 * missing message keeps the whole line, so nothing a sender wrote is lost.
 *
 * Fields beyond the known ones: an object under `labels` gives the stream's
 * other labels; every other field not read as time, level, message,
 * service, server or region becomes the entry's structured metadata
 * (objects and arrays as their JSON text). A line without a message field
 * is kept whole as its message and gets no metadata: nothing is stored twice.
 */
export function addJsonEntry(sink: ShardSink, line: number, o: unknown, raw: string, now: bigint): void {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    sink.reject(line, 'not_an_object', `line ${line} is JSON but not an object`);
    return;
  }
  const rec = o as Record<string, unknown>;
  let ts = now;
  const tf = TIME_FIELDS.find((f) => rec[f] !== undefined);
  if (tf !== undefined) {
    const t = timestampNs(rec[tf]);
    if (t === undefined) {
      sink.reject(
        line,
        'invalid_timestamp',
        `line ${line}: ${tf} ${JSON.stringify(rec[tf]).slice(0, 60)} is not a time (nanoseconds, milliseconds, seconds or RFC 3339)`,
      );
      return;
    }
    ts = t;
  }
  let level: Level = Level.INFO;
  const lf = LEVEL_FIELDS.find((f) => rec[f] !== undefined);
  if (lf !== undefined) {
    const v = rec[lf];
    const l = typeof v === 'string' || typeof v === 'number' ? tryParseLevel(v) : undefined;
    if (l === undefined) {
      sink.reject(
        line,
        'unknown_level',
        `line ${line}: level ${JSON.stringify(v).slice(0, 40)} is not one Tributary knows (debug, info, warn, error and their usual spellings, syslog 0-7, pino 10-60)`,
      );
      return;
    }
    level = l;
  }
  const msg = pickField(rec, MESSAGE_FIELDS);
  const service = pickField(rec, SERVICE_FIELDS);
  const server = pickField(rec, SERVER_FIELDS);
  const region = pickField(rec, REGION_FIELDS);
  let labels = '';
  let meta = '';
  if (msg !== undefined) {
    let pairs: [string, string][] | undefined;
    let streamLabels: [string, string][] | undefined;
    for (const k in rec) {
      if (k === msg[0] || k === tf || k === lf || k === service?.[0] || k === server?.[0] || k === region?.[0]) continue;
      const v = rec[k];
      if (v === undefined || v === null) continue;
      if (k === 'labels' && typeof v === 'object' && !Array.isArray(v)) {
        streamLabels = Object.entries(v as Record<string, unknown>).map(([n, x]) => [n, metadataText(x)]);
        continue;
      }
      (pairs ??= []).push([k, metadataText(v)]);
    }
    const l = streamLabels === undefined ? '' : checkedPairs(sink, line, 'labels', streamLabels);
    if (l === undefined) return;
    const m = pairs === undefined ? '' : checkedPairs(sink, line, 'metadata', pairs);
    if (m === undefined) return;
    labels = l;
    meta = m;
  }
  sink.add(
    line,
    ts,
    level,
    service?.[1] ?? sink.defaults.service,
    server?.[1] ?? sink.defaults.server,
    region?.[1] ?? sink.defaults.region,
    msg?.[1] ?? raw,
    labels,
    meta,
  );
}

/** The encoded set, or undefined after refusing the line for it (the first refusal only). */
function checkedPairs(sink: ShardSink, line: number, kind: 'labels' | 'metadata', pairs: [string, string][]): string | undefined {
  const checked = sink.checkPairs(kind, pairs);
  if (typeof checked === 'string') return checked;
  sink.reject(line, checked.reason, `line ${line}: ${checked.message}`);
  return undefined;
}
