import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import { FRAME_ROWS, FRAME_SHIFT, HEAD_COLUMNS, HeadColumn, RUN_FIELDS, type BlockIndex } from './block-format.js';
import { corrupt, readRange } from './block-io.js';
import type { StorageFs } from './fs.js';
import { lowerBound } from './page-v2.js';
import type { IdColumn, Page, PageRowsSelected, PageSelection, StreamIds } from './page.js';
import { unpackColumns } from './packed.js';

/**
 * A version 3 page: its rows ordered by level segment, stream, then (ts, source, seq).
 *
 *   head    u32 count, u32 runs, u32 frames, u32 x HEAD_COLUMNS compressed lengths,
 *           the head columns (raw deflate, HeadColumn), u32 x (frames + 1) frame
 *           offsets from the page's start, u32 CRC-32 of all of it
 *   frame*  FRAME_ROWS rows' messages and metadata, raw-deflated against the
 *           block's dictionary: u32 n, u32 x n message lengths, u32 x n metadata
 *           lengths, the message bytes, the metadata bytes; then u32 CRC-32
 *
 * Why this shape (measured in docs/ARCHITECTURE.md): a query on one stream
 * reads the head, finds its run in the run table, and decompresses only the
 * frames its rows are in; at 10,000 servers, a server has a few rows per page,
 * so it reads a frame or two instead of every message of the page. Small
 * frames compress poorly on their own; against a dictionary sampled from the
 * block's own messages, deflate gets most of it back.
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

interface RowColumns {
  readonly seq: IdColumn;
  readonly source: IdColumn;
  readonly level: Uint8Array;
}

/** One decoded frame: rows [first, first + n) of its page. */
interface Frame {
  readonly msgOffsets: Uint32Array;
  readonly msg: Buffer;
  readonly metaOffsets: Uint32Array;
  readonly meta: Buffer;
}

const u32 = (b: Uint8Array, n: number): Uint32Array => {
  const a = b.byteOffset % 4 === 0 ? b : b.slice();
  return new Uint32Array(a.buffer, a.byteOffset, n);
};

/**
 * A version 3 page, read head first: the run table, timestamps, levels,
 * sources and sequence numbers; each frame of messages is read and
 * decompressed the first time one of its rows is asked for.
 */
export class StreamPage implements Page {
  readonly count: number;
  private readonly runTable: Uint32Array;
  private readonly frameOffsets: Uint32Array;
  private readonly cols: Uint8Array[];
  private readonly frames: (Frame | undefined)[];
  /** Timestamps: deltas as stored until a run is decoded in place (runDone[k] = 1). */
  private tsCol: BigInt64Array | undefined;
  private runDone: Uint8Array;
  private runsLeft: number;
  private row: RowColumns | undefined;
  private perRow: (Uint32Array | undefined)[] = [];
  framesLoaded = 0;

  private constructor(
    private readonly fs: StorageFs,
    private readonly index: BlockIndex,
    private readonly pageNo: number,
    head: Uint8Array,
    private readonly dictionary: () => Uint8Array,
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
    if (runTable === null) throw corrupt(index.path, `page ${pageNo} run table does not parse`, { page: pageNo });
    this.runTable = runTable;
    if (runs > 0 && this.runTable[RUN_FIELDS * runs - 1] !== this.count)
      throw corrupt(index.path, `page ${pageNo} run table is inconsistent`, { page: pageNo });
    this.frames = new Array(frames);
    this.runDone = new Uint8Array(runs);
    this.runsLeft = runs;
    charge(head.byteLength + this.runTable.byteLength + runs);
  }

  static read(fs: StorageFs, index: BlockIndex, pageNo: number, dictionary: () => Uint8Array, charge: (bytes: number) => void = () => {}): StreamPage {
    const page = index.pages[pageNo]!;
    const headBytes = page.head!;
    const head = readRange(fs, index.path, page.offset, headBytes);
    if (head.byteLength !== headBytes || headBytes < 12 + 4 * HEAD_COLUMNS + 8) throw corrupt(index.path, `page ${pageNo} is truncated`, { page: pageNo });
    const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (crc32(head.subarray(0, headBytes - 4)) !== v.getUint32(headBytes - 4, true))
      throw corrupt(index.path, `page ${pageNo} head checksum mismatch`, { page: pageNo, offset: page.offset });
    return new StreamPage(fs, index, pageNo, head, dictionary, charge);
  }

  /** A head column, inflated (4-byte aligned) and charged to the cache. */
  private inflateColumn(col: number): Uint8Array {
    let out: Uint8Array;
    try {
      out = zlib.inflateRawSync(this.cols[col]!);
    } catch (err) {
      throw corrupt(this.index.path, `page ${this.pageNo} column ${col} does not decompress: ${(err as Error).message}`, { page: this.pageNo });
    }
    if (out.byteOffset % 8 !== 0) out = out.slice();
    this.charge(out.byteLength);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** The packed per-row columns: seq, source, level. */
  private rowColumns(): RowColumns {
    if (this.row === undefined) {
      const cols = unpackColumns(this.inflateColumn(HeadColumn.ROW), 3, this.count);
      if (cols === null || !(cols[2] instanceof Uint8Array))
        throw corrupt(this.index.path, `page ${this.pageNo} row columns do not parse`, { page: this.pageNo });
      this.row = { seq: cols[0]!, source: cols[1]!, level: cols[2] };
    }
    return this.row;
  }

  /** The run table: RUN_FIELDS numbers per run (service, server, region, set, level mask, end row). */
  runs(): Uint32Array {
    return this.runTable;
  }

  private tsDeltas(): BigInt64Array {
    if (this.tsCol === undefined) {
      const b = this.inflateColumn(HeadColumn.TS);
      if (b.byteLength !== 8 * this.count)
        throw corrupt(this.index.path, `page ${this.pageNo} timestamps have ${b.byteLength} bytes, expected ${8 * this.count}`);
      this.tsCol = new BigInt64Array(b.buffer, b.byteOffset, this.count);
    }
    return this.tsCol;
  }

  /** Turns run k's deltas into timestamps, in place (runs are independent: each starts from the page's minTs). */
  private decodeRun(k: number, start: number, end: number): void {
    if (this.runDone[k] === 1) return;
    const d = this.tsDeltas();
    let prev = this.index.pages[this.pageNo]!.minTs;
    for (let i = start; i < end; i++) prev = d[i] = d[i]! + prev;
    this.runDone[k] = 1;
    this.runsLeft--;
  }

  ts(): BigInt64Array {
    const d = this.tsDeltas();
    if (this.runsLeft > 0) {
      const r = this.runTable;
      let start = 0;
      for (let k = 0; k < this.runDone.length; k++) {
        const end = r[k * RUN_FIELDS + RUN_FIELDS - 1]!;
        this.decodeRun(k, start, end);
        start = end;
      }
    }
    return d;
  }

  level(): Uint8Array {
    return this.rowColumns().level;
  }

  source(): IdColumn {
    return this.rowColumns().source;
  }

  private relativeSeq(): IdColumn {
    return this.rowColumns().seq;
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
    }
    return a;
  }

  stream(i: number): StreamIds {
    // The run holding row i: the first whose end is past it (binary search over the ends).
    const r = this.runTable;
    let lo = 0;
    let hi = r.length / RUN_FIELDS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid * RUN_FIELDS + RUN_FIELDS - 1]! <= i) lo = mid + 1;
      else hi = mid;
    }
    const k = lo * RUN_FIELDS;
    return { service: r[k]!, server: r[k + 1]!, region: r[k + 2]!, set: r[k + 3]! };
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

  seq(i: number): number {
    return this.index.sources[this.source()[i]!]!.base + this.relativeSeq()[i]!;
  }

  sourceId(i: number): string {
    return this.index.sources[this.source()[i]!]!.id;
  }

  private frame(i: number): Frame {
    const k = i >>> FRAME_SHIFT;
    let f = this.frames[k];
    if (f === undefined) {
      const page = this.index.pages[this.pageNo]!;
      const at = this.frameOffsets[k]!;
      const len = this.frameOffsets[k + 1]! - at;
      const bytes = readRange(this.fs, this.index.path, page.offset + at, len);
      const ctx = { page: this.pageNo, frame: k };
      if (bytes.byteLength !== len || len < 4) throw corrupt(this.index.path, `page ${this.pageNo} frame ${k} is truncated`, ctx);
      const z = bytes.subarray(0, len - 4);
      if (crc32(z) !== new DataView(bytes.buffer, bytes.byteOffset + len - 4, 4).getUint32(0, true))
        throw corrupt(this.index.path, `page ${this.pageNo} frame ${k} checksum mismatch`, ctx);
      let raw: Buffer;
      try {
        raw = zlib.inflateRawSync(z, { dictionary: this.dictionary() });
      } catch (err) {
        throw corrupt(this.index.path, `page ${this.pageNo} frame ${k} does not decompress: ${(err as Error).message}`, ctx);
      }
      const n = Math.min(FRAME_ROWS, this.count - (k << FRAME_SHIFT));
      if (raw.byteLength < 4 + 8 * n || raw.readUInt32LE(0) !== n) throw corrupt(this.index.path, `page ${this.pageNo} frame ${k} is inconsistent`, ctx);
      const msgOffsets = new Uint32Array(n + 1);
      const metaOffsets = new Uint32Array(n + 1);
      for (let j = 0; j < n; j++) msgOffsets[j + 1] = msgOffsets[j]! + raw.readUInt32LE(4 + 4 * j);
      for (let j = 0; j < n; j++) metaOffsets[j + 1] = metaOffsets[j]! + raw.readUInt32LE(4 + 4 * n + 4 * j);
      const msgAt = 4 + 8 * n;
      const metaAt = msgAt + msgOffsets[n]!;
      if (metaAt + metaOffsets[n]! !== raw.byteLength) throw corrupt(this.index.path, `page ${this.pageNo} frame ${k} lengths do not add up`, ctx);
      f = { msgOffsets, msg: raw.subarray(msgAt, metaAt), metaOffsets, meta: raw.subarray(metaAt) };
      this.frames[k] = f;
      this.framesLoaded++;
      this.charge(raw.byteLength + msgOffsets.byteLength + metaOffsets.byteLength);
    }
    return f;
  }

  message(i: number): string {
    const f = this.frame(i);
    const j = i & (FRAME_ROWS - 1);
    return f.msg.toString('utf8', f.msgOffsets[j]!, f.msgOffsets[j + 1]!);
  }

  messageBytes(i: number): Uint8Array {
    const f = this.frame(i);
    const j = i & (FRAME_ROWS - 1);
    return f.msg.subarray(f.msgOffsets[j]!, f.msgOffsets[j + 1]!);
  }

  meta(i: number): string {
    const f = this.frame(i);
    const j = i & (FRAME_ROWS - 1);
    return f.metaOffsets[j] === f.metaOffsets[j + 1] ? '' : f.meta.toString('utf8', f.metaOffsets[j]!, f.metaOffsets[j + 1]!);
  }

  select(s: PageSelection): PageRowsSelected {
    const r = this.runTable;
    const f = s.streams;
    let ts: BigInt64Array | undefined;
    let run = -1;
    let rows = new Uint32Array(64);
    let n = 0;
    let examined = 0;
    let runsHit = 0;
    let start = 0;
    for (let k = 0; k < r.length; k += RUN_FIELDS) {
      const end = r[k + RUN_FIELDS - 1]!;
      const from = start;
      start = end;
      run++;
      if (f.service !== null && f.service[r[k]!] !== 1) continue;
      if (f.server !== null && f.server[r[k + 1]!] !== 1) continue;
      if (f.region !== null && f.region[r[k + 2]!] !== 1) continue;
      if (f.set !== null && !f.set.ok(r[k + 3]!)) continue;
      const levels = r[k + 4]!;
      if ((s.levelMask & levels) === 0) continue;
      ts ??= this.tsDeltas();
      this.decodeRun(run, from, end);
      const lo = lowerBound(ts, s.from, from, end);
      const hi = lowerBound(ts, s.to, lo, end);
      if (hi === lo) continue;
      examined += hi - lo;
      runsHit++;
      if (n + (hi - lo) > rows.length) {
        const grown = new Uint32Array(Math.max(rows.length * 2, n + (hi - lo)));
        grown.set(rows.subarray(0, n));
        rows = grown;
      }
      if ((levels & ~s.levelMask) === 0) for (let i = lo; i < hi; i++) rows[n++] = i;
      else {
        const lv = this.level();
        for (let i = lo; i < hi; i++) if ((s.levelMask & (1 << lv[i]!)) !== 0) rows[n++] = i;
      }
    }
    const out = rows.subarray(0, n);
    if (runsHit > 1) this.sortByPosition(out);
    if (s.backward) out.reverse();
    const at = new BigInt64Array(n);
    for (let j = 0; j < n; j++) at[j] = ts![out[j]!]!;
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
    const ts = this.tsDeltas(); // every selected row's run is decoded
    const page = this.index.pages[this.pageNo]!;
    const min = page.minTs;
    if (page.maxTs - min < 1n << 37n && this.count <= 1 << 16) {
      const keys = new Float64Array(rows.length);
      for (let j = 0; j < rows.length; j++) keys[j] = Number(ts[rows[j]!]! - min) * 65536 + rows[j]!;
      keys.sort();
      let tie = false;
      for (let j = 0; j < rows.length; j++) {
        rows[j] = keys[j]! % 65536;
        if (j > 0 && ts[rows[j]!] === ts[rows[j - 1]!]) tie = true;
      }
      if (!tie) return;
    }
    const src = this.source();
    const seq = this.relativeSeq();
    const bases = this.index.sources;
    const sorted = Array.from(rows).sort((a, b) => {
      const ta = ts[a]!;
      const tb = ts[b]!;
      if (ta !== tb) return ta < tb ? -1 : 1;
      return src[a]! - src[b]! || bases[src[a]!]!.base + seq[a]! - (bases[src[b]!]!.base + seq[b]!);
    });
    rows.set(sorted);
  }
}
