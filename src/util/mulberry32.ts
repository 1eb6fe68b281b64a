/**
 * mulberry32: a small, fast, seeded generator of numbers in [0, 1), good
 * enough for workloads and test streams (not for anything secret). The same
 * seed gives the same sequence, so a benchmark's data and a failing test's
 * stream can be made again.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
