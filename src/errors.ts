/**
 * One error catalogue for the whole system. Every error Tributary raises on
 * purpose is a TributaryError with a stable `code` that callers can switch
 * on, a `context` object with the facts needed to act on it (offsets,
 * positions, actor ids), and an optional `cause`.
 *
 * Errors cross thread boundaries as plain data ({@link SerializedError}),
 * because structured clone and comlink keep only `message` and `stack` of an
 * Error and drop custom fields such as `code`.
 */

export type ErrorCode =
  // Log model
  | 'E_LEVEL_UNKNOWN'
  | 'E_ENTRY_INVALID'
  // Batch codec
  | 'E_BATCH_CORRUPT'
  | 'E_BATCH_TRUNCATED'
  | 'E_BATCH_VERSION'
  | 'E_BATCH_FULL'
  | 'E_BATCH_LIMIT'
  // Mailbox
  | 'E_MAILBOX_FULL'
  | 'E_MAILBOX_CLOSED'
  | 'E_MAILBOX_CORRUPT'
  | 'E_FRAME_TOO_LARGE'
  | 'E_MAILBOX_STATE'
  | 'E_TIMEOUT'
  // Actors and supervision
  | 'E_NO_SUCH_ACTOR'
  | 'E_ACTOR_FAILED'
  | 'E_ACTOR_UNAVAILABLE'
  | 'E_ACTOR_LIMIT'
  | 'E_BEHAVIOUR_INVALID'
  | 'E_PLACEMENT'
  | 'E_WORKER_DIED'
  | 'E_WORKER_HUNG'
  | 'E_RESTART_INTENSITY'
  | 'E_SYSTEM_STOPPED'
  // Storage
  | 'E_DISK_FULL'
  | 'E_IO'
  | 'E_WAL_CORRUPT'
  | 'E_BLOCK_CORRUPT'
  | 'E_STORAGE_UNWRITABLE'
  | 'E_FORMAT_TOO_NEW'
  | 'E_CANCELLED'
  // Queries
  | 'E_QUERY_INVALID'
  // Ingest
  | 'E_INGEST_INVALID'
  | 'E_OVERLOADED'
  // Collectors
  | 'E_UNAVAILABLE'
  | 'E_BUFFER_FULL'
  | 'E_CONFIG_INVALID'
  // Cluster
  | 'E_CONFLICT'
  // Security
  | 'E_UNAUTHENTICATED'
  // Generic
  | 'E_NOT_FOUND'
  | 'E_INVALID_ARGUMENT'
  | 'E_INTERNAL';

export type ErrorContext = Readonly<Record<string, string | number | bigint | boolean | null | undefined>>;

export interface SerializedError {
  readonly name: string;
  readonly code: ErrorCode;
  readonly message: string;
  readonly stack?: string;
  readonly context?: Record<string, string | number | boolean | null>;
}

export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TributaryError';
    this.code = code;
    this.context = context;
  }

  /** Plain data that survives postMessage / comlink. BigInts become strings. */
  toJSON(): SerializedError {
    const context: Record<string, string | number | boolean | null> = {};
    for (const [k, v] of Object.entries(this.context)) {
      if (v === undefined) continue;
      context[k] = typeof v === 'bigint' ? v.toString() : v;
    }
    return { name: this.name, code: this.code, message: this.message, stack: this.stack, context };
  }

  static fromJSON(data: SerializedError): TributaryError {
    const err = new TributaryError(data.code, data.message, data.context ?? {});
    if (data.stack !== undefined) err.stack = data.stack;
    return err;
  }
}

export function isTributaryError(err: unknown, code?: ErrorCode): err is TributaryError {
  return err instanceof TributaryError && (code === undefined || err.code === code);
}

/** Turns anything thrown into a serialisable error record without losing the code of a TributaryError. */
/** Errors worth another attempt (elsewhere or later); any other typed error means the request itself is refused. */
export function isRetriable(err: unknown): boolean {
  const retriable: ErrorCode[] = ['E_TIMEOUT', 'E_UNAVAILABLE', 'E_OVERLOADED', 'E_DISK_FULL', 'E_WORKER_DIED', 'E_IO'];
  return retriable.some((code) => isTributaryError(err, code)) || !isTributaryError(err);
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof TributaryError) return err.toJSON();
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      code: 'E_INTERNAL',
      message: err.message,
      stack: err.stack,
      context: typeof code === 'string' ? { nodeCode: code } : {},
    };
  }
  return { name: 'Error', code: 'E_INTERNAL', message: String(err) };
}

/** What an answer may say about an error: no stack, no server paths. */
export interface PublicError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly context?: Record<string, string | number | boolean | null>;
}

// An absolute path: a slash after the start, a space, a quote or '=', then two or more segments.
const ABSOLUTE_PATH = /(^|[\s"'=(])\/(?:[\w.@+-]+\/)+([\w.@+-]*)/g;

/** `text` with every absolute path cut to its last segment (".../000000000001.blk"). */
export function redactPaths(text: string): string {
  return text.replace(ABSOLUTE_PATH, (_m, before: string, last: string) => `${before}.../${last}`);
}

/**
 * An error as an answer may carry it: the code, the message and the context
 * with server paths cut (`redactPaths`), and no stack. An error that is not
 * one of ours is an internal error whose details belong in the daemon's
 * log, not in the answer: its message is generic.
 */
export function publicError(err: unknown): PublicError {
  if (!(err instanceof TributaryError)) {
    // A refusal by the HTTP layer (a body too large, a bad content type) says what was wrong.
    const status = (err as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500 && err instanceof Error)
      return { code: 'E_INVALID_ARGUMENT', message: redactPaths(err.message) };
    return { code: 'E_INTERNAL', message: 'internal error: the daemon log has the details' };
  }
  const context: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(err.context)) {
    if (v === undefined) continue;
    context[k] = typeof v === 'bigint' ? v.toString() : typeof v === 'string' ? redactPaths(v) : v;
  }
  return { code: err.code, message: redactPaths(err.message), context };
}
