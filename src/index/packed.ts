/**
 * Columns of small unsigned integers, each at the narrowest width that holds
 * its largest value (1, 2 or 4 bytes): a byte of width per column, then the
 * columns one after another, each starting 4-byte aligned (so it reads as a
 * typed array, without a copy). Label ids and run lengths are mostly under
 * 65,536: this halves what a page's run table inflates to.
 */

function widthOf(values: ArrayLike<number>): 1 | 2 | 4 {
  let max = 0;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  return max < 0x100 ? 1 : max < 0x10000 ? 2 : 4;
}

const align4 = (n: number) => (n + 3) & ~3;

/** Packs columns of equal length `n` (values must be integers in [0, 2^32)). */
export function packColumns(columns: readonly ArrayLike<number>[], n: number): Uint8Array {
  const widths = columns.map(widthOf);
  let size = align4(columns.length);
  for (const w of widths) size += align4(w * n);
  const out = new Uint8Array(size);
  let at = align4(columns.length);
  columns.forEach((col, c) => {
    const w = widths[c]!;
    out[c] = w;
    const view = w === 1 ? new Uint8Array(out.buffer, at, n) : w === 2 ? new Uint16Array(out.buffer, at, n) : new Uint32Array(out.buffer, at, n);
    for (let i = 0; i < n; i++) view[i] = col[i]!;
    at += align4(w * n);
  });
  return out;
}

/** The bytes `packColumns` makes for these widths. */
export function packedBytes(widths: readonly number[], n: number): number {
  let size = align4(widths.length);
  for (const w of widths) size += align4(w * n);
  return size;
}

/** Views of `count` packed columns of length `n`; null when the bytes do not add up. `bytes` must start 4-byte aligned. */
export function unpackColumns(bytes: Uint8Array, count: number, n: number): (Uint8Array | Uint16Array | Uint32Array)[] | null {
  if (bytes.byteLength < align4(count) || bytes.byteOffset % 4 !== 0) return null;
  const widths = Array.from(bytes.subarray(0, count));
  if (widths.some((w) => w !== 1 && w !== 2 && w !== 4) || packedBytes(widths, n) !== bytes.byteLength) return null;
  let at = bytes.byteOffset + align4(count);
  return widths.map((w) => {
    const view = w === 1 ? new Uint8Array(bytes.buffer, at, n) : w === 2 ? new Uint16Array(bytes.buffer, at, n) : new Uint32Array(bytes.buffer, at, n);
    at += align4(w * n);
    return view;
  });
}
