import zlib from 'node:zlib';
import { crc32 } from '../batch/crc32.js';
import { FRAME_FIXED_BYTES, FRAME_ROWS, HEAD_COLUMNS, HeadColumn, RUN_FIELDS, type PageIndex } from './block-format.js';
import { packColumns } from './packed.js';
import { withCrc } from './block-io.js';
import type { SealColumns } from './columns.js';

const WARN = 2;

// Writes version 3 pages; the layout is described, and read, in page-v3.ts.

const NUMERIC = { level: 1 } as const;
const FRAMES = { level: 6 } as const;

/** The rows of one page to encode: indexes [from, to) of sorted seal columns. */
export type PageRows = Omit<SealColumns, 'count' | 'sources'>;

/** Encodes rows [from, to) (in (ts, source, seq) order) as one page; `bases[k]` is source k's smallest seq in the block. */
export function encodeStreamPage(
  c: PageRows,
  from: number,
  to: number,
  bases: Float64Array,
  dictionary: Uint8Array,
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
  for (let j = 0; j < n; j += FRAME_ROWS) frames.push(encodeFrame(c, order, starts, minTs, bases, j, Math.min(n, j + FRAME_ROWS), dictionary));

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
 *   u32 n, u32 0, i64 x n timestamps (minus the previous row's when it is of the same run
 *   and frame, else minus the page's minTs), u32 x n seq (minus the source's base), u32 x n
 *   source, u32 x n message lengths, u32 x n metadata lengths, u8 x n level, the messages,
 *   the metadata
 */
function encodeFrame(
  c: PageRows,
  order: Uint32Array,
  starts: Uint8Array,
  minTs: bigint,
  bases: Float64Array,
  from: number,
  to: number,
  dictionary: Uint8Array,
): Uint8Array {
  const k = to - from;
  let msg = 0;
  let meta = 0;
  for (let j = from; j < to; j++) {
    const i = order[j]!;
    msg += c.msgOffsets[i + 1]! - c.msgOffsets[i]!;
    meta += c.metaOffsets[i + 1]! - c.metaOffsets[i]!;
  }
  const fixed = FRAME_FIXED_BYTES * k;
  const raw = new Uint8Array(8 + fixed + msg + meta);
  const v = new DataView(raw.buffer);
  v.setUint32(0, k, true);
  const ts = new BigInt64Array(raw.buffer, 8, k);
  const cols = new Uint32Array(raw.buffer, 8 + 8 * k, 4 * k); // seq, source, message and metadata lengths
  const level = raw.subarray(8 + 24 * k, 8 + 25 * k);
  let at = 8 + fixed;
  for (let j = from; j < to; j++) {
    const i = order[j]!;
    const r = j - from;
    ts[r] = c.ts[i]! - (r === 0 || starts[j] === 1 ? minTs : c.ts[order[j - 1]!]!);
    cols[r] = c.seq[i]! - bases[c.source[i]!]!;
    cols[k + r] = c.source[i]!;
    level[r] = c.level[i]!;
    const bytes = c.msgBytes.subarray(c.msgOffsets[i]!, c.msgOffsets[i + 1]!);
    cols[2 * k + r] = bytes.byteLength;
    raw.set(bytes, at);
    at += bytes.byteLength;
  }
  for (let j = from; j < to; j++) {
    const i = order[j]!;
    const bytes = c.metaBytes.subarray(c.metaOffsets[i]!, c.metaOffsets[i + 1]!);
    cols[3 * k + j - from] = bytes.byteLength;
    raw.set(bytes, at);
    at += bytes.byteLength;
  }
  return withCrc(zlib.deflateRawSync(raw, { ...FRAMES, dictionary }));
}
