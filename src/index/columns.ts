import { NO_SET } from './block-format.js';

/** The fixed-width columns of a set of entries. */
export interface EntryColumns {
  readonly ts: BigInt64Array;
  readonly level: Uint8Array;
  readonly service: Uint32Array;
  readonly server: Uint32Array;
  readonly region: Uint32Array;
  /** Shard label id of the entry's other stream labels (one encoded set), or NO_SET. */
  readonly labels: Uint32Array;
  /** Index into a list of source ids. */
  readonly source: Uint32Array;
  /** Exact integers (sequence numbers are < 2^53). */
  readonly seq: Float64Array;
}

export function allocColumns(n: number): EntryColumns {
  return {
    ts: new BigInt64Array(n),
    level: new Uint8Array(n),
    service: new Uint32Array(n),
    server: new Uint32Array(n),
    region: new Uint32Array(n),
    labels: new Uint32Array(n).fill(NO_SET),
    source: new Uint32Array(n),
    seq: new Float64Array(n),
  };
}

/** Entries to seal, as columns, already sorted by (ts, source, seq). */
export interface SealColumns extends EntryColumns {
  readonly count: number;
  readonly sources: readonly string[];
  /** Message i is msgBytes[msgOffsets[i], msgOffsets[i + 1]). */
  readonly msgOffsets: Uint32Array;
  readonly msgBytes: Uint8Array;
  /** Entry i's structured metadata (an encoded set, '' for none) is metaBytes[metaOffsets[i], metaOffsets[i + 1]). */
  readonly metaOffsets: Uint32Array;
  readonly metaBytes: Uint8Array;
}
