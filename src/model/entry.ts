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
