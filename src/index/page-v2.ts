import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import { COLUMN_COUNT, Column, NO_SET, columnCount, pageHeaderBytes, type BlockIndex, type PageIndex } from './block-format.js';
import { corrupt, readRange } from './block-io.js';
import type { StorageFs } from './fs.js';
import type { Page, PageRowsSelected, PageSelection, StreamIds } from './page.js';

// Views over a decompressed column, made by module-level functions: no closure allocated per access.
const u8 = (b: ArrayBuffer, o: number, n: number) => new Uint8Array(b, o, n);
const u32 = (b: ArrayBuffer, o: number, n: number) => new Uint32Array(b, o, n);
const i64 = (b: ArrayBuffer, o: number, n: number) => new BigInt64Array(b, o, n);

/** First index with ts >= bound in a sorted column. */
export function lowerBound(ts: BigInt64Array, bound: bigint, lo = 0, hi = ts.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A page of a version 1 or 2 block: up to 8192 entries in (ts, source, seq)
 * order, read and checked (CRC) as a whole, each column decompressed the
 * first time it is asked for.
 */
export class ColumnPage implements Page {
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

  static read(fs: StorageFs, index: BlockIndex, pageNo: number): ColumnPage {
    const page = index.pages[pageNo]!;
    const bytes = readRange(fs, index.path, page.offset, page.length);
    if (bytes.byteLength !== page.length || bytes.byteLength < pageHeaderBytes(index.version) + 4)
      throw corrupt(index.path, `page ${pageNo} is truncated`, { page: pageNo });
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (crc32(bytes.subarray(0, bytes.byteLength - 4)) !== v.getUint32(bytes.byteLength - 4, true)) {
      throw corrupt(index.path, `page ${pageNo} checksum mismatch`, { page: pageNo, offset: page.offset });
    }
    const p = new ColumnPage(index, page, bytes);
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

  labelSets(): Uint32Array | null {
    return this.index.version >= 2 ? this.typed(Column.LABELS, u32, 4, this.count) : null;
  }

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

  source(): Uint32Array {
    return this.typed(Column.SOURCE, u32, 4, this.count);
  }

  levelOf(i: number): number {
    return this.level()[i]!;
  }

  stream(i: number): StreamIds {
    const sets = this.labelSets();
    return { service: this.service()[i]!, server: this.server()[i]!, region: this.region()[i]!, set: sets === null ? NO_SET : sets[i]! };
  }

  private relativeSeq(): Uint32Array {
    return this.typed(Column.SEQ, u32, 4, this.count);
  }

  get sources(): BlockIndex['sources'] {
    return this.index.sources;
  }

  seq(i: number): number {
    return this.index.sources[this.source()[i]!]!.base + this.relativeSeq()[i]!;
  }

  sourceId(i: number): string {
    return this.index.sources[this.source()[i]!]!.id;
  }

  get framesLoaded(): number {
    return this.msgBuffer === undefined ? 0 : 1;
  }

  private messageOffsets(): Uint32Array {
    return this.typed(Column.MSG_OFFSETS, u32, 4, this.count + 1);
  }

  /** The message bytes as one Buffer (made once per page: a Buffer per message was a measurable share of a scan). */
  private messageBuffer(): Buffer {
    if (this.msgBuffer === undefined) {
      const bytes = this.raw(Column.MSG_BYTES);
      if (bytes.byteLength !== this.messageOffsets()[this.count]) throw corrupt(this.index.path, 'message bytes do not match their offsets');
      this.msgBuffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return this.msgBuffer;
  }

  /** One look over the page's messages per set of needles (a version 1-2 page is one frame). */
  mayContain(_i: number, needles: readonly Uint8Array[]): boolean {
    if (this.verdict?.needles !== needles) this.verdict = { needles, ok: needles.every((b) => this.messageBuffer().indexOf(b) >= 0) };
    return this.verdict.ok;
  }

  private verdict: { needles: readonly Uint8Array[]; ok: boolean } | undefined;

  message(i: number): string {
    const off = this.messageOffsets();
    return this.messageBuffer().toString('utf8', off[i]!, off[i + 1]!);
  }

  messageBytes(i: number): Uint8Array {
    const off = this.messageOffsets();
    return this.messageBuffer().subarray(off[i]!, off[i + 1]!);
  }

  select(s: PageSelection): PageRowsSelected {
    const ts = this.ts();
    const lo = lowerBound(ts, s.from);
    const hi = lowerBound(ts, s.to, lo);
    const lv = this.level();
    const f = s.streams;
    // Only the columns a filter needs are decompressed.
    const sv = f.service !== null ? this.service() : null;
    const sr = f.server !== null ? this.server() : null;
    const rg = f.region !== null ? this.region() : null;
    const sets = f.set !== null ? this.labelSets() : null;
    const rows = new Uint32Array(hi - lo);
    let n = 0;
    for (let i = lo; i < hi; i++) {
      if ((s.levelMask & (1 << lv[i]!)) === 0) continue;
      if (sv !== null && f.service![sv[i]!] !== 1) continue;
      if (sr !== null && f.server![sr[i]!] !== 1) continue;
      if (rg !== null && f.region![rg[i]!] !== 1) continue;
      if (f.set !== null && !f.set.ok(sets === null ? NO_SET : sets[i]!)) continue;
      if (s.needles !== undefined && !this.mayContain(i, s.needles)) continue;
      rows[n++] = i;
    }
    const out = rows.subarray(0, n);
    if (s.backward) out.reverse();
    const at = new BigInt64Array(n);
    for (let j = 0; j < n; j++) at[j] = ts[out[j]!]!;
    return { rows: out, ts: at, examined: hi - lo };
  }
}
