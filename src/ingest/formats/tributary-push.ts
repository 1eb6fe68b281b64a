import protobuf from 'protobufjs';
import { PROTO_PATH } from '../../grpc/proto-path.js';
import type { Level } from '../../model/level.js';
import type { ShardSink } from '../sink.js';
import { UNKNOWN_REGION, UNKNOWN_SERVER, UNKNOWN_SERVICE } from './fields.js';

let pushRequest: protobuf.Type | undefined;
function pushRequestType(): protobuf.Type {
  pushRequest ??= protobuf.loadSync(PROTO_PATH).lookupType('tributary.v1.PushRequest');
  return pushRequest;
}

interface WireEntry {
  ts?: { toString(): string } | number;
  level?: number;
  service?: string;
  server?: string;
  region?: string;
  message?: string;
  labels?: Record<string, string>;
  metadata?: Record<string, string>;
}

/** The gRPC unary Push (tributary.v1.PushRequest), decoded here on a parse thread from the raw request bytes. */
export function parseTributaryPush(sink: ShardSink, body: Uint8Array): void {
  let req: { entries?: WireEntry[] };
  try {
    req = pushRequestType().decode(body) as unknown as { entries?: WireEntry[] };
  } catch (err) {
    sink.reject(0, 'malformed_protobuf', `body is not a tributary.v1.PushRequest: ${(err as Error).message}`);
    return;
  }
  let n = 0;
  for (const e of req.entries ?? []) {
    n++;
    const level = e.level ?? 0;
    if (!Number.isInteger(level) || level < 0 || level > 3) {
      sink.reject(n, 'unknown_level', `entry ${n}: level ${level} is not DEBUG, INFO, WARN or ERROR`);
      continue;
    }
    const labels = e.labels && Object.keys(e.labels).length > 0 ? sink.checkPairs('labels', Object.entries(e.labels)) : '';
    const meta = e.metadata && Object.keys(e.metadata).length > 0 ? sink.checkPairs('metadata', Object.entries(e.metadata)) : '';
    if (typeof labels !== 'string' || typeof meta !== 'string') {
      const bad = typeof labels !== 'string' ? labels : (meta as Exclude<typeof meta, string>);
      sink.reject(n, bad.reason, `entry ${n}: ${bad.message}`);
      continue;
    }
    sink.add(
      n,
      BigInt((e.ts ?? 0).toString()),
      level as Level,
      e.service || UNKNOWN_SERVICE,
      e.server || UNKNOWN_SERVER,
      e.region || UNKNOWN_REGION,
      e.message ?? '',
      labels,
      meta,
    );
  }
}
