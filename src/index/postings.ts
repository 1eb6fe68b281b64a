import zlib from 'node:zlib';
import { NO_SET, type BlockIndex } from './block-format.js';
import { checkedBody, corrupt, readRange, withCrc } from './block-io.js';
import type { SealColumns } from './columns.js';
import type { StorageFs } from './fs.js';

/**
 * A block's postings from label ids to its pages (blocks v4): per page, a
 * bitset over the shard's label ids with a bit set for every service,
 * server, region and label set one of its rows has (one bitset for the four:
 * a value shared by two of them only costs a false maybe). A query on a
 * stream skips the pages whose bitset lacks every id it wants, without
 * reading their heads.
 *
 * Section: u32 pages, u32 bytes per page, the bitsets end to end, deflated,
 * then u32 CRC-32. A bit per (label, page): at 10,000 servers most servers
 * are in most 10 s pages, and a bitset is the smallest way to say so.
 */
export function encodePostings(c: Pick<SealColumns, 'service' | 'server' | 'region' | 'labels'>, cuts: readonly number[], labelCount: number): Uint8Array {
  const pages = cuts.length - 1;
  const width = (labelCount + 7) >> 3;
  const raw = new Uint8Array(8 + pages * width);
  const v = new DataView(raw.buffer);
  v.setUint32(0, pages, true);
  v.setUint32(4, width, true);
  for (let p = 0; p < pages; p++) {
    const at = 8 + p * width;
    for (let i = cuts[p]!; i < cuts[p + 1]!; i++) {
      for (const id of [c.service[i]!, c.server[i]!, c.region[i]!]) raw[at + (id >> 3)]! |= 1 << (id & 7);
      const set = c.labels[i]!;
      if (set !== NO_SET) raw[at + (set >> 3)]! |= 1 << (set & 7);
    }
  }
  return withCrc(zlib.deflateRawSync(raw, { level: 6 }));
}

export class PagePostings {
  private constructor(
    private readonly bits: Uint8Array,
    private readonly width: number,
  ) {}

  static read(fs: StorageFs, index: BlockIndex): PagePostings | null {
    const s = index.postings;
    if (s === undefined) return null;
    const bad = (why: string) => corrupt(index.path, `postings ${why}`, { offset: s.offset });
    const bytes = readRange(fs, index.path, s.offset, s.length);
    if (bytes.byteLength !== s.length || s.length < 4) throw bad('are truncated');
    const z = checkedBody(bytes);
    if (z === null) throw bad('checksum mismatch');
    let raw: Uint8Array;
    try {
      raw = new Uint8Array(zlib.inflateRawSync(z));
    } catch (err) {
      throw bad(`do not decompress: ${(err as Error).message}`);
    }
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (raw.byteLength < 8 || v.getUint32(0, true) !== index.pages.length) throw bad('do not match the pages');
    const width = v.getUint32(4, true);
    if (raw.byteLength !== 8 + width * index.pages.length) throw bad('have the wrong size');
    return new PagePostings(raw.subarray(8), width);
  }

  get bytes(): number {
    return this.bits.byteLength;
  }

  /** Whether page p has a row with one of `ids` (an id past the block's labels: no). */
  hasAny(p: number, ids: readonly number[]): boolean {
    const at = p * this.width;
    for (const id of ids) if (id >> 3 < this.width && (this.bits[at + (id >> 3)]! & (1 << (id & 7))) !== 0) return true;
    return false;
  }
}
