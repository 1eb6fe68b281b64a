import { FRAME_FIXED_BYTES, FRAME_FIXED_BYTES_V4 } from './block-format.js';
import { PlainText, TemplatedText, type FrameText } from './frame-text.js';
import type { Templates } from './templates.js';
import { fromPlanes } from './byte-planes.js';

/**
 * One frame's columns, decoded from its inflated bytes (layouts in
 * page-v3-encode.ts). Timestamps are still as stored (deltas): the page
 * resolves them against its run table.
 */
export interface FrameColumns {
  readonly ts: BigInt64Array;
  readonly seq: Uint32Array;
  readonly source: Uint32Array;
  readonly level: Uint8Array;
  readonly metaOffsets: Uint32Array;
  readonly meta: Buffer;
  readonly text: FrameText;
}

/** `raw` 8-byte aligned, holding `n` rows. A string says why it does not decode. */
export function decodeFrame(raw: Buffer, n: number, templates: (() => Templates) | null): FrameColumns | string {
  return templates === null ? decodeV3(raw, n) : decodeV4(raw, n, templates);
}

function decodeV3(raw: Buffer, n: number): FrameColumns | string {
  const fixed = 8 + FRAME_FIXED_BYTES * n;
  if (raw.byteLength < fixed || raw.readUInt32LE(0) !== n) return 'is inconsistent';
  const cols = new Uint32Array(raw.buffer, raw.byteOffset + 8 + 8 * n, 4 * n);
  const msgOffsets = offsets(cols.subarray(2 * n, 3 * n));
  const metaOffsets = offsets(cols.subarray(3 * n, 4 * n));
  const metaAt = fixed + msgOffsets[n]!;
  if (metaAt + metaOffsets[n]! !== raw.byteLength) return 'lengths do not add up';
  return columns(raw, n, cols, 4, metaOffsets, metaAt, new PlainText(raw.subarray(fixed, metaAt), msgOffsets));
}

function decodeV4(raw: Buffer, n: number, templates: () => Templates): FrameColumns | string {
  const fixed = 8 + FRAME_FIXED_BYTES_V4 * n;
  if (raw.byteLength < fixed || raw.readUInt32LE(0) !== n) return 'is inconsistent';
  const planes = new Uint8Array(raw.subarray(8, 8 + 28 * n)); // a copy (Buffer.slice would be a view)
  fromPlanes(planes.subarray(0, 8 * n), 8, raw.subarray(8, 8 + 8 * n));
  fromPlanes(planes.subarray(8 * n), 4, raw.subarray(8 + 8 * n, 8 + 28 * n));
  const varBytes = raw.readUInt32LE(4);
  const cols = new Uint32Array(raw.buffer, raw.byteOffset + 8 + 8 * n, 5 * n);
  const rawLengths = cols.subarray(3 * n, 4 * n);
  const metaOffsets = offsets(cols.subarray(4 * n, 5 * n));
  let rawBytes = 0;
  for (let j = 0; j < n; j++) rawBytes += rawLengths[j]!;
  const rawAt = fixed + varBytes;
  const metaAt = rawAt + rawBytes;
  if (metaAt + metaOffsets[n]! !== raw.byteLength) return 'lengths do not add up';
  const text = TemplatedText.of(templates, cols.subarray(2 * n, 3 * n), raw.subarray(fixed, rawAt), raw.subarray(rawAt, metaAt), rawLengths);
  if (text === null) return 'does not match its block templates';
  return columns(raw, n, cols, 5, metaOffsets, metaAt, text);
}

/** The columns both layouts share: timestamps, then `width` u32 columns (seq and source first), then the levels. */
function columns(raw: Buffer, n: number, cols: Uint32Array, width: number, metaOffsets: Uint32Array, metaAt: number, text: FrameText): FrameColumns {
  return {
    ts: new BigInt64Array(raw.buffer, raw.byteOffset + 8, n),
    seq: cols.subarray(0, n),
    source: cols.subarray(n, 2 * n),
    level: new Uint8Array(raw.buffer, raw.byteOffset + 8 + (8 + 4 * width) * n, n),
    metaOffsets,
    meta: raw.subarray(metaAt),
    text,
  };
}

function offsets(lengths: Uint32Array): Uint32Array {
  const out = new Uint32Array(lengths.length + 1);
  for (let j = 0; j < lengths.length; j++) out[j + 1] = out[j]! + lengths[j]!;
  return out;
}
