/**
 * The shards a member handed over and still answers queries for, as they
 * were at the hand-over, until their new owner has said (in its heartbeat)
 * for a grace period that it answers for them: a query asked just before
 * may reach the new owner before it did, and this member after it saw so.
 *
 * The grace is half a lease, so a stand-in never outlives its successor's
 * heartbeat: the new owner stores batches the stand-in lacks, and if it
 * dies, an asker still sees (for a lease) that it served the shard and did
 * not answer, and takes no stand-in's answer for it (ClusterQueryEngine).
 */
export class StandIns {
  private readonly shards = new Map<string, { successorSeenAt?: number }>();

  add(shard: string): void {
    this.shards.set(shard, {});
  }

  delete(shard: string): void {
    this.shards.delete(shard);
  }

  clear(): void {
    this.shards.clear();
  }

  list(): string[] {
    return [...this.shards.keys()];
  }

  get size(): number {
    return this.shards.size;
  }

  /** Ends those whose new owner has said for `graceMs` that it serves them (`served`: by a member other than this one). */
  endServed(served: (shard: string) => boolean, graceMs: number): void {
    for (const [shard, s] of this.shards) {
      if (!served(shard)) continue;
      s.successorSeenAt ??= performance.now();
      if (performance.now() - s.successorSeenAt > graceMs) this.shards.delete(shard);
    }
  }
}
