import type { WalPosition } from './wal.js';

/**
 * Sealed block v4, one immutable file:
 *
 *   header      32 B: magic 'TBLK', version u16, reserved u16, entries u32, pages u32, reserved
 *   templates   the block's message templates (templates.ts: encodeTemplateList),
 *               raw-deflated, then u32 CRC-32
 *   page*       the block's entries cut by time: page k holds entries earlier, in
 *               (ts, source, seq) order, than page k + 1's. A page ends at a time
 *               bucket's boundary (BUCKET_NS) once it holds PAGE_MIN_ROWS, and at
 *               PAGE_MAX_ROWS regardless. Inside a page, rows are ordered by level
 *               segment (DEBUG and INFO, WARN, ERROR), stream (service, region,
 *               server, other labels), then (ts, source, seq): a stream's rows in
 *               one segment are one run; layout in page-v3.ts
 *   rollup      per-minute counts (rollup.ts)
 *   postings    per page, the label ids its rows have (postings.ts)
 *   footer      JSON: the block's index (below)
 *   trailer     16 B: u64 footer offset, u32 footer length, u32 CRC-32 of the footer
 *
 * Version 3 had, instead of templates, a 32 KiB message dictionary that
 * every frame was deflated against, and frames held the messages whole.
 * Versions 1 and 2 (pages of up to 8192 entries in (ts, source, seq) order,
 * every column compressed whole per page: page-v2.ts) are still read.
 * Version 2 added the labels and metadata columns and the footer's bitset of
 * label sets; a version-1 block has neither.
 */

export const BLOCK_MAGIC = 0x4b4c4254; // 'TBLK'
export const BLOCK_VERSION = 4;
/** The oldest block version this build reads. */
export const BLOCK_MIN_VERSION = 1;
export const BLOCK_HEADER_BYTES = 32;
export const BLOCK_TRAILER_BYTES = 16;
/** Entries per page of a version 1 or 2 block (at most). */
export const PAGE_ENTRIES_V2 = 8192;

/**
 * Version 3 and 4 pages: cut at a bucket boundary once this many rows are in, so a
 * query over seconds reads one or two pages, and a sparse shard's pages are
 * not tiny.
 */
export const BUCKET_NS = 10_000_000_000n;
export const PAGE_MIN_ROWS = 4096;
export const PAGE_MAX_ROWS = 65_536;
/** Rows per message frame of a version 3 or 4 page: the unit a query decompresses to read a message. */
export const FRAME_ROWS = 128;
export const FRAME_SHIFT = 7;

/** The columns of a version 3 or 4 page's head, in order. */
export const HeadColumn = {
  // Packed (packed.ts), one value per run, column by column: service, server, region,
  // label set + 1 (0 for none), mask of the run's levels, row count.
  RUNS: 0,
} as const;
export const HEAD_COLUMNS = 1;
/** Bytes per row of a version 3 frame before its messages: ts, seq, source, message and metadata lengths, level. */
export const FRAME_FIXED_BYTES = 8 + 4 * 4 + 1;
/** Version 4: ts, seq, source, template, raw message and metadata lengths, level. */
export const FRAME_FIXED_BYTES_V4 = 8 + 5 * 4 + 1;
/** Numbers per run in memory: service, server, region, label set (NO_SET for none), level mask, end row (exclusive). */
export const RUN_FIELDS = 6;

/** The columns of a version 1 or 2 page, in order. */
export const Column = {
  TS: 0, // BigInt64 deltas from the page's minTs (sorted, so >= 0)
  LEVEL: 1, // Uint8
  SERVICE: 2, // Uint32 label ids
  SERVER: 3,
  REGION: 4,
  SOURCE: 5, // Uint32 index into the block's sources
  SEQ: 6, // Uint32 offset from the source's base in this block
  MSG_OFFSETS: 7, // Uint32 x (count + 1)
  MSG_BYTES: 8, // UTF-8
  LABELS: 9, // Uint32 shard label ids of the stream's other labels (one encoded set), NO_SET for none (v2)
  META_OFFSETS: 10, // Uint32 x (count + 1) (v2)
  META_BYTES: 11, // UTF-8 encoded metadata sets (v2)
} as const;
export type Column = (typeof Column)[keyof typeof Column];
export const COLUMN_COUNT = 12;
/** Columns of a version-1 page. */
export const COLUMN_COUNT_V1 = 9;
/** A labels column entry with no set. */
export const NO_SET = 0xffffffff;

/** Columns a page of a version 1 or 2 block has. */
export function columnCount(version: number): number {
  return version >= 2 ? COLUMN_COUNT : COLUMN_COUNT_V1;
}

/** A version 1 or 2 page's header: its entry count and one compressed length per column. */
export function pageHeaderBytes(version: number): number {
  return 4 + 4 * columnCount(version);
}

export interface PageIndex {
  readonly offset: number;
  readonly length: number;
  /** Version 3: bytes of the page's head (read first; its frames are read as needed). */
  readonly head?: number;
  readonly count: number;
  readonly minTs: bigint;
  readonly maxTs: bigint;
  readonly levels: readonly [number, number, number, number];
}

export interface BlockSource {
  readonly id: string;
  /** Smallest seq of this source in the block; entries store seq - base. */
  readonly base: number;
  /** The seq intervals [from, to) of this source stored in the block (for deduplication). */
  readonly ranges: readonly number[];
}

/** The in-memory index of a sealed block: enough to decide whether a query needs it, and to rebuild dedup state. */
export interface BlockIndex {
  readonly id: number;
  /** The block format version it was written in (1 has no labels or metadata columns). */
  readonly version: number;
  readonly path: string;
  readonly bytes: number;
  readonly entries: number;
  readonly minTs: bigint;
  readonly maxTs: bigint;
  readonly levels: readonly [number, number, number, number];
  readonly pages: readonly PageIndex[];
  readonly sources: readonly BlockSource[];
  /** Bitsets over the shard's label ids: which services, servers, regions and label sets occur (`set` absent in v1: none). */
  readonly labels: { readonly service: Uint8Array; readonly server: Uint8Array; readonly region: Uint8Array; readonly set?: Uint8Array };
  /** Whether some entry has no label set (v1 blocks: every entry). */
  readonly unlabelled?: boolean;
  /** The WAL position whose records this block (with the ones before it) contains. */
  readonly walEnd: WalPosition;
  /** When the block was sealed (ms since the epoch). */
  readonly sealedAt: number;
  /** Blocks this one was compacted from: if any is still on disk at open (a crash came between), it is deleted. */
  readonly replaces?: readonly number[];
  /** Version 3: where the message dictionary is. */
  readonly dictionary?: { readonly offset: number; readonly length: number };
  /** Version 4: where the templates are, and whether some message is kept whole (RAW). */
  readonly templates?: { readonly offset: number; readonly length: number; readonly raw: boolean };
  /** Version 4: where the postings from label ids to pages are (postings.ts). */
  readonly postings?: { readonly offset: number; readonly length: number };
  /** Where the per-minute roll-up section is (absent in blocks written before it existed). */
  readonly rollup?: { readonly offset: number; readonly length: number };
}

export function blockFileName(id: number): string {
  return `${String(id).padStart(12, '0')}.blk`;
}
