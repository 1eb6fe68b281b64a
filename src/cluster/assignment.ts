import { murmur3 } from '../util/murmur3.js';

/**
 * Which live member owns each shard: rendezvous hashing with bounded loads.
 * Every member computes the same answer from the same set of live members.
 * Each shard, in shard order, goes to the member that scores highest for it
 * among those with room, and a member has room for floor(S/M) shards, or
 * one more while the remainder lasts. Every member holds floor(S/M) or
 * ceil(S/M) shards. Plain rendezvous hashing gave 12 shards over 3 members
 * as 1, 6 and 5: one daemon with half the cluster's load. A member that
 * joins or leaves still moves mostly the shards it wins or held.
 */
export function assignShards(shards: readonly string[], members: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (members.length === 0) return out;
  const sorted = [...new Set(members)].sort();
  const floor = Math.floor(shards.length / sorted.length);
  let extra = shards.length % sorted.length;
  const load = new Map(sorted.map((m) => [m, 0]));
  for (const shard of [...shards].sort(byShardNumber)) {
    const ranked = sorted.map((m) => ({ m, score: murmur3(`${shard}\u0000${m}`, 0x7ab) })).sort((a, b) => b.score - a.score || (a.m < b.m ? -1 : 1));
    for (const { m } of ranked) {
      const n = load.get(m)!;
      if (n < floor || (n === floor && extra > 0)) {
        if (n === floor) extra--;
        load.set(m, n + 1);
        out.set(shard, m);
        break;
      }
    }
  }
  return out;
}

/** shard-2 before shard-10. */
export function byShardNumber(a: string, b: string): number {
  const n = (s: string) => Number(/(\d+)$/.exec(s)?.[1] ?? 0);
  return n(a) - n(b) || a.localeCompare(b);
}
