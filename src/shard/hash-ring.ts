import { TributaryError } from '../errors.js';
import { murmur3 } from '../util/murmur3.js';

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

  get virtualNodes(): number {
    return this.vnodes;
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
