import type { Clock } from '../supervisor/clock.js';
import { systemClock } from '../supervisor/clock.js';
import type { MemoryPressure, MemoryReadings } from '../util/memory-pressure.js';

export interface MemoryGovernorOptions {
  /** The process's budget for resident memory. */
  readonly budgetBytes: number;
  /** Resident memory now (default: process.memoryUsage.rss(), one read of /proc/self/statm). */
  readonly readRss?: () => number;
  readonly clock?: Clock;
  /** How often resident memory is read (default 100 ms). */
  readonly everyMs?: number;
  /** The share of the budget at which pressure starts (default 0.9). */
  readonly highRatio?: number;
  /** The share below which it ends again (default 0.8): the gap keeps it from flapping on every sample. */
  readonly lowRatio?: number;
}

/**
 * Keeps the process within its memory budget when the plan's parts do not.
 * The plan (memory-budget.ts) sizes every cache, table and buffer, but what
 * V8 and malloc hold on top of them moves with the load: bodies in flight,
 * answers being built, garbage not yet collected. The governor reads
 * resident memory every `everyMs`; from `highRatio` of the budget until it
 * falls below `lowRatio`, the admitting parts take one piece of work at a
 * time (ingest: one request, other requests answered E_OVERLOADED, 429
 * with Retry-After, or a PushBatches stream reading one batch at a time;
 * queries: one running, the rest waiting in their queue). Work is slowed,
 * never dropped, and nothing already admitted is cut short.
 */
export class MemoryGovernor implements MemoryPressure {
  private readonly readRss: () => number;
  private readonly clock: Clock;
  private readonly listeners = new Set<(high: boolean) => void>();
  private timer: unknown;
  private resident = 0;
  private peak = 0;
  private episodes = 0;
  private pressedMs = 0;
  private since = 0;
  high = false;

  constructor(private readonly options: MemoryGovernorOptions) {
    this.readRss = options.readRss ?? (() => process.memoryUsage.rss());
    this.clock = options.clock ?? systemClock;
  }

  /** Samples now, then every `everyMs` until stop. */
  start(): this {
    const every = this.options.everyMs ?? 100;
    const tick = () => {
      this.sample();
      this.timer = this.clock.setTimeout(tick, every);
      (this.timer as { unref?: () => void }).unref?.();
    };
    tick();
    return this;
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads resident memory and moves in or out of pressure. */
  sample(): void {
    this.resident = this.readRss();
    this.peak = Math.max(this.peak, this.resident);
    const { budgetBytes } = this.options;
    const next = this.high ? this.resident >= budgetBytes * (this.options.lowRatio ?? 0.8) : this.resident >= budgetBytes * (this.options.highRatio ?? 0.9);
    if (next === this.high) return;
    const now = this.clock.now();
    if (next) {
      this.episodes++;
      this.since = now;
    } else this.pressedMs += now - this.since;
    this.high = next;
    for (const l of [...this.listeners]) l(next);
  }

  onChange(listener: (high: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): MemoryReadings {
    return {
      budgetBytes: this.options.budgetBytes,
      residentBytes: this.resident,
      peakResidentBytes: this.peak,
      high: this.high,
      pressureEpisodes: this.episodes,
      pressureMs: this.pressedMs + (this.high ? this.clock.now() - this.since : 0),
    };
  }
}
