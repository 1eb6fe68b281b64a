import { TributaryError } from '../errors.js';
import { systemClock, type Clock } from '../supervisor/clock.js';
import { NO_PRESSURE, type MemoryPressure } from '../util/memory-pressure.js';
import type { QueryService } from './engine.js';

export interface QueryGateOptions {
  /** Queries answered at once (default 8); under memory pressure, one. */
  readonly maxConcurrent?: number;
  /** Queries waiting for a turn (default 64); past it a query is refused with E_OVERLOADED (HTTP 429). */
  readonly maxQueued?: number;
  /** The longest a query waits for its turn (default 30 s), then E_OVERLOADED. */
  readonly maxWaitMs?: number;
  readonly memory?: MemoryPressure;
  readonly clock?: Clock;
}

/**
 * Admission for queries: each one's answer is bounded in bytes per shard,
 * so bounding how many run at once bounds what answers hold together.
 * Queries past the bound wait in a FIFO queue (bounded in length and in
 * time); near the memory budget, one runs at a time.
 */
export class QueryGate {
  private running = 0;
  private readonly waiting: { admit: () => void }[] = [];
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly memory: MemoryPressure;
  private readonly clock: Clock;
  /** Queries refused because the queue was full or their wait ran out. */
  refused = 0;

  constructor(private readonly options: QueryGateOptions = {}) {
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 8);
    this.maxQueued = Math.max(0, options.maxQueued ?? 64);
    this.memory = options.memory ?? NO_PRESSURE;
    this.clock = options.clock ?? systemClock;
    this.memory.onChange(() => this.wake());
  }

  /** Queries running now, and waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Runs `answer` when its turn comes. */
  async run<T>(answer: () => Promise<T>): Promise<T> {
    if (this.running < this.limit() && this.waiting.length === 0) this.running++;
    else await this.queue();
    try {
      return await answer();
    } finally {
      this.running--;
      this.wake();
    }
  }

  private limit(): number {
    return this.memory.high ? 1 : this.maxConcurrent;
  }

  /** Resolves once admitted (the admitter counts it as running), or throws E_OVERLOADED. */
  private queue(): Promise<void> {
    if (this.waiting.length >= this.maxQueued) {
      this.refused++;
      return Promise.reject(
        new TributaryError('E_OVERLOADED', `${this.running} queries are running and ${this.waiting.length} waiting: retry later`, {
          running: this.running,
          waiting: this.waiting.length,
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const maxWaitMs = this.options.maxWaitMs ?? 30_000;
      const entry = {
        admit: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
      };
      const timer = this.clock.setTimeout(() => {
        const at = this.waiting.indexOf(entry);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        this.refused++;
        reject(new TributaryError('E_OVERLOADED', `the query waited ${maxWaitMs} ms for a turn: retry later`, { maxWaitMs }));
      }, maxWaitMs);
      this.waiting.push(entry);
    });
  }

  private wake(): void {
    while (this.waiting.length > 0 && this.running < this.limit()) {
      this.running++;
      this.waiting.shift()!.admit();
    }
  }
}

/** A query service whose queries take turns at a gate. */
export class GatedQueryService implements QueryService {
  constructor(
    private readonly inner: QueryService,
    readonly gate: QueryGate,
  ) {}

  get arrivals() {
    return this.inner.arrivals;
  }

  get observer() {
    return this.inner.observer;
  }

  set observer(o: QueryService['observer']) {
    this.inner.observer = o;
  }

  query(...args: Parameters<QueryService['query']>) {
    return this.gate.run(() => this.inner.query(...args));
  }

  metric(...args: Parameters<QueryService['metric']>) {
    return this.gate.run(() => this.inner.metric(...args));
  }

  pipe(...args: Parameters<QueryService['pipe']>) {
    return this.gate.run(() => this.inner.pipe(...args));
  }

  samples(...args: Parameters<QueryService['samples']>) {
    return this.gate.run(() => this.inner.samples(...args));
  }
}
