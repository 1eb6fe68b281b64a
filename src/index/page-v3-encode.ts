import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import { FRAME_FIXED_BYTES_V4, FRAME_ROWS, HEAD_COLUMNS, HeadColumn, RUN_FIELDS, type PageIndex } from './block-format.js';
import { packColumns } from './packed.js';
import { withCrc } from './block-io.js';
import type { SealColumns } from './columns.js';
import { ByteSink, RAW, TemplateWriter } from './templates.js';
import { toPlanes } from './byte-planes.js';

const WARN = 2;

// Writes version 4 pages; the layout is described, and read, in page-v3.ts.

const NUMERIC = { level: 6 } as const; // the run table: measured 2.36 -> 2.20 B/entry against level 1 at 10,000 servers
const FRAMES = { level: 6 } as const;

/** The rows of one page to encode: indexes [from, to) of sorted seal columns. */
export type PageRows = Omit<SealColumns, 'count' | 'sources'>;

/** A block's messages cut into templates and variables (templates.ts), per seal row. */
export interface CutMessages {
  /** Template id per row (RAW: the message is kept whole). */
  readonly ids: Uint32Array;
  /** Row i's variables: vars[varOffsets[i] .. varOffsets[i + 1]), each ending with VAR_END. */
  readonly vars: Uint8Array;
  readonly varOffsets: Uint32Array;
  readonly list: readonly Uint8Array[];
  /** Whether some row is RAW. */
  readonly raw: boolean;
}

export function cutMessages(c: Pick<SealColumns, 'count' | 'msgBytes' | 'msgOffsets'>, interrupt?: () => void): CutMessages {
  const writer = new TemplateWriter();
  const sink = new ByteSink();
  const ids = new Uint32Array(c.count);
  const varOffsets = new Uint32Array(c.count + 1);
  let raw = false;
  for (let i = 0; i < c.count; i++) {
    if ((i & 0xffff) === 0) interrupt?.();
    const id = writer.add(c.msgBytes.subarray(c.msgOffsets[i]!, c.msgOffsets[i + 1]!), sink);
    ids[i] = id;
    if (id === RAW) raw = true;
    varOffsets[i + 1] = sink.length;
  }
  return { ids, vars: sink.bytes.subarray(0, sink.length), varOffsets, list: writer.list, raw };
}

/** Encodes rows [from, to) (in (ts, source, seq) order) as one page; `bases[k]` is source k's smallest seq in the block. */
export function encodeStreamPage(
  c: PageRows,
  from: number,
  to: number,
  bases: Float64Array,
  cut: CutMessages,
): { bytes: Uint8Array; index: Omit<PageIndex, 'offset' | 'length'> } {
  const n = to - from;
  const { service: sv, server: sr, region: rg, labels: ls } = c;
  const order = new Uint32Array(n);
  for (let j = 0; j < n; j++) order[j] = from + j;
  // Level segment, then stream; rows of one run keep their (ts, source, seq) order (the index
  // breaks ties). WARN and ERROR rows (a few percent) each get a segment of their own, so they
  // sit in a few frames, not one in every frame; DEBUG and INFO share one, so a stream's
  // everyday rows stay one run.
  const lv = c.level;
  const seg = (i: number) => (lv[i]! < WARN ? 0 : lv[i]!);
  order.sort((a, b) => seg(a) - seg(b) || sv[a]! - sv[b]! || rg[a]! - rg[b]! || sr[a]! - sr[b]! || ls[a]! - ls[b]! || a - b);
  const minTs = c.ts[from]!;
  const levels: [number, number, number, number] = [0, 0, 0, 0];
  const runs: number[] = [];
  // Per row (in page order): whether it starts a run (its timestamp is then stored from the page's minTs).
  const starts = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    const i = order[j]!;
    const p = j > 0 ? order[j - 1]! : -1;
    const newRun = p < 0 || seg(i) !== seg(p) || sv[i] !== sv[p] || rg[i] !== rg[p] || sr[i] !== sr[p] || ls[i] !== ls[p];
    if (newRun) {
      if (j > 0) runs.push(j);
      runs.push(sv[i]!, sr[i]!, rg[i]!, ls[i]!, 0);
      starts[j] = 1;
    }
    runs[runs.length - 1] |= 1 << lv[i]!; // the run's level mask
    levels[lv[i] as 0 | 1 | 2 | 3]++;
  }
  runs.push(n);
  const head: Uint8Array[] = new Array(HEAD_COLUMNS);
  head[HeadColumn.RUNS] = zlib.deflateRawSync(packRuns(runs), NUMERIC);
  const frames: Uint8Array[] = [];
  for (let j = 0; j < n; j += FRAME_ROWS) frames.push(encodeFrame(c, cut, order, starts, minTs, bases, j, Math.min(n, j + FRAME_ROWS)));

  const fixed = 12 + 4 * HEAD_COLUMNS;
  let headBytes = fixed + 4 * (frames.length + 1) + 4;
  for (const col of head) headBytes += col.byteLength;
  let size = headBytes;
  for (const f of frames) size += f.byteLength;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, n, true);
  v.setUint32(4, runs.length / RUN_FIELDS, true);
  v.setUint32(8, frames.length, true);
  let off = fixed;
  head.forEach((col, k) => {
    v.setUint32(12 + 4 * k, col.byteLength, true);
    out.set(col, off);
    off += col.byteLength;
  });
  let frameAt = headBytes;
  for (let k = 0; k <= frames.length; k++) {
    v.setUint32(off, frameAt, true);
    off += 4;
    if (k < frames.length) frameAt += frames[k]!.byteLength;
  }
  v.setUint32(off, crc32(out.subarray(0, off)), true);
  let at = headBytes;
  for (const f of frames) {
    out.set(f, at);
    at += f.byteLength;
  }
  return { bytes: out, index: { head: headBytes, count: n, minTs, maxTs: c.ts[to - 1]!, levels } };
}

/** The run table as stored: packed column by column, label set + 1 (so none is 0), ends as row counts. */
function packRuns(runs: readonly number[]): Uint8Array {
  const n = runs.length / RUN_FIELDS;
  const cols = Array.from({ length: RUN_FIELDS }, () => new Uint32Array(n));
  for (let k = 0; k < n; k++) {
    const at = k * RUN_FIELDS;
    for (let f = 0; f < RUN_FIELDS - 1; f++) cols[f]![k] = runs[at + f]!;
    cols[3]![k] = (runs[at + 3]! + 1) >>> 0;
    cols[RUN_FIELDS - 1]![k] = runs[at + RUN_FIELDS - 1]! - (k > 0 ? runs[at - 1]! : 0);
  }
  return packColumns(cols, n);
}

/**
 * One frame: rows [from, to) of the page (`order` maps page rows to seal rows).
 *
 *   u32 n, u32 variable bytes, i64 x n timestamps (minus the previous row's when it is of
 *   the same run and frame, else minus the page's minTs), u32 x n seq (minus the source's
 *   base), u32 x n source, u32 x n template id, u32 x n raw message lengths (0 unless RAW),
 *   u32 x n metadata lengths, u8 x n level, the variables, the raw messages, the metadata;
 *   the timestamps, and the five u32 columns together, stored as byte planes (byte-planes.ts)
 */
function encodeFrame(
  c: PageRows,
  cut: CutMessages,
  order: Uint32Array,
  starts: Uint8Array,
  minTs: bigint,
  bases: Float64Array,
  from: number,
  to: number,
): Uint8Array {
  const k = to - from;
  let vars = 0;
  let raws = 0;
  let meta = 0;
  for (let j = from; j < to; j++) {
    const i = order[j]!;
    vars += cut.varOffsets[i + 1]! - cut.varOffsets[i]!;
    if (cut.ids[i] === RAW) raws += c.msgOffsets[i + 1]! - c.msgOffsets[i]!;
    meta += c.metaOffsets[i + 1]! - c.metaOffsets[i]!;
  }
  const fixed = FRAME_FIXED_BYTES_V4 * k;
  const raw = new Uint8Array(8 + fixed + vars + raws + meta);
  const v = new DataView(raw.buffer);
  v.setUint32(0, k, true);
  v.setUint32(4, vars, true);
  const ts = new BigInt64Array(raw.buffer, 8, k);
  const cols = new Uint32Array(raw.buffer, 8 + 8 * k, 5 * k); // seq, source, template, raw and metadata lengths
  const level = raw.subarray(8 + 28 * k, 8 + 29 * k);
  let at = 8 + fixed;
  let rawAt = at + vars;
  let metaAt = rawAt + raws;
  for (let j = from; j < to; j++) {
    const i = order[j]!;
    const r = j - from;
    ts[r] = c.ts[i]! - (r === 0 || starts[j] === 1 ? minTs : c.ts[order[j - 1]!]!);
    cols[r] = c.seq[i]! - bases[c.source[i]!]!;
    cols[k + r] = c.source[i]!;
    cols[2 * k + r] = cut.ids[i]!;
    level[r] = c.level[i]!;
    raw.set(cut.vars.subarray(cut.varOffsets[i]!, cut.varOffsets[i + 1]!), at);
    at += cut.varOffsets[i + 1]! - cut.varOffsets[i]!;
    if (cut.ids[i] === RAW) {
      const bytes = c.msgBytes.subarray(c.msgOffsets[i]!, c.msgOffsets[i + 1]!);
      cols[3 * k + r] = bytes.byteLength;
      raw.set(bytes, rawAt);
      rawAt += bytes.byteLength;
    }
    const m = c.metaBytes.subarray(c.metaOffsets[i]!, c.metaOffsets[i + 1]!);
    cols[4 * k + r] = m.byteLength;
    raw.set(m, metaAt);
    metaAt += m.byteLength;
  }
  raw.set(toPlanes(raw.subarray(8, 8 + 8 * k), 8), 8);
  raw.set(toPlanes(raw.subarray(8 + 8 * k, 8 + 28 * k), 4), 8 + 8 * k);
  return withCrc(zlib.deflateRawSync(raw, FRAMES));
}
