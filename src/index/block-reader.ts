import zlib from 'node:zlib';
import { TributaryError } from '../errors.js';
import { crc32 } from '../batch/crc32.js';
import {
  BLOCK_HEADER_BYTES,
  BLOCK_MAGIC,
  BLOCK_TRAILER_BYTES,
  BLOCK_MIN_VERSION,
  BLOCK_VERSION,
  COLUMN_COUNT,
  Column,
  NO_SET,
  columnCount,
  pageHeaderBytes,
  type BlockIndex,
  type BlockSource,
  type PageIndex,
} from './block-format.js';
import type { StorageFs } from './fs.js';
import { decodeRollup, type Rollup } from './rollup.js';
import { pairsObject, type PairsCache, type Labels } from '../model/labels.js';

function corrupt(path: string, reason: string, context: Record<string, number> = {}): TributaryError {
  return new TributaryError('E_BLOCK_CORRUPT', `corrupt block ${path}: ${reason}`, { path, reason, ...context });
}

function readAt(fs: StorageFs, fd: number, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** Opens a block's index: header, trailer and footer, all checked. Throws E_BLOCK_CORRUPT. */
export function readBlockIndex(fs: StorageFs, path: string, id: number): BlockIndex {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSize(fd);
    if (size < BLOCK_HEADER_BYTES + BLOCK_TRAILER_BYTES) throw corrupt(path, `file of ${size} bytes is too short`, { size });
    const header = readAt(fs, fd, 0, BLOCK_HEADER_BYTES);
    const hv = new DataView(header.buffer);
    if (hv.getUint32(0, true) !== BLOCK_MAGIC) throw corrupt(path, 'bad magic');
    const version = hv.getUint16(4, true);
    if (version > BLOCK_VERSION)
      throw new TributaryError(
        'E_FORMAT_TOO_NEW',
        `block ${path} is in format version ${version}, newer than this build reads (${BLOCK_MIN_VERSION} to ${BLOCK_VERSION}): run a newer Tributary on this data directory`,
        { path, version, supported: BLOCK_VERSION },
      );
    if (version < BLOCK_MIN_VERSION) throw corrupt(path, `unsupported version ${version}`);
    const trailer = readAt(fs, fd, size - BLOCK_TRAILER_BYTES, BLOCK_TRAILER_BYTES);
    const tv = new DataView(trailer.buffer);
    const footerOffset = Number(tv.getBigUint64(0, true));
    const footerLength = tv.getUint32(8, true);
    if (footerOffset + footerLength + BLOCK_TRAILER_BYTES !== size)
      throw corrupt(path, 'trailer does not match the file size', { size, footerOffset, footerLength });
    const footer = readAt(fs, fd, footerOffset, footerLength);
    if (crc32(footer) !== tv.getUint32(12, true)) throw corrupt(path, 'footer checksum mismatch', { offset: footerOffset });
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(new TextDecoder().decode(footer)) as Record<string, unknown>;
    } catch (err) {
      throw corrupt(path, `footer is not JSON: ${(err as Error).message}`);
    }
    const index = parseIndex(raw, path, id, size, version);
    if (index.entries !== hv.getUint32(8, true) || index.pages.length !== hv.getUint32(12, true)) throw corrupt(path, 'header and footer disagree');
    for (const p of index.pages)
      if (p.offset < BLOCK_HEADER_BYTES || p.offset + p.length > footerOffset) throw corrupt(path, 'page outside the data area', { offset: p.offset });
    return index;
  } finally {
    fs.closeSync(fd);
  }
}

function parseIndex(raw: Record<string, unknown>, path: string, id: number, bytes: number, version: number): BlockIndex {
  try {
    const pages = (raw.pages as Record<string, unknown>[]).map((p): PageIndex => ({
      offset: Number(p.offset),
      length: Number(p.length),
      count: Number(p.count),
      minTs: BigInt(p.minTs as string),
      maxTs: BigInt(p.maxTs as string),
      levels: p.levels as [number, number, number, number],
    }));
    const labels = raw.labels as Record<string, string>;
    const bits = (b64: string) => new Uint8Array(zlib.inflateRawSync(Buffer.from(b64, 'base64')));
    return {
      id,
      version,
      path,
      bytes,
      entries: Number(raw.entries),
      minTs: BigInt(raw.minTs as string),
      maxTs: BigInt(raw.maxTs as string),
      levels: raw.levels as [number, number, number, number],
      pages,
      sources: raw.sources as BlockSource[],
      labels: {
        service: bits(labels.service!),
        server: bits(labels.server!),
        region: bits(labels.region!),
        ...(labels.set !== undefined ? { set: bits(labels.set) } : {}),
      },
      unlabelled: version < 2 ? true : raw.unlabelled === true,
      walEnd: raw.walEnd as BlockIndex['walEnd'],
      sealedAt: Number(raw.sealedAt),
      replaces: Array.isArray(raw.replaces) ? (raw.replaces as number[]) : undefined,
      rollup: raw.rollup ? (raw.rollup as { offset: number; length: number }) : undefined,
    };
  } catch (err) {
    throw corrupt(path, `footer has the wrong shape: ${(err as Error).message}`);
  }
}

/** The block's per-minute roll-ups, or null if it has none (or they fail their CRC: count by scanning then). */
export function readRollup(fs: StorageFs, index: BlockIndex): Rollup | null {
  if (!index.rollup) return null;
  const fd = fs.openSync(index.path, 'r');
  try {
    return decodeRollup(readAt(fs, fd, index.rollup.offset, index.rollup.length));
  } finally {
    fs.closeSync(fd);
  }
}

// Views over a decompressed column, made by module-level functions: no closure allocated per access.
const u8 = (b: ArrayBuffer, o: number, n: number) => new Uint8Array(b, o, n);
const u32 = (b: ArrayBuffer, o: number, n: number) => new Uint32Array(b, o, n);
const i64 = (b: ArrayBuffer, o: number, n: number) => new BigInt64Array(b, o, n);

/**
 * One page of a block, read and checked (CRC) as a whole, with each column
 * decompressed the first time it is asked for.
 */
export class BlockPage {
  readonly count: number;
  private readonly cols: Uint8Array[];
  private readonly cache: (ArrayBufferView | undefined)[] = new Array(COLUMN_COUNT);
  private absoluteTs: BigInt64Array | undefined;
  private msgBuffer: Buffer | undefined;
  private metaBuffer: Buffer | undefined;

  private constructor(
    private readonly index: BlockIndex,
    private readonly page: PageIndex,
    bytes: Uint8Array,
  ) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.count = v.getUint32(0, true);
    this.cols = [];
    let off = pageHeaderBytes(index.version);
    for (let i = 0; i < columnCount(index.version); i++) {
      const len = v.getUint32(4 + i * 4, true);
      this.cols.push(bytes.subarray(off, off + len));
      off += len;
    }
  }

  static read(fs: StorageFs, index: BlockIndex, pageNo: number): BlockPage {
    const page = index.pages[pageNo]!;
    const fd = fs.openSync(index.path, 'r');
    let bytes: Uint8Array;
    try {
      bytes = readAt(fs, fd, page.offset, page.length);
    } finally {
      fs.closeSync(fd);
    }
    if (bytes.byteLength !== page.length || bytes.byteLength < pageHeaderBytes(index.version) + 4)
      throw corrupt(index.path, `page ${pageNo} is truncated`, { page: pageNo });
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (crc32(bytes.subarray(0, bytes.byteLength - 4)) !== v.getUint32(bytes.byteLength - 4, true)) {
      throw corrupt(index.path, `page ${pageNo} checksum mismatch`, { page: pageNo, offset: page.offset });
    }
    const p = new BlockPage(index, page, bytes);
    let total = pageHeaderBytes(index.version) + 4;
    for (const c of p.cols) total += c.byteLength;
    if (total !== bytes.byteLength || p.count !== page.count) throw corrupt(index.path, `page ${pageNo} framing is inconsistent`, { page: pageNo });
    return p;
  }

  private raw(col: Column): Uint8Array {
    const out = col === Column.MSG_BYTES || col === Column.META_BYTES ? zlib.brotliDecompressSync(this.cols[col]!) : zlib.inflateRawSync(this.cols[col]!);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  private typed<T extends ArrayBufferView>(col: Column, make: (b: ArrayBuffer, off: number, len: number) => T, width: number, expect: number): T {
    let v = this.cache[col] as T | undefined;
    if (v === undefined) {
      let b = this.raw(col);
      if (b.byteLength !== expect * width) throw corrupt(this.index.path, `column ${col} has ${b.byteLength} bytes, expected ${expect * width}`);
      if (b.byteOffset % width !== 0) b = b.slice();
      v = make(b.buffer as ArrayBuffer, b.byteOffset, expect);
      this.cache[col] = v;
    }
    return v;
  }

  /** Absolute timestamps (stored as deltas from the page's minimum; converted once, in place). */
  ts(): BigInt64Array {
    if (this.absoluteTs === undefined) {
      const d = this.typed(Column.TS, i64, 8, this.count);
      const min = this.page.minTs;
      for (let i = 0; i < d.length; i++) d[i] = d[i]! + min;
      this.absoluteTs = d;
    }
    return this.absoluteTs;
  }

  level(): Uint8Array {
    return this.typed(Column.LEVEL, u8, 1, this.count);
  }

  service(): Uint32Array {
    return this.typed(Column.SERVICE, u32, 4, this.count);
  }

  server(): Uint32Array {
    return this.typed(Column.SERVER, u32, 4, this.count);
  }

  region(): Uint32Array {
    return this.typed(Column.REGION, u32, 4, this.count);
  }

  /** Per entry, the shard label id of its other stream labels, or NO_SET; null for a version-1 block (none). */
  labelSets(): Uint32Array | null {
    return this.index.version >= 2 ? this.typed(Column.LABELS, u32, 4, this.count) : null;
  }

  /** Entry i's structured metadata, encoded ('' for none, and always in a version-1 block). */
  meta(i: number): string {
    if (this.index.version < 2) return '';
    const off = this.typed(Column.META_OFFSETS, u32, 4, this.count + 1);
    if (off[i] === off[i + 1]) return '';
    if (this.metaBuffer === undefined) {
      const bytes = this.raw(Column.META_BYTES);
      if (bytes.byteLength !== off[this.count]) throw corrupt(this.index.path, 'metadata bytes do not match their offsets');
      this.metaBuffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return this.metaBuffer.toString('utf8', off[i]!, off[i + 1]!);
  }

  /** Per entry, its source's index in the block's source table (`sources`). */
  source(): Uint32Array {
    return this.typed(Column.SOURCE, u32, 4, this.count);
  }

  /** Per entry, its sequence number relative to its source's base in the block. */
  relativeSeq(): Uint32Array {
    return this.typed(Column.SEQ, u32, 4, this.count);
  }

  /** The block's sources: id and sequence base. */
  get sources(): BlockIndex['sources'] {
    return this.index.sources;
  }

  /** Absolute sequence number of entry i. */
  seq(i: number): number {
    return this.index.sources[this.source()[i]!]!.base + this.relativeSeq()[i]!;
  }

  sourceId(i: number): string {
    return this.index.sources[this.source()[i]!]!.id;
  }

  messageOffsets(): Uint32Array {
    return this.typed(Column.MSG_OFFSETS, u32, 4, this.count + 1);
  }

  messageBytes(): Uint8Array {
    let v = this.cache[Column.MSG_BYTES] as Uint8Array | undefined;
    if (v === undefined) {
      v = this.raw(Column.MSG_BYTES);
      const off = this.messageOffsets();
      if (v.byteLength !== off[this.count]) throw corrupt(this.index.path, 'message bytes do not match their offsets');
      this.cache[Column.MSG_BYTES] = v;
    }
    return v;
  }

  message(i: number): string {
    const off = this.messageOffsets();
    return this.messageBuffer().toString('utf8', off[i]!, off[i + 1]!);
  }

  /** The message bytes as one Buffer (made once per page: a Buffer per message was a measurable share of a scan). */
  messageBuffer(): Buffer {
    if (this.msgBuffer === undefined) {
      const bytes = this.messageBytes();
      this.msgBuffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return this.msgBuffer;
  }
}

/**
 * The `labels` and `metadata` fields of entry i of a page, to spread into
 * an entry: absent when it has none. Label sets are decoded through `cache`
 * (entries of one stream share one object).
 */
export function pageEntryExtras(page: BlockPage, i: number, labelName: (id: number) => string, cache: PairsCache): { labels?: Labels; metadata?: Labels } {
  const sets = page.labelSets();
  const set = sets === null ? NO_SET : sets[i]!;
  const meta = page.meta(i);
  if (set === NO_SET && meta === '') return NO_EXTRAS;
  return {
    ...(set === NO_SET ? {} : { labels: cache.get(labelName(set)) }),
    ...(meta === '' ? {} : { metadata: pairsObject(meta) }),
  };
}
const NO_EXTRAS = Object.freeze({});
