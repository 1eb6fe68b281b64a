import { TributaryError, serializeError } from '../errors.js';
import type { EventBus } from '../actors/events.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_INTENSITY, IntensityWindow, type Intensity } from './intensity.js';
import { restartTargets, type Strategy } from './strategy.js';

/** Anything a supervisor can supervise: an actor, or another supervisor. */
export interface Supervisable {
  readonly name: string;
  /** Starts the child afresh after a failure (or as part of a group restart). */
  restart(): Promise<void>;
  /** Stops the child so a group restart can start it again; its mailbox is kept. */
  halt(reason: string): Promise<void>;
}

export interface SupervisorSpec {
  readonly name: string;
  readonly strategy?: Strategy;
  readonly intensity?: Intensity;
  readonly backoff?: BackoffPolicy;
}

export interface SupervisorDeps {
  readonly clock?: Clock;
  readonly events?: EventBus;
  readonly random?: () => number;
  /** Called when a supervisor without a parent exceeds its intensity. */
  readonly onFatal?: (error: TributaryError) => void;
}

interface ChildEntry {
  readonly child: Supervisable;
  /** Consecutive failures, for backoff; reset after a stable run of one intensity window. */
  failures: number;
  startedAt: number;
  restarting: boolean;
}

/**
 * A supervisor (OTP semantics) over an ordered list of children. On a child's
 * failure it applies its strategy, waits an exponential backoff with jitter,
 * and restarts; more than `maxRestarts` restarts within `withinMs` and it
 * fails itself: halts its children and escalates to its parent.
 */
export class Supervisor implements Supervisable {
  readonly name: string;
  readonly strategy: Strategy;
  readonly intensity: Intensity;
  readonly backoff: BackoffPolicy;
  private readonly children: ChildEntry[] = [];
  private readonly window: IntensityWindow;
  private readonly clock: Clock;
  private readonly timers = new Set<unknown>();
  private state: 'running' | 'failed' | 'disposed' = 'running';
  private parent: Supervisor | undefined;

  constructor(
    spec: SupervisorSpec,
    private readonly deps: SupervisorDeps = {},
  ) {
    this.name = spec.name;
    this.strategy = spec.strategy ?? 'one_for_one';
    this.intensity = spec.intensity ?? DEFAULT_INTENSITY;
    this.backoff = spec.backoff ?? DEFAULT_BACKOFF;
    this.window = new IntensityWindow(this.intensity);
    this.clock = deps.clock ?? systemClock;
  }

  get status(): 'running' | 'failed' | 'disposed' {
    return this.state;
  }

  get childNames(): string[] {
    return this.children.map((c) => c.child.name);
  }

  /** Adds a child (already started) at the end of the start order. */
  add(child: Supervisable): void {
    if (child instanceof Supervisor) child.parent = this;
    this.children.push({ child, failures: 0, startedAt: this.clock.now(), restarting: false });
  }

  /** Creates a nested supervisor under this one. */
  supervisor(spec: SupervisorSpec): Supervisor {
    const s = new Supervisor(spec, this.deps);
    this.add(s);
    return s;
  }

  remove(child: Supervisable): void {
    const i = this.children.findIndex((c) => c.child === child);
    if (i >= 0) this.children.splice(i, 1);
  }

  has(child: Supervisable): boolean {
    return this.children.some((c) => c.child === child);
  }

  /** Reports that `child` failed. Resolves once the restart (after backoff) is done or escalated. */
  async childFailed(child: Supervisable, error: unknown): Promise<void> {
    if (this.state !== 'running') return;
    const index = this.children.findIndex((c) => c.child === child);
    if (index < 0) return;
    const entry = this.children[index]!;
    if (entry.restarting) return; // already part of a pending restart
    const now = this.clock.now();
    if (!this.window.record(now)) {
      const err = new TributaryError(
        'E_RESTART_INTENSITY',
        `supervisor ${this.name}: more than ${this.intensity.maxRestarts} restarts within ${this.intensity.withinMs} ms (last: ${child.name})`,
        { supervisor: this.name, child: child.name, maxRestarts: this.intensity.maxRestarts, withinMs: this.intensity.withinMs },
        { cause: error },
      );
      await this.escalate(err);
      return;
    }
    if (now - entry.startedAt >= this.intensity.withinMs) entry.failures = 0;
    entry.failures++;
    const targets = restartTargets(this.strategy, this.children.length, index).map((i) => this.children[i]!);
    for (const t of targets) t.restarting = true;
    // Halt the other targets, latest-started first, as OTP does.
    for (const t of [...targets].reverse()) {
      if (t !== entry) await t.child.halt(`sibling ${child.name} failed`).catch(() => {});
    }
    const delayMs = backoffDelay(this.backoff, entry.failures, this.deps.random);
    this.deps.events?.emit({ type: '@supervisor.restarting', supervisor: this.name, children: targets.map((t) => t.child.name), delayMs });
    await this.sleep(delayMs);
    if (this.state !== 'running') return;
    for (const t of targets) {
      if (!this.children.includes(t)) continue; // removed meanwhile
      try {
        await t.child.restart();
        t.startedAt = this.clock.now();
        t.restarting = false;
      } catch (err) {
        t.restarting = false;
        await this.childFailed(t.child, err);
        return;
      }
    }
  }

  /** As a child of another supervisor: start all children again, with a fresh intensity window. */
  async restart(): Promise<void> {
    this.state = 'running';
    this.window.reset();
    for (const c of this.children) {
      await c.child.restart();
      c.startedAt = this.clock.now();
      c.failures = 0;
      c.restarting = false;
    }
  }

  async halt(reason: string): Promise<void> {
    for (const c of [...this.children].reverse()) await c.child.halt(reason).catch(() => {});
  }

  /** Cancels pending restarts; used when the system stops. */
  dispose(): void {
    this.state = 'disposed';
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    for (const c of this.children) if (c.child instanceof Supervisor) c.child.dispose();
  }

  private async escalate(error: TributaryError): Promise<void> {
    this.state = 'failed';
    this.deps.events?.emit({ type: '@supervisor.escalated', supervisor: this.name, error: serializeError(error) });
    await this.halt(`supervisor ${this.name} escalated`);
    if (this.parent) await this.parent.childFailed(this, error);
    else this.deps.onFatal?.(error);
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const h = this.clock.setTimeout(() => {
        this.timers.delete(h);
        resolve();
      }, ms);
      this.timers.add(h);
    });
  }
}
