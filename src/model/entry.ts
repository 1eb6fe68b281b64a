import type { Level } from './level.js';

/** One log entry as the user sees it. `ts` is nanoseconds since the Unix epoch. */
export interface LogEntry {
  readonly ts: bigint;
  readonly service: string;
  readonly server: string;
  readonly region: string;
  readonly level: Level;
  readonly message: string;
}

/**
 * An entry with its identity. Every entry in Tributary is identified by the
 * source that first encoded it and a per-source sequence number; retries carry
 * the same pair, which is what makes deduplication exact.
 */
export interface IdentifiedEntry extends LogEntry {
  readonly source: string;
  readonly seq: bigint;
}

/** Nanoseconds since the epoch from milliseconds (Date.now()). */
export function nsFromMillis(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 1_000_000n;
}

/** Wall clock in nanoseconds, with sub-millisecond precision from the monotonic clock. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}
