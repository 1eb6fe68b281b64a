import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import {
  BLOCK_HEADER_BYTES,
  BLOCK_MAGIC,
  BLOCK_VERSION,
  COLUMN_COUNT,
  Column,
  PAGE_ENTRIES,
  NO_SET,
  pageHeaderBytes,
  blockFileName,
  type BlockIndex,
  type BlockSource,
  type PageIndex,
} from './block-format.js';
import { syncDir, type StorageFs } from './fs.js';
import { storageError, type WalPosition } from './wal.js';
import { computeRollup, encodeRollup } from './rollup.js';

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

const NUMERIC = { level: 1 } as const;
const MESSAGES = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT } };

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Compresses one page's columns and frames them with lengths and a CRC.
 * `bases[k]` is source k's smallest seq in the block: entries store seq - base.
 */
function encodePage(c: SealColumns, from: number, to: number, bases: Float64Array): { bytes: Uint8Array; index: Omit<PageIndex, 'offset' | 'length'> } {
  const n = to - from;
  const minTs = c.ts[from]!;
  const ts = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ts[i] = c.ts[from + i]! - minTs;
  const seq = new Uint32Array(n);
  for (let i = 0; i < n; i++) seq[i] = c.seq[from + i]! - bases[c.source[from + i]!]!;
  const levels: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) levels[c.level[from + i] as 0 | 1 | 2 | 3]++;
  const msgStart = c.msgOffsets[from]!;
  const offsets = new Uint32Array(n + 1);
  for (let i = 0; i <= n; i++) offsets[i] = c.msgOffsets[from + i]! - msgStart;
  const columns: Uint8Array[] = new Array(COLUMN_COUNT);
  columns[Column.TS] = zlib.deflateRawSync(bytesOf(ts), NUMERIC);
  columns[Column.LEVEL] = zlib.deflateRawSync(c.level.subarray(from, to), NUMERIC);
  columns[Column.SERVICE] = zlib.deflateRawSync(bytesOf(c.service.subarray(from, to)), NUMERIC);
  columns[Column.SERVER] = zlib.deflateRawSync(bytesOf(c.server.subarray(from, to)), NUMERIC);
  columns[Column.REGION] = zlib.deflateRawSync(bytesOf(c.region.subarray(from, to)), NUMERIC);
  columns[Column.SOURCE] = zlib.deflateRawSync(bytesOf(c.source.subarray(from, to)), NUMERIC);
  columns[Column.SEQ] = zlib.deflateRawSync(bytesOf(seq), NUMERIC);
  columns[Column.MSG_OFFSETS] = zlib.deflateRawSync(bytesOf(offsets), NUMERIC);
  columns[Column.MSG_BYTES] = zlib.brotliCompressSync(c.msgBytes.subarray(msgStart, c.msgOffsets[to]!), MESSAGES);
  columns[Column.LABELS] = zlib.deflateRawSync(bytesOf(c.labels.subarray(from, to)), NUMERIC);
  const metaStart = c.metaOffsets[from]!;
  const metaOffsets = new Uint32Array(n + 1);
  for (let i = 0; i <= n; i++) metaOffsets[i] = c.metaOffsets[from + i]! - metaStart;
  columns[Column.META_OFFSETS] = zlib.deflateRawSync(bytesOf(metaOffsets), NUMERIC);
  columns[Column.META_BYTES] = zlib.brotliCompressSync(c.metaBytes.subarray(metaStart, c.metaOffsets[to]!), MESSAGES);
  return { bytes: framePage(n, columns), index: { count: n, minTs, maxTs: c.ts[to - 1]!, levels } };
}

function framePage(count: number, columns: Uint8Array[]): Uint8Array {
  const headerBytes = pageHeaderBytes(BLOCK_VERSION);
  let size = headerBytes + 4;
  for (const col of columns) size += col.byteLength;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, count, true);
  let off = headerBytes;
  columns.forEach((col, i) => {
    v.setUint32(4 + i * 4, col.byteLength, true);
    out.set(col, off);
    off += col.byteLength;
  });
  v.setUint32(off, crc32(out.subarray(0, off)), true);
  return out;
}

/** A bitset with bit `id` set for every id in `ids` (NO_SET is left out). */
function bitset(ids: Uint32Array, labelCount: number): Uint8Array {
  const bits = new Uint8Array((labelCount + 7) >> 3);
  for (let i = 0; i < ids.length; i++) if (ids[i] !== NO_SET) bits[ids[i]! >> 3]! |= 1 << (ids[i]! & 7);
  return bits;
}

/**
 * Writes a sealed block and makes it durable (temporary file, fsync, rename,
 * fsync of the directory), then returns its index. Nothing refers to the
 * block until this returns, so a crash mid-write leaves only a .tmp file,
 * removed at the next open.
 */
export function writeBlock(
  fs: StorageFs,
  dir: string,
  id: number,
  c: SealColumns,
  labelCount: number,
  walEnd: WalPosition,
  now = Date.now(),
  replaces?: readonly number[],
): BlockIndex {
  // Per source: the base (smallest seq) and the stored intervals, for dedup after a restart.
  const perSource = c.sources.map(() => ({ base: Infinity, seqs: [] as number[] }));
  for (let i = 0; i < c.count; i++) {
    const s = perSource[c.source[i]!]!;
    const q = c.seq[i]!;
    if (q < s.base) s.base = q;
    s.seqs.push(q);
  }
  const sources: BlockSource[] = c.sources.map((sid, k) => {
    const seqs = perSource[k]!.seqs.sort((a, b) => a - b);
    const ranges: number[] = [];
    for (const q of seqs) {
      if (ranges.length > 0 && ranges[ranges.length - 1] === q) ranges[ranges.length - 1] = q + 1;
      else if (ranges.length === 0 || ranges[ranges.length - 1]! < q) ranges.push(q, q + 1);
    }
    return { id: sid, base: perSource[k]!.base, ranges };
  });
  const bases = Float64Array.from(sources, (s) => s.base);

  const path = `${dir}/${blockFileName(id)}`;
  const tmp = `${path}.tmp`;
  let fd = -1;
  try {
    fd = fs.openSync(tmp, 'w');
    const header = new Uint8Array(BLOCK_HEADER_BYTES);
    const hv = new DataView(header.buffer);
    const pageCount = Math.ceil(c.count / PAGE_ENTRIES);
    hv.setUint32(0, BLOCK_MAGIC, true);
    hv.setUint16(4, BLOCK_VERSION, true);
    hv.setUint32(8, c.count, true);
    hv.setUint32(12, pageCount, true);
    fs.writevSync(fd, [header], 0);
    let offset = BLOCK_HEADER_BYTES;
    const pages: PageIndex[] = [];
    const levels = [0, 0, 0, 0];
    for (let from = 0; from < c.count; from += PAGE_ENTRIES) {
      const to = Math.min(c.count, from + PAGE_ENTRIES);
      const page = encodePage(c, from, to, bases);
      fs.writevSync(fd, [page.bytes], offset);
      pages.push({ ...page.index, offset, length: page.bytes.byteLength });
      page.index.levels.forEach((n, l) => (levels[l]! += n));
      offset += page.bytes.byteLength;
    }
    // Per-minute roll-ups, after the pages: counting over hours reads these rows, not the entries.
    const rollupBytes = encodeRollup(computeRollup(c, c.count, labelCount));
    fs.writevSync(fd, [rollupBytes], offset);
    const rollup = { offset, length: rollupBytes.byteLength };
    offset += rollupBytes.byteLength;
    const labels = {
      service: bitset(c.service, labelCount),
      server: bitset(c.server, labelCount),
      region: bitset(c.region, labelCount),
      set: bitset(c.labels, labelCount),
    };
    const index: BlockIndex = {
      id,
      version: BLOCK_VERSION,
      path,
      bytes: 0,
      entries: c.count,
      minTs: c.count > 0 ? c.ts[0]! : 0n,
      maxTs: c.count > 0 ? c.ts[c.count - 1]! : 0n,
      levels: levels as [number, number, number, number],
      pages,
      sources,
      labels,
      unlabelled: c.labels.some((l) => l === NO_SET),
      walEnd,
      sealedAt: now,
      replaces,
      rollup,
    };
    const footer = new TextEncoder().encode(serializeIndex(index));
    const trailer = new Uint8Array(16);
    const tv = new DataView(trailer.buffer);
    tv.setBigUint64(0, BigInt(offset), true);
    tv.setUint32(8, footer.byteLength, true);
    tv.setUint32(12, crc32(footer), true);
    fs.writevSync(fd, [footer, trailer], offset);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, path);
    syncDir(fs, dir);
    return { ...index, bytes: offset + footer.byteLength + trailer.byteLength };
  } catch (err) {
    if (fd >= 0) fs.closeSync(fd);
    try {
      fs.unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw storageError(err, `write block ${id}`, { dir, block: id });
  }
}

/** The footer: JSON, with bigints as strings and bitsets as base64 of their deflated bytes. */
export function serializeIndex(index: BlockIndex): string {
  return JSON.stringify({
    v: BLOCK_VERSION,
    entries: index.entries,
    minTs: index.minTs.toString(),
    maxTs: index.maxTs.toString(),
    levels: index.levels,
    pages: index.pages.map((p) => ({ ...p, minTs: p.minTs.toString(), maxTs: p.maxTs.toString() })),
    sources: index.sources,
    labels: {
      service: Buffer.from(zlib.deflateRawSync(index.labels.service)).toString('base64'),
      server: Buffer.from(zlib.deflateRawSync(index.labels.server)).toString('base64'),
      region: Buffer.from(zlib.deflateRawSync(index.labels.region)).toString('base64'),
      ...(index.labels.set ? { set: Buffer.from(zlib.deflateRawSync(index.labels.set)).toString('base64') } : {}),
    },
    unlabelled: index.unlabelled,
    walEnd: index.walEnd,
    sealedAt: index.sealedAt,
    replaces: index.replaces,
    rollup: index.rollup,
  });
}
