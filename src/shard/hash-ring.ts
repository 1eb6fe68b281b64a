import { TributaryError } from '../errors.js';

/** MurmurHash3 (x86, 32-bit) of a string's UTF-16 code units: fast, well mixed, stable across releases. */
export function murmur3(key: string, seed = 0): number {
  let h = seed >>> 0;
  const len = key.length;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    let k = (key.charCodeAt(i) & 0xffff) | ((key.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    let k = key.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The stream key of an entry: which shard it goes to depends on its service and server only. */
export function streamKey(service: string, server: string): string {
  return `${service}\u0000${server}`;
}

/**
 * A consistent hash ring with virtual nodes. Each shard owns `vnodes` points;
 * a key belongs to the first point at or after its hash. Adding a shard moves
 * only about 1/(n+1) of the keys, all of them to the new shard; removing one
 * moves only its own keys. Queries fan out to every shard, so a key that
 * moves needs no data moved for correctness: old entries stay where they were
 * written, new ones follow the ring.
 */
export class HashRing<T extends string = string> {
  private points = new Uint32Array(0);
  private owners: T[] = [];
  private readonly members = new Set<T>();

  constructor(
    shards: readonly T[] = [],
    private readonly vnodes = 128,
  ) {
    for (const s of shards) this.members.add(s);
    this.rebuild();
  }

  get shards(): T[] {
    return [...this.members];
  }

  add(shard: T): void {
    this.members.add(shard);
    this.rebuild();
  }

  remove(shard: T): void {
    this.members.delete(shard);
    this.rebuild();
  }

  /** The shard that owns `key`. */
  lookup(key: string): T {
    if (this.owners.length === 0) throw new TributaryError('E_PLACEMENT', 'the hash ring has no shards', {});
    const h = murmur3(key);
    // First point >= h (binary search), wrapping to the start.
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.points.length ? 0 : lo]!;
  }

  private rebuild(): void {
    const pts: { h: number; s: T }[] = [];
    for (const s of this.members) for (let v = 0; v < this.vnodes; v++) pts.push({ h: murmur3(`${s}#${v}`), s });
    // Ties (vanishingly rare) are broken by shard name so every process builds the same ring.
    pts.sort((a, b) => a.h - b.h || (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
    this.points = Uint32Array.from(pts, (p) => p.h);
    this.owners = pts.map((p) => p.s);
  }
}
