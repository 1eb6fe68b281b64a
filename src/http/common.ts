import { TributaryError, type ErrorCode } from '../errors.js';

/** A request's query string. */
export type Query = Record<string, string | undefined>;

/** HTTP status for each error code that a client can cause or should retry. */
export const STATUS: Partial<Record<ErrorCode, number>> = {
  E_QUERY_INVALID: 400,
  E_NOT_FOUND: 404,
  E_INVALID_ARGUMENT: 400,
  E_TIMEOUT: 504,
  E_SYSTEM_STOPPED: 503,
  E_DISK_FULL: 507,
  E_OVERLOADED: 429,
  E_UNAUTHENTICATED: 401,
  E_INGEST_INVALID: 400,
  E_WORKER_DIED: 503,
};

/** The HTTP status an error answers with: a client's mistake is a 4xx, never a 500. */
export function statusOf(err: unknown): number {
  return err instanceof TributaryError ? (STATUS[err.code] ?? 500) : ((err as { statusCode?: number }).statusCode ?? 500);
}

/** An integer query parameter, or `fallback` when absent. */
export function int(value: string | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new TributaryError('E_QUERY_INVALID', `${field} must be an integer, got ${JSON.stringify(value)}`, { field });
  return n;
}
