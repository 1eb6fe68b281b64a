/**
 * How a side of a mailbox waits: a short spin, then park with Atomics.wait
 * (worker threads, which may block) or Atomics.waitAsync (the main thread,
 * which must not). Pure polling on a 2-core machine starves the other side:
 * measured 3-10x slower than parking, and it burns a core while idle.
 */
export interface WaitStrategy {
  /** Re-checks of the condition before parking. 0 parks at once. */
  readonly spins: number;
  /**
   * A blocking wait parks at most this long at a time (default: unbounded)
   * and calls `onSlice` between slices: a thread blocked on backpressure is
   * alive, and must keep its heartbeat moving so it is not taken for hung.
   */
  readonly sliceMs?: number;
  readonly onSlice?: () => void;
}

export const DEFAULT_WAIT: WaitStrategy = { spins: 64 };

/** How a wait ended: something to do, the time ran out, or the mailbox will bring nothing more. */
export type WaitOutcome = 'ok' | 'timed-out' | 'closed';

export function deadlineFrom(timeoutMs: number | undefined): number {
  return timeoutMs === undefined || timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
}

export function remaining(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - performance.now());
}
