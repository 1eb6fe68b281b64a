import { DOORBELL_BYTES, DOORBELL_PARKED } from './layout.js';
import type { WaitOutcome } from './wait.js';

/**
 * One consumer's wake-up line, shared by every ring that feeds it.
 *
 * Parking protocol (no lost wake-ups, no notify unless someone sleeps):
 *   consumer: store PARKED=1; re-check every ring; if still empty,
 *             Atomics.wait(PARKED, 1); store PARKED=0.
 *   producer: publish the frame (store WRITE_POS); then if load(PARKED)==1
 *             and CAS(PARKED, 1->0) succeeds, notify.
 * All are sequentially consistent, so either the consumer's re-check sees the
 * frame, or the producer's load sees PARKED=1 and clears it, in which case
 * the consumer's wait returns at once (the value is no longer 1) or is woken.
 * The CAS lets exactly one of several producers pay for the notify.
 */
export class Doorbell {
  readonly sab: SharedArrayBuffer;
  private readonly i32: Int32Array;

  constructor(sab: SharedArrayBuffer = new SharedArrayBuffer(DOORBELL_BYTES)) {
    this.sab = sab;
    this.i32 = new Int32Array(sab);
  }

  /** Wakes the consumer if it is parked. Cheap (one atomic load) when it is not. */
  ring(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, DOORBELL_PARKED) !== 0 && Atomics.compareExchange(i32, DOORBELL_PARKED, 1, 0) === 1) {
      Atomics.notify(i32, DOORBELL_PARKED);
    }
  }

  /**
   * Blocks this thread until rung or until `timeoutMs`, unless `ready()`
   * becomes true after announcing the park. Only for worker threads.
   */
  park(ready: () => boolean, timeoutMs?: number): WaitOutcome {
    const i32 = this.i32;
    Atomics.store(i32, DOORBELL_PARKED, 1);
    try {
      if (ready()) return 'ok';
      // 'not-equal' means a producer cleared the flag between our store and the wait: a wake-up.
      return Atomics.wait(i32, DOORBELL_PARKED, 1, timeoutMs ?? Infinity) === 'timed-out' ? 'timed-out' : 'ok';
    } finally {
      Atomics.store(i32, DOORBELL_PARKED, 0);
    }
  }

  /** The main-thread form of park: resolves when rung, never blocks the event loop. */
  async parkAsync(ready: () => boolean, timeoutMs?: number): Promise<WaitOutcome> {
    const i32 = this.i32;
    Atomics.store(i32, DOORBELL_PARKED, 1);
    try {
      if (ready()) return 'ok';
      const w = Atomics.waitAsync(i32, DOORBELL_PARKED, 1, timeoutMs ?? Infinity);
      const r = w.async ? await w.value : w.value;
      return r === 'timed-out' ? 'timed-out' : 'ok';
    } finally {
      Atomics.store(i32, DOORBELL_PARKED, 0);
    }
  }
}
