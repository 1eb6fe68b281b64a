/**
 * LogBatch v2 binary layout: every byte offset of the format is named here
 * and nowhere else.
 *
 * A batch is one contiguous, 8-byte aligned block:
 *
 *   header (128 bytes)
 *   ts        BigInt64 x count      ns since epoch
 *   service   Uint32   x count      ids into the dictionary
 *   server    Uint32   x count
 *   region    Uint32   x count
 *   labels    Uint32   x count      the stream's other labels, one encoded set (model/labels.ts): a dictionary id, or NO_ID
 *   meta      Uint32   x count      the entry's structured metadata, likewise (v2; absent in v1)
 *   msgOff    Uint32   x (count+1)  byte offsets into msgBytes; [0] = 0, [count] = msgBytes
 *   level     Uint8    x count      0..3 (DEBUG..ERROR)
 *   msgBytes  UTF-8    x msgBytes
 *   dictOff   Uint32   x (dictCount+1)
 *   dictBytes UTF-8    x dictBytes
 *
 * Each section starts on an 8-byte boundary. Section positions are derived
 * from (count, dictCount, msgBytes, dictBytes) rather than stored, so a
 * corrupt header cannot point a reader outside the batch: the derived total
 * must equal the stored total. The variable-length sections (messages and the
 * dictionary) come last so that a builder writing at capacity offsets can
 * compact downwards with copyWithin at finish without overlapping.
 *
 * Integrity: a CRC-32 per section plus one over the header. A reader checks a
 * section's CRC the first time it touches that section, so reading only the
 * level column never reads a message byte, and a bit flip anywhere is still
 * detected by whichever section it lands in.
 *
 * Version 1 had no labels and meta columns; a reader still reads it (every
 * entry without either), since WALs and senders of that version exist.
 *
 * All integers are little-endian (the typed-array views assume the host is
 * little-endian, which every platform Node supports today is; checked at load).
 */

export const BATCH_MAGIC = 0x42495254; // bytes 'T','R','I','B' read as a little-endian u32
export const BATCH_VERSION = 2;
/** The oldest version a reader still reads. */
export const BATCH_MIN_VERSION = 1;
/** A labels or meta column entry with no set. */
export const NO_ID = 0xffffffff;
export const HEADER_BYTES = 128;
export const ALIGN = 8;

// Header field offsets (bytes).
export const H_MAGIC = 0; // u32
export const H_VERSION = 4; // u16
export const H_HEADER_BYTES = 6; // u16
export const H_TOTAL_BYTES = 8; // u32
export const H_COUNT = 12; // u32
export const H_FIRST_SEQ = 16; // u64
export const H_DICT_COUNT = 24; // u32
export const H_DICT_BYTES = 28; // u32
export const H_MSG_BYTES = 32; // u32
export const H_SOURCE_LEN = 36; // u8 (37..39 reserved, zero)
export const H_SOURCE = 40; // 32 bytes ASCII
export const SOURCE_BYTES = 32;
export const H_SECTION_CRCS = 72; // u32 x SECTION_COUNT
export const H_HEADER_CRC = 124; // u32, CRC of bytes [0, 124)

export const Section = {
  TS: 0,
  SERVICE: 1,
  SERVER: 2,
  REGION: 3,
  MSG_OFFSETS: 4,
  LEVEL: 5,
  MSG_BYTES: 6,
  DICT: 7, // dictOff and dictBytes together: a label is never read without both
  LABELS: 8,
  META: 9,
} as const;
export type Section = (typeof Section)[keyof typeof Section];
export const SECTION_COUNT = 10;
/** Sections of a version-1 batch (its header has CRC slots for these only). */
export const SECTION_COUNT_V1 = 8;
export const SECTION_NAMES = ['ts', 'service', 'server', 'region', 'msgOffsets', 'level', 'msgBytes', 'dictionary', 'labels', 'meta'] as const;

// Limits. They bound what a reader will believe before it has checked
// anything, so a corrupt count can never make it allocate or loop wildly.
export const MAX_ENTRIES = 1 << 20; // per batch
export const MAX_MESSAGE_BYTES = 1 << 20; // 1 MiB per message, UTF-8
export const MAX_LABEL_BYTES = 1024; // service, server or region name, UTF-8
export const MAX_PAIRS_BYTES = 64 * 1024; // one encoded label set or metadata set, UTF-8
export const MAX_BATCH_BYTES = 256 * 1024 * 1024; // whole batch
/** Fixed bytes per entry outside its message: ts 8 + 5 ids x 4 + msgOff 4 + level 1. */
export const FIXED_BYTES_PER_ENTRY = 33;

export function align8(n: number): number {
  return (n + 7) & ~7;
}

export interface BatchLayout {
  readonly ts: number;
  readonly service: number;
  readonly server: number;
  readonly region: number;
  readonly labels: number;
  readonly meta: number;
  readonly msgOffsets: number;
  readonly level: number;
  readonly msgBytes: number;
  readonly dictOffsets: number;
  readonly dictBytes: number;
  readonly total: number;
}

/** Byte offsets of every section for the given counts (relative to the batch start); version 1 has no labels or meta columns. */
export function computeLayout(count: number, msgBytes: number, dictCount: number, dictBytes: number, version = BATCH_VERSION): BatchLayout {
  const ts = HEADER_BYTES;
  const service = align8(ts + count * 8);
  const server = align8(service + count * 4);
  const region = align8(server + count * 4);
  const labels = align8(region + count * 4);
  const idCount = version >= 2 ? count : 0;
  const meta = align8(labels + idCount * 4);
  const msgOffsets = align8(meta + idCount * 4);
  const level = align8(msgOffsets + (count + 1) * 4);
  const msg = align8(level + count);
  const dictOffsets = align8(msg + msgBytes);
  const dict = align8(dictOffsets + (dictCount + 1) * 4);
  const total = align8(dict + dictBytes);
  return { ts, service, server, region, labels, meta, msgOffsets, level, msgBytes: msg, dictOffsets, dictBytes: dict, total };
}

/** [start, end) of a section, for CRCs. */
export function sectionRange(layout: BatchLayout, section: Section, count: number, msgBytes: number, dictCount: number, dictBytes: number): [number, number] {
  switch (section) {
    case Section.TS:
      return [layout.ts, layout.ts + count * 8];
    case Section.SERVICE:
      return [layout.service, layout.service + count * 4];
    case Section.SERVER:
      return [layout.server, layout.server + count * 4];
    case Section.REGION:
      return [layout.region, layout.region + count * 4];
    case Section.MSG_OFFSETS:
      return [layout.msgOffsets, layout.msgOffsets + (count + 1) * 4];
    case Section.LEVEL:
      return [layout.level, layout.level + count];
    case Section.MSG_BYTES:
      return [layout.msgBytes, layout.msgBytes + msgBytes];
    case Section.DICT:
      return [layout.dictOffsets, layout.dictBytes + dictBytes];
    case Section.LABELS:
      return [layout.labels, layout.labels + (layout.meta > layout.labels ? count * 4 : 0)];
    case Section.META:
      return [layout.meta, layout.meta + (layout.meta > layout.labels ? count * 4 : 0)];
  }
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('Tributary requires a little-endian host: the batch and mailbox formats are little-endian typed-array views');
}
