import { Metadata, status } from '@grpc/grpc-js';
import { TributaryError, publicError, type ErrorCode } from '../errors.js';

/** The gRPC status for each error a client can cause or should retry; the Tributary code travels in metadata. */
const GRPC_STATUS: Partial<Record<ErrorCode, status>> = {
  E_QUERY_INVALID: status.INVALID_ARGUMENT,
  E_INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  E_TIMEOUT: status.DEADLINE_EXCEEDED,
  E_SYSTEM_STOPPED: status.UNAVAILABLE,
  E_DISK_FULL: status.RESOURCE_EXHAUSTED,
  E_OVERLOADED: status.RESOURCE_EXHAUSTED,
  E_UNAUTHENTICATED: status.UNAUTHENTICATED,
  E_WORKER_DIED: status.UNAVAILABLE,
  E_BATCH_CORRUPT: status.INVALID_ARGUMENT,
  E_BATCH_TRUNCATED: status.INVALID_ARGUMENT,
  E_BATCH_VERSION: status.INVALID_ARGUMENT,
};

export function grpcError(err: unknown): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  if (err instanceof TributaryError) {
    metadata.set('tributary-code', err.code);
    return { code: GRPC_STATUS[err.code] ?? status.INTERNAL, details: publicError(err).message, metadata };
  }
  return { code: status.INTERNAL, details: publicError(err).message, metadata };
}
