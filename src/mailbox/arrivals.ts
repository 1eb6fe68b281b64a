/**
 * "Something was stored": a counter and the newest timestamp stored, in
 * shared memory, which shards bump as they take entries and live tails wait
 * on (Atomics.waitAsync), so a tail runs when data arrives and never polls.
 * One signal for all of a daemon's shards: a tail looks at every shard
 * anyway. Layout: i32 count at byte 0, i64 newest timestamp (ns) at byte 8.
 */
export class ArrivalSignal {
  readonly shared: SharedArrayBuffer;
  private readonly count: Int32Array;
  private readonly newest: BigInt64Array;

  constructor(shared: SharedArrayBuffer = new SharedArrayBuffer(16)) {
    this.shared = shared;
    this.count = new Int32Array(shared, 0, 1);
    this.newest = new BigInt64Array(shared, 8, 1);
  }

  /** A shard took entries, the newest at `maxTs`: wakes every waiting tail. */
  stored(maxTs: bigint): void {
    for (;;) {
      const cur = Atomics.load(this.newest, 0);
      if (maxTs <= cur || Atomics.compareExchange(this.newest, 0, cur, maxTs) === cur) break;
    }
    Atomics.add(this.count, 0, 1);
    Atomics.notify(this.count, 0);
  }

  /** {@link stored} for batches just stored: their time ranges, which a batch computes once and keeps for queries too. */
  storedBatches(parts: readonly { timeRange(): { readonly max: bigint } }[]): void {
    let newest = -(2n ** 63n);
    for (const p of parts) {
      const { max } = p.timeRange();
      if (max > newest) newest = max;
    }
    this.stored(newest);
  }

  /** How many stores so far: pass it to {@link changed} to wait for the next. */
  get seen(): number {
    return Atomics.load(this.count, 0);
  }

  /** The newest timestamp any shard has stored, ns. */
  get newestTs(): bigint {
    return Atomics.load(this.newest, 0);
  }

  /** Resolves once a store comes after `seen`, or {@link wake} is called, or `timeoutMs` passes. */
  async changed(seen: number, timeoutMs?: number): Promise<void> {
    const w = Atomics.waitAsync(this.count, 0, seen, timeoutMs);
    if (w.async) await w.value;
  }

  /** Wakes every waiter without a store (a tail that is stopping). */
  wake(): void {
    Atomics.notify(this.count, 0);
  }
}
