import type { WalPosition } from './wal.js';

/**
 * Sealed block v2, one immutable file:
 *
 *   header  32 B: magic 'TBLK', version u16, reserved u16, entries u32, pages u32, reserved
 *   page*   entries sorted by (ts, source, seq), at most PAGE_ENTRIES each:
 *             u32 count, u32 x COLUMN_COUNT compressed column lengths,
 *             the compressed columns, u32 CRC-32 of everything before it in the page
 *   footer  JSON: the block's index (below)
 *   trailer 16 B: u64 footer offset, u32 footer length, u32 CRC-32 of the footer
 *
 * Version 2 added the labels and metadata columns and the footer's bitset of
 * label sets; a version-1 block (no such columns: every entry without
 * either) is still read.
 *
 * Columns are compressed one by one so a query decodes only what it reads:
 * numeric columns with raw deflate level 1, messages with brotli quality 4.
 * Brotli q4 was chosen by measurement on the Loghub samples
 * (docs/ARCHITECTURE.md): 5-28 bytes per line, smaller than deflate level 6
 * and faster (130-430 MB/s).
 */

export const BLOCK_MAGIC = 0x4b4c4254; // 'TBLK'
export const BLOCK_VERSION = 2;
/** The oldest block version this build reads. */
export const BLOCK_MIN_VERSION = 1;
export const BLOCK_HEADER_BYTES = 32;
export const BLOCK_TRAILER_BYTES = 16;
export const PAGE_ENTRIES = 8192;

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

/** Columns a page of this block version has. */
export function columnCount(version: number): number {
  return version >= 2 ? COLUMN_COUNT : COLUMN_COUNT_V1;
}

/** A page's header: its entry count and one compressed length per column. */
export function pageHeaderBytes(version: number): number {
  return 4 + 4 * columnCount(version);
}

export interface PageIndex {
  readonly offset: number;
  readonly length: number;
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
  /** Where the per-minute roll-up section is (absent in blocks written before it existed). */
  readonly rollup?: { readonly offset: number; readonly length: number };
}

export function blockFileName(id: number): string {
  return `${String(id).padStart(12, '0')}.blk`;
}
