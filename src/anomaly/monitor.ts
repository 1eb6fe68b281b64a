import type { ActorRef } from '../actors/behaviour.js';
import type { ActorSystem } from '../actors/system.js';
import type { AnomalyEvent, DetectorStats } from './detector-actor.js';
import { detectorFor } from './feed.js';
import type { WindowState } from './window.js';

export interface AnomalyMonitorOptions {
  /** Events kept for GET /api/v1/anomalies (default 1000, oldest dropped first). */
  readonly maxHistory?: number;
  /**
   * Services with flag and clear counters of their own (default 10,000);
   * the flags and clears of services past that are added up under
   * `OTHER_SERVICES`, so the metric's series stay bounded.
   */
  readonly maxCountedServices?: number;
}

/** The name the counters of services past `maxCountedServices` are added up under. */
export const OTHER_SERVICES = '_other';

/**
 * The main thread's view of the detectors: the services flagged now, the
 * recent events, and live subscribers (SSE, the programmatic API). Events
 * arrive as the detectors publish them. When a detector restarts (its
 * windows taken from its replica), the flagged set is asked for again and
 * reconciled, so an event lost with the crashed thread is made up for, and
 * none is invented.
 */
export class AnomalyMonitor {
  private readonly flagged = new Map<string, AnomalyEvent>();
  private readonly recent: AnomalyEvent[] = [];
  private readonly listeners = new Set<(e: AnomalyEvent) => void>();
  private readonly unsubscribe: () => void;
  private readonly maxHistory: number;
  private readonly maxCountedServices: number;
  private readonly counts = new Map<string, { flags: number; clears: number }>();

  constructor(
    private readonly system: ActorSystem,
    private readonly detectors: readonly ActorRef[],
    options: AnomalyMonitorOptions = {},
  ) {
    this.maxHistory = options.maxHistory ?? 1000;
    this.maxCountedServices = options.maxCountedServices ?? 10_000;
    const ids = new Set(detectors.map((d) => d.id));
    this.unsubscribe = system.subscribe((e) => {
      if (e.type === '@actor.published' && ids.has(e.actor.id)) this.record(e.payload as AnomalyEvent);
      else if (e.type === '@actor.started' && e.restored && e.role === 'primary' && ids.has(e.actor.id)) void this.reconcile(e.actor);
    });
  }

  /** The services flagged now, each with the event that flagged it. */
  current(): AnomalyEvent[] {
    return [...this.flagged.values()];
  }

  isFlagged(service: string): boolean {
    return this.flagged.has(service);
  }

  /** The most recent events, newest last. */
  history(limit = this.maxHistory): AnomalyEvent[] {
    return limit > 0 ? this.recent.slice(-limit) : []; // slice(-0) would be all of them
  }

  /** Flags and clears per service since start (the metric; bounded, see `maxCountedServices`). */
  counters(): ReadonlyMap<string, { readonly flags: number; readonly clears: number }> {
    return this.counts;
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe. */
  subscribe(listener: (e: AnomalyEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Each detector's counters (services tracked, window bytes, entries seen, flagged now); a detector that does not answer is left out. */
  async detectorStats(): Promise<DetectorStats[]> {
    const all = await Promise.all(this.detectors.map((d) => this.system.ask<DetectorStats>(d, { op: 'stats' }).catch(() => undefined)));
    return all.filter((s): s is DetectorStats => s !== undefined);
  }

  /** A service's window now, from its detector. */
  async window(service: string): Promise<WindowState | undefined> {
    const d = this.detectors[detectorFor(service, this.detectors.length)];
    return d ? this.system.ask<WindowState | undefined>(d, { op: 'state', service }) : undefined;
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private record(e: AnomalyEvent): void {
    if (e.type === 'flag') {
      if (this.flagged.has(e.service)) return; // already known (a reconcile got there first)
      this.flagged.set(e.service, e);
    } else if (!this.flagged.delete(e.service)) return;
    let c = this.counts.get(e.service);
    if (!c) {
      const key = this.counts.size < this.maxCountedServices ? e.service : OTHER_SERVICES;
      c = this.counts.get(key);
      if (!c) this.counts.set(key, (c = { flags: 0, clears: 0 }));
    }
    if (e.type === 'flag') c.flags++;
    else c.clears++;
    this.recent.push(e);
    if (this.recent.length > this.maxHistory) this.recent.splice(0, this.recent.length - this.maxHistory);
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a subscriber's failure is its own
      }
    }
  }

  /** After a detector restart: its flagged set is the truth for its services. */
  private async reconcile(detector: ActorRef): Promise<void> {
    let states: WindowState[];
    try {
      states = await this.system.ask<WindowState[]>(detector, { op: 'flagged' });
    } catch {
      return; // it failed again: the next start reconciles
    }
    const index = this.detectors.findIndex((d) => d.id === detector.id);
    const now = Date.now();
    const event = (type: 'flag' | 'clear', w: { service: string; errors: number; size: number; threshold: number }): AnomalyEvent => ({
      type,
      service: w.service,
      at: now,
      ts: (BigInt(now) * 1_000_000n).toString(),
      errors: w.errors,
      window: w.size,
      threshold: w.threshold,
      entry: { source: '', seq: '' }, // made up at a restart: no single entry tipped it here
    });
    const flaggedThere = new Set(states.map((s) => s.service));
    for (const s of states) if (!this.flagged.has(s.service)) this.record(event('flag', s));
    for (const [service, e] of this.flagged) {
      if (detectorFor(service, this.detectors.length) === index && !flaggedThere.has(service)) {
        const w = await this.system.ask<WindowState | undefined>(detector, { op: 'state', service }).catch(() => undefined);
        this.record(event('clear', w ?? { service, errors: 0, size: e.window, threshold: e.threshold }));
      }
    }
  }
}
