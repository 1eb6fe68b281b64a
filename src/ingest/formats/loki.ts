import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import snappy from 'snappy';
import type { Level } from '../../model/level.js';
import type { PairsCheck, ShardSink } from '../sink.js';
import { timestampNs } from '../timestamp.js';
import { parseJsonBody } from './fields.js';
import { detectLevel, parseLabelSet, streamFromLabels, type StreamLabels } from './labels.js';

const PUSH_PROTO = fileURLToPath(new URL('../../../../proto/loki/push.proto', import.meta.url));
let pushRequest: protobuf.Type | undefined;
function pushRequestType(): protobuf.Type {
  pushRequest ??= protobuf.loadSync(PUSH_PROTO).lookupType('logproto.PushRequest');
  return pushRequest;
}

/**
 * One entry of a stream: its labels' mapping, with the level from a label,
 * structured metadata or the line. The stream's labels are kept as sent
 * (service, server, region and level go to their columns), and the entry's
 * structured metadata with it.
 */
function addLokiEntry(
  sink: ShardSink,
  n: number,
  stream: StreamLabels,
  labels: PairsCheck,
  ts: bigint | undefined,
  tsText: string,
  line: string,
  metadata?: Map<string, string>,
): void {
  if (typeof labels !== 'string') {
    sink.reject(n, labels.reason, `entry ${n}: ${labels.message}`);
    return;
  }
  if (ts === undefined) {
    sink.reject(n, 'invalid_timestamp', `entry ${n}: timestamp ${JSON.stringify(tsText).slice(0, 40)} is not nanoseconds since the epoch`);
    return;
  }
  let level: Level | null | undefined = stream.level;
  let levelText = stream.levelText;
  if (metadata && metadata.size > 0) {
    const m = streamFromLabels(metadata);
    if (m.level !== undefined) ({ level, levelText } = m);
  }
  if (level === null) {
    sink.reject(n, 'unknown_level', `entry ${n}: level ${JSON.stringify(levelText)} is not one Tributary knows`);
    return;
  }
  const meta = metadata && metadata.size > 0 ? sink.checkPairs('metadata', metadata) : '';
  if (typeof meta !== 'string') {
    sink.reject(n, meta.reason, `entry ${n}: ${meta.message}`);
    return;
  }
  sink.add(n, ts, level ?? detectLevel(line), stream.service, stream.server, stream.region, line, labels, meta);
}

/** Loki's JSON push: {"streams":[{"stream":{labels},"values":[["<ns>","<line>"(,{metadata})]]}]}. */
export function parseLokiJson(sink: ShardSink, body: Uint8Array): void {
  const doc = parseJsonBody(sink, body);
  if (doc === undefined) return;
  const streams = (doc as { streams?: unknown }).streams;
  if (!Array.isArray(streams)) {
    sink.reject(0, 'malformed_body', 'body has no "streams" array');
    return;
  }
  let n = 0;
  for (const s of streams) {
    const labels = new Map<string, string>();
    const values = (s as { values?: unknown })?.values;
    const raw = (s as { stream?: unknown })?.stream;
    if (raw && typeof raw === 'object') for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') labels.set(k, v);
    if (!Array.isArray(values)) {
      sink.reject(++n, 'malformed_body', `stream ${JSON.stringify(raw)?.slice(0, 80)} has no "values" array`);
      continue;
    }
    const stream = streamFromLabels(labels);
    const encoded = sink.checkPairs('labels', labels);
    for (const v of values) {
      n++;
      if (!Array.isArray(v) || typeof v[1] !== 'string') {
        sink.reject(n, 'malformed_body', `entry ${n} is not ["<nanoseconds>", "<line>"]`);
        continue;
      }
      const metadata =
        v[2] && typeof v[2] === 'object'
          ? new Map(Object.entries(v[2] as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'))
          : undefined;
      const tsText = typeof v[0] === 'string' ? v[0] : String(v[0]);
      addLokiEntry(sink, n, stream, encoded, typeof v[0] === 'string' && /^\d{1,19}$/.test(v[0]) ? BigInt(v[0]) : timestampNs(v[0]), tsText, v[1], metadata);
    }
  }
}

interface ProtoPush {
  streams?: {
    labels?: string;
    entries?: {
      timestamp?: { seconds?: number | { toString(): string }; nanos?: number };
      line?: string;
      structuredMetadata?: { name?: string; value?: string }[];
    }[];
  }[];
}

/** Loki's protobuf push, snappy-compressed (`compressed` false for an already decompressed body). */
export function parseLokiProtobuf(sink: ShardSink, body: Uint8Array, compressed = true): void {
  let bytes: Uint8Array = body;
  if (compressed) {
    try {
      bytes = snappy.uncompressSync(Buffer.from(body.buffer, body.byteOffset, body.byteLength)) as Buffer;
    } catch (err) {
      sink.reject(0, 'malformed_body', `body is not snappy-compressed: ${(err as Error).message}`);
      return;
    }
  }
  let req: ProtoPush;
  try {
    req = pushRequestType().decode(bytes) as unknown as ProtoPush;
  } catch (err) {
    sink.reject(0, 'malformed_protobuf', `body is not a Loki PushRequest: ${(err as Error).message}`);
    return;
  }
  let n = 0;
  for (const s of req.streams ?? []) {
    const labels = parseLabelSet(s.labels ?? '');
    if (!labels) {
      const count = s.entries?.length ?? 0;
      for (let i = 0; i < Math.max(1, count); i++)
        sink.reject(++n, 'malformed_body', `stream labels ${JSON.stringify(s.labels).slice(0, 80)} are not a label set {name="value", ...}`);
      continue;
    }
    const stream = streamFromLabels(labels);
    const encoded = sink.checkPairs('labels', labels);
    for (const e of s.entries ?? []) {
      n++;
      const secs = e.timestamp?.seconds;
      const ts = secs === undefined ? undefined : BigInt(secs.toString()) * 1_000_000_000n + BigInt(e.timestamp?.nanos ?? 0);
      const metadata = e.structuredMetadata?.length ? new Map(e.structuredMetadata.map((p) => [p.name ?? '', p.value ?? ''])) : undefined;
      addLokiEntry(sink, n, stream, encoded, ts, String(secs), e.line ?? '', metadata);
    }
  }
}
