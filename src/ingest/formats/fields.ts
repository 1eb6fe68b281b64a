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

/** First string field present among `names`. */
function pick(o: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = o[n];
    if (typeof v === 'string' && v.length > 0) return v;
    if (typeof v === 'number') return String(v);
  }
  return undefined;
}

// Field names as real shippers spell them: ours first, then pino/bunyan, then common aliases.
const SERVICE_FIELDS = ['service', 'service_name', 'name', 'app', 'job'];
const SERVER_FIELDS = ['server', 'hostname', 'host', 'instance'];
const REGION_FIELDS = ['region', 'zone', 'datacenter', 'dc'];
const MESSAGE_FIELDS = ['msg', 'message', 'line', 'log'];
const TIME_FIELDS = ['ts', 'time', 'timestamp', '@timestamp'];
const LEVEL_FIELDS = ['level', 'severity', 'lvl', 'loglevel'];

/**
 * Adds one JSON log object to the sink (NDJSON push, pino files, bulk
 * import). A missing time is the arrival time; a missing level is INFO; a
 * missing message keeps the whole line, so nothing a sender wrote is lost.
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
  const message = pick(rec, MESSAGE_FIELDS) ?? raw;
  sink.add(
    line,
    ts,
    level,
    pick(rec, SERVICE_FIELDS) ?? sink.defaults.service,
    pick(rec, SERVER_FIELDS) ?? sink.defaults.server,
    pick(rec, REGION_FIELDS) ?? sink.defaults.region,
    message,
  );
}
