/**
 * Byte planes: n values of `width` bytes stored as all their first bytes,
 * then all their second bytes, and so on (Blosc's shuffle). The high bytes
 * of small numbers are mostly zero, and side by side deflate codes them in
 * a few bits (measured on frames of the bench fleet: 20.6 -> 18.5 B/entry).
 */
export function toPlanes(src: Uint8Array, width: number): Uint8Array {
  const n = src.length / width;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < n; i++) for (let k = 0; k < width; k++) out[k * n + i] = src[i * width + k]!;
  return out;
}

/** The inverse of toPlanes, written into `dst` (the same length). */
export function fromPlanes(src: Uint8Array, width: number, dst: Uint8Array): void {
  const n = src.length / width;
  for (let k = 0; k < width; k++) {
    const plane = k * n;
    for (let i = 0; i < n; i++) dst[i * width + k] = src[plane + i]!;
  }
}
