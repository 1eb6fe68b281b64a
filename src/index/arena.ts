/**
 * Memory for memtable batches, in slabs of shared memory that are reused
 * rather than freed: after a seal, the slabs of the sealed generation return
 * to a free list. Measured without it, every batch in its own
 * SharedArrayBuffer left two shard threads at 281 MiB of array buffers each,
 * mostly garbage waiting for a major GC (86-142 MiB right after one): memory
 * bounded on paper, not in the process. With slabs the footprint is what the
 * memtable limit allows, whatever the GC does.
 *
 * Shared memory, so a seal on a pool thread reads the batches without a copy.
 * A generation's slabs must not be released while anything still reads them
 * (the seal in flight; the store releases them when it completes).
 *
 * With `reserve`, that many slabs are made and touched up front (as a JVM's
 * AlwaysPreTouch does for its heap): the memtable's whole allowance is
 * resident from the start, so the process's memory does not creep up as
 * data arrives and a budget that fits at start fits later.
 */
export class SlabArena {
  private readonly free: SharedArrayBuffer[] = [];
  private current: SharedArrayBuffer | undefined;
  private used = 0;
  private generation: SharedArrayBuffer[] = [];
  private allocated = 0;

  private readonly maxFree: number;

  constructor(
    readonly slabBytes = 4 * 1024 * 1024,
    options: {
      /** Free slabs kept for reuse; more than this are dropped (to the GC). */
      readonly maxFree?: number;
      /** Slabs made and touched now, and always kept. */
      readonly reserve?: number;
    } = {},
  ) {
    const reserve = options.reserve ?? 0;
    this.maxFree = Math.max(options.maxFree ?? 32, reserve);
    for (let i = 0; i < reserve; i++) {
      const slab = this.newSlab();
      // One write per page makes the kernel back it now rather than at first use.
      const bytes = new Uint8Array(slab);
      for (let at = 0; at < bytes.length; at += 4096) bytes[at] = 0;
      this.free.push(slab);
    }
  }

  /** An 8-byte aligned view of `bytes` bytes, owned by the current generation. */
  alloc(bytes: number): Uint8Array {
    const size = (bytes + 7) & ~7;
    if (size > this.slabBytes) {
      // Too big for a slab: its own buffer, part of the generation all the same.
      const own = new SharedArrayBuffer(size);
      this.generation.push(own);
      return new Uint8Array(own, 0, bytes);
    }
    if (!this.current || this.used + size > this.slabBytes) {
      this.current = this.free.pop() ?? this.newSlab();
      this.used = 0;
      this.generation.push(this.current);
    }
    const view = new Uint8Array(this.current, this.used, bytes);
    this.used += size;
    return view;
  }

  /**
   * Ends the current generation (the memtable being sealed) and returns its
   * slabs; allocations from now on go to fresh slabs.
   */
  cut(): SharedArrayBuffer[] {
    const gen = this.generation;
    this.generation = [];
    this.current = undefined;
    this.used = 0;
    return gen;
  }

  /** Takes a generation back into the current one (its seal failed: the batches are live again). */
  adopt(slabs: readonly SharedArrayBuffer[]): void {
    this.generation.unshift(...slabs);
  }

  /** Returns a sealed generation's slabs for reuse. Nothing may read them afterwards. */
  release(slabs: readonly SharedArrayBuffer[]): void {
    for (const s of slabs) {
      if (s.byteLength === this.slabBytes && this.free.length < this.maxFree) this.free.push(s);
      else this.allocated -= s.byteLength === this.slabBytes ? 1 : 0;
    }
  }

  /** Slabs created so far and not dropped: the arena's memory is at most this times slabBytes. */
  get slabs(): number {
    return this.allocated;
  }

  private newSlab(): SharedArrayBuffer {
    this.allocated++;
    return new SharedArrayBuffer(this.slabBytes);
  }
}
