import { TributaryError } from '../errors.js';
import { Doorbell } from './doorbell.js';
import { RingReader, createRing, type FrameHandler, type RingHandle } from './ring.js';
import { DEFAULT_WAIT, type WaitOutcome, type WaitStrategy } from './wait.js';

/**
 * One consumer thread's inbox: an SPSC ring per sending thread, all sharing
 * one doorbell, so the thread sleeps on a single word whichever sender
 * writes. Rings grow with threads squared, not actors squared: frames carry
 * the destination actor id and the owner dispatches them.
 */
export class Inbox {
  readonly doorbell: Doorbell;
  private readonly readers: RingReader[] = [];
  /** Rings stalled on a deferred frame: skipped by drain until unblockAll(). */
  private readonly blocked: boolean[] = [];
  private readonly wait: WaitStrategy;
  private next = 0;

  constructor(options: { doorbell?: SharedArrayBuffer; wait?: WaitStrategy } = {}) {
    this.doorbell = new Doorbell(options.doorbell);
    this.wait = options.wait ?? DEFAULT_WAIT;
  }

  /** Creates a new ring that rings this inbox's doorbell; give the handle to the sending thread. */
  createRing(capacity: number, id: number): RingHandle {
    const handle = createRing(capacity, this.doorbell);
    this.attach(handle, id);
    return handle;
  }

  /**
   * Attaches an existing ring (e.g. after a restart, from the handles the
   * supervisor kept). `producerDoorbell`: the sending thread's doorbell, rung
   * when this side frees room it asked for (RingWriter.requestRoom).
   */
  attach(handle: RingHandle, id: number, producerDoorbell?: SharedArrayBuffer): void {
    if (handle.doorbell !== this.doorbell.sab) {
      throw new TributaryError('E_INVALID_ARGUMENT', "ring does not ring this inbox's doorbell", { id });
    }
    if (this.readers.some((r) => r.frame.from === id)) throw new TributaryError('E_INVALID_ARGUMENT', `ring id ${id} is already attached`, { id });
    this.readers.push(new RingReader(handle, { wait: this.wait, id, producerDoorbell }));
    this.blocked.push(false);
  }

  detach(id: number): void {
    const i = this.readers.findIndex((r) => r.frame.from === id);
    if (i >= 0) {
      this.readers.splice(i, 1);
      this.blocked.splice(i, 1);
    }
  }

  get size(): number {
    return this.readers.length;
  }

  hasData(): boolean {
    for (const r of this.readers) if (r.hasData()) return true;
    return false;
  }

  /** True when every ring is closed and drained. */
  get done(): boolean {
    return this.readers.length > 0 && this.readers.every((r) => r.done);
  }

  /** True when a ring that is not blocked has a frame. */
  runnable(): boolean {
    for (let i = 0; i < this.readers.length; i++) if (!this.blocked[i] && this.readers[i]!.hasData()) return true;
    return false;
  }

  /** Retries every blocked ring (something changed: an actor started or stopped). */
  unblockAll(): void {
    this.blocked.fill(false);
  }

  /**
   * Drains the rings round-robin, at most `framesPerRing` from each per turn,
   * committing each ring once. The starting ring rotates between calls so
   * that one busy sender cannot starve the others. A ring whose handler
   * deferred a frame (returned false) is blocked: skipped until unblockAll(),
   * since its next frame is the same one. With a `deadline`
   * (performance.now() time), each ring stops taking frames once it has
   * passed, so a turn stays short whatever the frames cost; every ring still
   * gets at least one frame per turn.
   */
  drain(handler: FrameHandler, framesPerRing = 256, deadline = Infinity): number {
    const n = this.readers.length;
    let total = 0;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if (this.blocked[i]) continue;
      const reader = this.readers[i]!;
      total += reader.drain(handler, framesPerRing, deadline);
      if (reader.deferred) this.blocked[i] = true;
    }
    this.next = n === 0 ? 0 : (this.next + 1) % n;
    return total;
  }

  /** Blocks (worker threads) until any ring has a frame, all are closed, or the timeout passes. */
  waitForData(timeoutMs?: number): WaitOutcome {
    for (let spin = 0; spin < this.wait.spins; spin++) if (this.hasData()) return 'ok';
    const outcome = this.doorbell.park(() => this.hasData() || this.done, timeoutMs);
    return outcome === 'ok' && this.done ? 'closed' : outcome;
  }

  async waitForDataAsync(timeoutMs?: number): Promise<WaitOutcome> {
    if (this.hasData()) return 'ok';
    const outcome = await this.doorbell.parkAsync(() => this.hasData() || this.done, timeoutMs);
    return outcome === 'ok' && this.done ? 'closed' : outcome;
  }
}
