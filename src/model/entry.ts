import type { Labels } from './labels.js';
import type { Level } from './level.js';

/** One log entry as the user sees it. `ts` is nanoseconds since the Unix epoch. */
export interface LogEntry {
  readonly ts: bigint;
  readonly service: string;
  readonly server: string;
  readonly region: string;
  readonly level: Level;
  readonly message: string;
  /** The stream's other labels (beyond service, server and region); absent when it has none. */
  readonly labels?: Labels;
  /** Structured metadata: pairs of this entry that are not stream labels (trace ids, syslog structured data); absent when none. */
  readonly metadata?: Labels;
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
