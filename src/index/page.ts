import type { BlockIndex } from './block-format.js';

/**
 * Which streams a query accepts, resolved to the shard's label ids: per id
 * of service, server and region a 1 in the array (null: any), and a
 * predicate over label-set ids (null: any).
 */
export interface StreamFilter {
  readonly service: Uint8Array | null;
  readonly server: Uint8Array | null;
  readonly region: Uint8Array | null;
  readonly set: { ok(id: number): boolean } | null;
}

export const ANY_STREAM: StreamFilter = { service: null, server: null, region: null, set: null };

export interface StreamIds {
  readonly service: number;
  readonly server: number;
  readonly region: number;
  readonly set: number;
}

/** What a query asks of one page: a time range [from, to), levels, streams, a direction. */
export interface PageSelection {
  readonly from: bigint;
  readonly to: bigint;
  readonly levelMask: number;
  readonly streams: StreamFilter;
  readonly backward: boolean;
  /** Substrings every message must contain (see Page.mayContain): rows that cannot are dropped before sorting. */
  readonly needles?: readonly Uint8Array[];
}

/** The rows a selection picked, in order, with their timestamps; `examined` is how many rows it looked at. */
export interface PageRowsSelected {
  readonly rows: Uint32Array;
  readonly ts: BigInt64Array;
  readonly examined: number;
}

/**
 * One page of a sealed block, decoded lazily. Row order inside a page is the
 * format's own (time order in versions 1-2, stream order in version 3);
 * `select` is how a query gets rows in (ts, source, seq) order.
 */
export interface Page {
  readonly count: number;
  /** Per row, in row order. */
  ts(): BigInt64Array;
  level(): Uint8Array;
  service(): Uint32Array;
  server(): Uint32Array;
  region(): Uint32Array;
  /** Per row, the shard label id of its other stream labels, or NO_SET; null when the block has none (version 1). */
  labelSets(): Uint32Array | null;
  /** Row i's level (reads only what holds it). */
  levelOf(i: number): number;
  /** Row i's stream: shard label ids of its service, server and region, and of its other labels (NO_SET for none). */
  stream(i: number): StreamIds;
  /** Per row, its source's index in the block's source table. */
  source(): Uint32Array;
  readonly sources: BlockIndex['sources'];
  /** Absolute sequence number of row i. */
  seq(i: number): number;
  sourceId(i: number): string;
  message(i: number): string;
  /** Row i's message as bytes (a view: copy before keeping it past the page). */
  messageBytes(i: number): Uint8Array;
  /** Row i's structured metadata, encoded ('' for none). */
  meta(i: number): string;
  /**
   * The rows that pass `s`'s time range, levels and streams, and may hold
   * its needles, in (ts, source, seq) order (reversed when backward).
   * `examined` is how many rows it looked at.
   */
  select(s: PageSelection): PageRowsSelected;
  /**
   * Whether row i's message can contain every one of `needles` (false: it
   * cannot match a filter requiring them; true may still not match). Pass
   * the same array for every row of a query: verdicts are kept per array.
   */
  mayContain(i: number, needles: readonly Uint8Array[]): boolean;
  /** Message frames decompressed so far (a version 1-2 page has one: all its messages). */
  readonly framesLoaded: number;
}
