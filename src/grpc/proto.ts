import { loadSync, type Options } from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';

import { PROTO_PATH } from './proto-path.js';

export { PROTO_PATH };

/**
 * Field names as written in the .proto, 64-bit integers as decimal strings
 * (a JavaScript number loses nanoseconds past 2^53), enums by name.
 */
export const PROTO_LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The tributary.v1 package, for a gRPC server or client. */
export function loadTributaryPackage(): GrpcObject {
  const pkg = loadPackageDefinition(loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS));
  return (pkg.tributary as GrpcObject).v1 as GrpcObject;
}
