import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import { FRAME_ROWS, FRAME_SHIFT, HEAD_COLUMNS, HeadColumn, RUN_FIELDS, type BlockIndex } from './block-format.js';
import { checkedBody, corrupt, readRange } from './block-io.js';
import type { BlockText } from './block-text.js';
import { decodeFrame, type FrameColumns } from './frame-decode.js';
import { MAYBE, NO } from './templates.js';
import type { StorageFs } from './fs.js';
import type { Page, PageRowsSelected, PageSelection, StreamIds } from './page.js';
import { unpackColumns } from './packed.js';

/**
 * A version 3 or 4 page: its rows ordered by level segment, stream, then (ts, source, seq).
 *
 *   head    u32 count, u32 runs, u32 frames, u32 x HEAD_COLUMNS compressed lengths,
 *           the head columns (raw deflate, HeadColumn: the run table), u32 x
 *           (frames + 1) frame offsets from the page's start, u32 CRC-32 of all of it
 *   frame*  FRAME_ROWS rows, raw-deflated (layout in page-v3-encode.ts: timestamps,
 *           seq, source, lengths, levels, then the messages as template ids and
 *           variables (v4), or whole against the block's dictionary (v3), then
 *           metadata); then u32 CRC-32
 *
 * Why this shape (measured in docs/ARCHITECTURE.md): a query on one stream
 * reads the head, finds its runs in the run table, and decompresses only the
 * frames its rows are in; at 10,000 servers, a server has a few rows per page,
 * so it reads a frame or two instead of the page's every timestamp and
 * message. Small frames compress poorly on their own; with the constant text
 * of messages in the block's templates, what is left is their variables.
 */

/** The in-memory run table (RUN_FIELDS per run, the last its end row) from its packed form; null if it does not parse. */
function unpackRuns(stored: Uint8Array, n: number): Uint32Array | null {
  const cols = unpackColumns(stored, RUN_FIELDS, n);
  if (cols === null) return null;
  const out = new Uint32Array(n * RUN_FIELDS);
  const [service, server, region, set, levels, rows] = cols as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let end = 0;
  for (let k = 0; k < n; k++) {
    const at = k * RUN_FIELDS;
    out[at] = service[k]!;
    out[at + 1] = server[k]!;
    out[at + 2] = region[k]!;
    out[at + 3] = (set[k]! - 1) >>> 0;
    out[at + 4] = levels[k]!;
    out[at + 5] = end += rows[k]!;
  }
  return out;
}

/** One decoded frame: rows [k * FRAME_ROWS, + n) of its page, its timestamps absolute. */
type Frame = FrameColumns;

const u32 = (b: Uint8Array, n: number): Uint32Array => {
  const a = b.byteOffset % 4 === 0 ? b : b.slice();
  return new Uint32Array(a.buffer, a.byteOffset, n);
};

/**
 * A version 3 page, read head first (the run table and the frame offsets);
 * each frame is read and decompressed the first time one of its rows is
 * asked for.
 */
export class StreamPage implements Page {
  readonly count: number;
  private readonly runTable: Uint32Array;
  private readonly frameOffsets: Uint32Array;
  private readonly cols: Uint8Array[];
  private readonly frames: (Frame | undefined)[];
  /** Per-row columns over the whole page, assembled from every frame (for callers that walk all rows). */
  private whole: { ts: BigInt64Array; level: Uint8Array; source: Uint32Array } | undefined;
  private perRow: (Uint32Array | undefined)[] = [];
  private frameVerdicts: { needles: readonly Uint8Array[] | null; frames: Map<number, boolean> } = { needles: null, frames: new Map() };
  /** Per needle, per template id: the verdicts of the block's templates (null for a v3 page: no templates). */
  private rowVerdicts: { needles: readonly Uint8Array[]; byTemplate: Uint8Array[] | null } | undefined;
  framesLoaded = 0;

  private constructor(
    private readonly fs: StorageFs,
    private readonly index: BlockIndex,
    private readonly pageNo: number,
    head: Uint8Array,
    private readonly text: () => BlockText,
    /** Told of every byte this page decodes and keeps (the page cache's accounting). */
    private readonly charge: (bytes: number) => void,
  ) {
    const page = index.pages[pageNo]!;
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    this.count = v.getUint32(0, true);
    const runs = v.getUint32(4, true);
    const frames = v.getUint32(8, true);
    const fixed = 12 + 4 * HEAD_COLUMNS;
    this.cols = [];
    let off = fixed;
    for (let k = 0; k < HEAD_COLUMNS; k++) {
      const len = v.getUint32(12 + 4 * k, true);
      this.cols.push(head.subarray(off, off + len));
      off += len;
    }
    if (this.count !== page.count || frames !== Math.ceil(this.count / FRAME_ROWS) || off + 4 * (frames + 1) + 4 !== head.byteLength)
      throw corrupt(index.path, `page ${pageNo} head framing is inconsistent`, { page: pageNo });
    this.frameOffsets = u32(head.subarray(off, off + 4 * (frames + 1)), frames + 1);
    if (this.frameOffsets[0] !== head.byteLength || this.frameOffsets[frames] !== page.length)
      throw corrupt(index.path, `page ${pageNo} frame table is inconsistent`, { page: pageNo });
    const runTable = unpackRuns(this.inflateColumn(HeadColumn.RUNS), runs);
    if (runTable === null || (runs > 0 && runTable[RUN_FIELDS * runs - 1] !== this.count))
      throw corrupt(index.path, `page ${pageNo} run table does not parse`, { page: pageNo });
    this.runTable = runTable;
    this.frames = new Array(frames);
    charge(head.byteLength + this.runTable.byteLength);
  }

  static read(fs: StorageFs, index: BlockIndex, pageNo: number, text: () => BlockText, charge: (bytes: number) => void = () => {}): StreamPage {
    const page = index.pages[pageNo]!;
    const headBytes = page.head!;
    const head = readRange(fs, index.path, page.offset, headBytes);
    if (head.byteLength !== headBytes || headBytes < 12 + 4 * HEAD_COLUMNS + 8) throw corrupt(index.path, `page ${pageNo} is truncated`, { page: pageNo });
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (crc32(head.subarray(0, headBytes - 4)) !== v.getUint32(headBytes - 4, true))
      throw corrupt(index.path, `page ${pageNo} head checksum mismatch`, { page: pageNo, offset: page.offset });
    return new StreamPage(fs, index, pageNo, head, text, charge);
  }

  /** A head column, inflated (8-byte aligned). */
  private inflateColumn(col: number): Uint8Array {
    let out: Uint8Array;
    try {
      out = zlib.inflateRawSync(this.cols[col]!);
    } catch (err) {
      throw corrupt(this.index.path, `page ${this.pageNo} column ${col} does not decompress: ${(err as Error).message}`, { page: this.pageNo });
    }
    // A copy of our own when misaligned (Buffer's slice would be a view at the same offset).
    if (out.byteOffset % 8 !== 0) out = Uint8Array.prototype.slice.call(out);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** The index of the run holding row i (binary search over the ends). */
  private runOf(i: number): number {
    const r = this.runTable;
    let lo = 0;
    let hi = r.length / RUN_FIELDS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid * RUN_FIELDS + RUN_FIELDS - 1]! <= i) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private frame(i: number): Frame {
    const k = i >>> FRAME_SHIFT;
    return this.frames[k] ?? this.loadFrame(k);
  }

  private loadFrame(k: number): Frame {
    const page = this.index.pages[this.pageNo]!;
    const at = this.frameOffsets[k]!;
    const len = this.frameOffsets[k + 1]! - at;
    const bytes = readRange(this.fs, this.index.path, page.offset + at, len);
    const ctx = { page: this.pageNo, frame: k };
    const bad = (why: string) => corrupt(this.index.path, `page ${this.pageNo} frame ${k} ${why}`, ctx);
    if (bytes.byteLength !== len || len < 4) throw bad('is truncated');
    const z = checkedBody(bytes);
    if (z === null) throw bad('checksum mismatch');
    const text = this.text();
    let raw: Buffer;
    try {
      raw = text.dictionary === null ? zlib.inflateRawSync(z) : zlib.inflateRawSync(z, { dictionary: text.dictionary });
    } catch (err) {
      throw bad(`does not decompress: ${(err as Error).message}`);
    }
    if (raw.byteOffset % 8 !== 0) {
      const own = Uint8Array.prototype.slice.call(raw);
      raw = Buffer.from(own.buffer, 0, own.byteLength);
    }
    const first = k << FRAME_SHIFT;
    const n = Math.min(FRAME_ROWS, this.count - first);
    const f = decodeFrame(raw, n, text.templates === null ? null : () => this.text().templates!);
    if (typeof f === 'string') throw bad(f);
    const ts = f.ts;
    // Timestamps: each from the previous row's when both are of one run, else from the page's minTs.
    const r = this.runTable;
    let run = this.runOf(first);
    let runEnd = r[run * RUN_FIELDS + RUN_FIELDS - 1]!;
    const min = page.minTs;
    for (let j = 0; j < n; j++) {
      const row = first + j;
      while (row >= runEnd) runEnd = r[++run * RUN_FIELDS + RUN_FIELDS - 1]!;
      const startsRun = j === 0 || row === (run > 0 ? r[(run - 1) * RUN_FIELDS + RUN_FIELDS - 1]! : 0);
      ts[j] = ts[j]! + (startsRun ? min : ts[j - 1]!);
    }
    this.frames[k] = f;
    this.framesLoaded++;
    this.charge(raw.byteLength + f.metaOffsets.byteLength + f.text.byteLength);
    return f;
  }

  /** Every frame decoded, its per-row columns laid end to end. */
  private wholePage(): { ts: BigInt64Array; level: Uint8Array; source: Uint32Array } {
    if (this.whole === undefined) {
      const ts = new BigInt64Array(this.count);
      const level = new Uint8Array(this.count);
      const source = new Uint32Array(this.count);
      for (let first = 0; first < this.count; first += FRAME_ROWS) {
        const f = this.frame(first);
        ts.set(f.ts, first);
        level.set(f.level, first);
        source.set(f.source, first);
      }
      this.whole = { ts, level, source };
      this.charge(13 * this.count);
    }
    return this.whole;
  }

  ts(): BigInt64Array {
    return this.wholePage().ts;
  }

  level(): Uint8Array {
    return this.wholePage().level;
  }

  source(): Uint32Array {
    return this.wholePage().source;
  }

  /** Row i's timestamp (decodes its frame). */
  tsOf(i: number): bigint {
    return this.frame(i).ts[i & (FRAME_ROWS - 1)]!;
  }

  levelOf(i: number): number {
    return this.frame(i).level[i & (FRAME_ROWS - 1)]!;
  }

  stream(i: number): StreamIds {
    const k = this.runOf(i) * RUN_FIELDS;
    const r = this.runTable;
    return { service: r[k]!, server: r[k + 1]!, region: r[k + 2]!, set: r[k + 3]! };
  }

  /** A run field expanded to one value per row (for callers that walk rows: counts, compaction). */
  private expand(field: number): Uint32Array {
    let a = this.perRow[field];
    if (a === undefined) {
      a = new Uint32Array(this.count);
      const r = this.runTable;
      let start = 0;
      for (let k = 0; k < r.length; k += RUN_FIELDS) {
        const end = r[k + RUN_FIELDS - 1]!;
        a.fill(r[k + field]!, start, end);
        start = end;
      }
      this.perRow[field] = a;
      this.charge(a.byteLength);
    }
    return a;
  }

  service(): Uint32Array {
    return this.expand(0);
  }

  server(): Uint32Array {
    return this.expand(1);
  }

  region(): Uint32Array {
    return this.expand(2);
  }

  labelSets(): Uint32Array {
    return this.expand(3);
  }

  get sources(): BlockIndex['sources'] {
    return this.index.sources;
  }

  private sourceOf(i: number): number {
    return this.frame(i).source[i & (FRAME_ROWS - 1)]!;
  }

  seq(i: number): number {
    return this.index.sources[this.sourceOf(i)]!.base + this.frame(i).seq[i & (FRAME_ROWS - 1)]!;
  }

  sourceId(i: number): string {
    return this.index.sources[this.sourceOf(i)]!.id;
  }

  /**
   * Whether row i's message can hold every needle, decided without
   * rendering it where the block's templates can say (v4), else by one look
   * over its frame's bytes per needle (v3), kept while the needles stay the same.
   */
  mayContain(i: number, needles: readonly Uint8Array[]): boolean {
    const f = this.frame(i);
    if (this.rowVerdicts?.needles !== needles) {
      const { templates } = this.text();
      this.rowVerdicts = { needles, byTemplate: templates === null ? null : needles.map((b) => templates.verdict(b)) };
    }
    const byTemplate = this.rowVerdicts.byTemplate;
    if (byTemplate !== null) {
      const j = i & (FRAME_ROWS - 1);
      const id = f.text.template(j);
      for (let k = 0; k < needles.length; k++) {
        const v = byTemplate[k]![id]!;
        if (v === NO || (v === MAYBE && f.text.contains(j, needles[k]!) === NO)) return false;
      }
      return true;
    }
    if (this.frameVerdicts.needles !== needles) this.frameVerdicts = { needles, frames: new Map() };
    const k = i >>> FRAME_SHIFT;
    let ok = this.frameVerdicts.frames.get(k);
    if (ok === undefined) this.frameVerdicts.frames.set(k, (ok = needles.every((b) => f.text.anyMayContain(b))));
    return ok;
  }

  message(i: number): string {
    return this.frame(i).text.message(i & (FRAME_ROWS - 1));
  }

  messageBytes(i: number): Uint8Array {
    return this.frame(i).text.bytes(i & (FRAME_ROWS - 1));
  }

  meta(i: number): string {
    const f = this.frame(i);
    const j = i & (FRAME_ROWS - 1);
    return f.metaOffsets[j] === f.metaOffsets[j + 1] ? '' : f.meta.toString('utf8', f.metaOffsets[j]!, f.metaOffsets[j + 1]!);
  }

  /**
   * Rows of the runs whose streams and levels pass, then (reading their
   * frames) those in the time range and of the levels asked for, in (ts,
   * source, seq) order, with their timestamps. Only the frames of candidate
   * rows are read, which a query reads for their messages anyway; a page
   * wholly inside the range skips the per-row time check.
   */
  select(s: PageSelection): PageRowsSelected {
    const r = this.runTable;
    const f = s.streams;
    const needles = s.needles;
    const page = this.index.pages[this.pageNo]!;
    const inside = page.minTs >= s.from && page.maxTs < s.to;
    let rows = new Uint32Array(64);
    let n = 0;
    let examined = 0;
    let runsHit = 0;
    let start = 0;
    for (let k = 0; k < r.length; k += RUN_FIELDS) {
      const end = r[k + RUN_FIELDS - 1]!;
      const from = start;
      start = end;
      if (f.service !== null && f.service[r[k]!] !== 1) continue;
      if (f.server !== null && f.server[r[k + 1]!] !== 1) continue;
      if (f.region !== null && f.region[r[k + 2]!] !== 1) continue;
      if (f.set !== null && !f.set.ok(r[k + 3]!)) continue;
      const levels = r[k + 4]!;
      if ((s.levelMask & levels) === 0) continue;
      runsHit++;
      examined += end - from;
      if (n + (end - from) > rows.length) {
        const grown = new Uint32Array(Math.max(rows.length * 2, n + (end - from)));
        grown.set(rows.subarray(0, n));
        rows = grown;
      }
      const everyLevel = (levels & ~s.levelMask) === 0;
      for (let i = from; i < end; i++) {
        if (!everyLevel && (s.levelMask & (1 << this.levelOf(i))) === 0) continue;
        if (!inside) {
          const t = this.tsOf(i);
          if (t < s.from || t >= s.to) continue;
        }
        if (needles !== undefined && !this.mayContain(i, needles)) continue;
        rows[n++] = i;
      }
    }
    const out = rows.subarray(0, n);
    if (runsHit > 1) this.sortByPosition(out);
    if (s.backward) out.reverse();
    const at = new BigInt64Array(n);
    for (let j = 0; j < n; j++) at[j] = this.tsOf(out[j]!);
    return { rows: out, ts: at, examined };
  }

  /**
   * Sorts rows by (ts, source, seq). Keys pack the timestamp's offset in the
   * page with the row into one double where they fit (a page spanning under
   * 2^37 ns, about 137 s, with rows < 2^16), so the sort is the engine's
   * numeric one rather than a comparator; ties on ts are then put in (source,
   * seq) order.
   */
  private sortByPosition(rows: Uint32Array): void {
    const page = this.index.pages[this.pageNo]!;
    const min = page.minTs;
    if (page.maxTs - min < 1n << 37n && this.count <= 1 << 16) {
      const keys = new Float64Array(rows.length);
      for (let j = 0; j < rows.length; j++) keys[j] = Number(this.tsOf(rows[j]!) - min) * 65536 + rows[j]!;
      keys.sort();
      let tie = false;
      for (let j = 0; j < rows.length; j++) {
        rows[j] = keys[j]! % 65536;
        if (j > 0 && Math.floor(keys[j]! / 65536) === Math.floor(keys[j - 1]! / 65536)) tie = true;
      }
      if (!tie) return;
    }
    const sorted = Array.from(rows).sort((a, b) => {
      const ta = this.tsOf(a);
      const tb = this.tsOf(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      return this.sourceOf(a) - this.sourceOf(b) || this.seq(a) - this.seq(b);
    });
    rows.set(sorted);
  }
}
