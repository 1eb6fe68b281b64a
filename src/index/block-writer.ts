import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import {
  BLOCK_HEADER_BYTES,
  BLOCK_MAGIC,
  BLOCK_VERSION,
  BUCKET_NS,
  NO_SET,
  PAGE_MAX_ROWS,
  PAGE_MIN_ROWS,
  blockFileName,
  type BlockIndex,
  type BlockSource,
  type PageIndex,
} from './block-format.js';
import { syncDir, type StorageFs } from './fs.js';
import { withCrc } from './block-io.js';
import { storageError, type WalPosition } from './wal.js';
import { computeRollup, encodeRollup } from './rollup.js';
import { cutMessages, encodeStreamPage } from './page-v3-encode.js';
import { encodeTemplateList } from './templates.js';
import { encodePostings } from './postings.js';
import type { SealColumns } from './columns.js';

/**
 * Where the rows of a block are cut into pages: at the first bucket boundary
 * once a page holds PAGE_MIN_ROWS, and at PAGE_MAX_ROWS regardless. Rows are
 * in time order, so pages are disjoint in (ts, source, seq).
 */
export function pageCuts(ts: BigInt64Array, count: number): number[] {
  const cuts: number[] = [0];
  let start = 0;
  for (let i = 1; i < count; i++) {
    const rows = i - start;
    if (rows >= PAGE_MAX_ROWS || (rows >= PAGE_MIN_ROWS && ts[i]! / BUCKET_NS !== ts[i - 1]! / BUCKET_NS)) {
      cuts.push(i);
      start = i;
    }
  }
  if (count > 0) cuts.push(count);
  return cuts;
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
  /** Called between pages; throws to abandon the block (see Sealer.cancel). */
  interrupt?: () => void,
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
    const cuts = pageCuts(c.ts, c.count);
    const pageCount = cuts.length - 1;
    hv.setUint32(0, BLOCK_MAGIC, true);
    hv.setUint16(4, BLOCK_VERSION, true);
    hv.setUint32(8, c.count, true);
    hv.setUint32(12, pageCount, true);
    fs.writevSync(fd, [header], 0);
    let offset = BLOCK_HEADER_BYTES;
    const cut = cutMessages(c, interrupt);
    const templateBytes = withCrc(zlib.deflateRawSync(encodeTemplateList(cut.list), { level: 9 }));
    fs.writevSync(fd, [templateBytes], offset);
    const templates = { offset, length: templateBytes.byteLength, raw: cut.raw };
    offset += templateBytes.byteLength;
    const pages: PageIndex[] = [];
    const levels = [0, 0, 0, 0];
    for (let p = 0; p < pageCount; p++) {
      interrupt?.();
      const page = encodeStreamPage(c, cuts[p]!, cuts[p + 1]!, bases, cut);
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
    const postingBytes = encodePostings(c, cuts, labelCount);
    fs.writevSync(fd, [postingBytes], offset);
    const postings = { offset, length: postingBytes.byteLength };
    offset += postingBytes.byteLength;
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
      templates,
      postings,
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
    templates: index.templates,
    postings: index.postings,
  });
}
