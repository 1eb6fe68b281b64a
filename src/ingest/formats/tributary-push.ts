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
    sink.add(
      n,
      BigInt((e.ts ?? 0).toString()),
      level as Level,
      e.service || UNKNOWN_SERVICE,
      e.server || UNKNOWN_SERVER,
      e.region || UNKNOWN_REGION,
      e.message ?? '',
    );
  }
}
