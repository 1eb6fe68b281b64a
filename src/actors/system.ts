import os from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { TributaryError, serializeError, type ErrorCode, type SerializedError } from '../errors.js';
import { Doorbell } from '../mailbox/doorbell.js';
import { FrameKind } from '../mailbox/layout.js';
import { RingWriter, createRing, ringStats, shutdownRing, type RingHandle } from '../mailbox/ring.js';
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from '../supervisor/backoff.js';
import { systemClock, type Clock } from '../supervisor/clock.js';
import { DEFAULT_INTENSITY, type Intensity } from '../supervisor/intensity.js';
import type { Strategy } from '../supervisor/strategy.js';
import { Supervisor, type SupervisorSpec } from '../supervisor/supervisor.js';
import type { ActorRef, BehaviourRef } from './behaviour.js';
import { EventBus, type RuntimeListener } from './events.js';
import type { HostConfig, HostEvent } from './host/protocol.js';
import { ActorStatus, HEALTH_CODES, MAIN_THREAD, MAX_REPLICAS, THREAD_SLOT, T_CURRENT_ACTOR, T_CURRENT_POS, T_CURRENT_RING, seqLE } from './layout.js';
import { ActorRecord, actorUnavailable } from './record.js';
import { Tables, createSharedTables } from './shared.js';
import { ActorThread } from './thread.js';

export interface ActorSystemOptions {
  /** Worker threads hosting actors. Default: available cores. */
  readonly workers?: number;
  /** Bytes of each ring between two threads (a power of two). Default 4 MiB. */
  readonly ringBytes?: number;
  /** Actor ids available (primaries and replicas). Default 4096. */
  readonly maxActors?: number;
  /** Idle workers report in at least this often. Default 250 ms. */
  readonly heartbeatMs?: number;
  /** A worker silent this long is hung: terminated and restarted. Default 10 s. */
  readonly hangTimeoutMs?: number;
  /** Longest a send waits for room in a full ring before E_TIMEOUT. Default 5 s. */
  readonly sendTimeoutMs?: number;
  /** Default timeout of ask(). Default 5 s. */
  readonly askTimeoutMs?: number;
  /** A frame that crashes its actor this many times in a row is dead-lettered. Default 3. */
  readonly poisonAttempts?: number;
  /** NDJSON file of dead letters. Default ./data/dead-letters.ndjson. */
  readonly deadLetterPath?: string;
  /** Frames drained from one ring per scheduler turn. Default 64. */
  readonly framesPerTurn?: number;
  /** V8 limits per worker (an out-of-memory stop is a restartable failure). */
  readonly resourceLimits?: ResourceLimits;
  /** How long a restarting actor waits for a replica's snapshot. Default 5 s. */
  readonly snapshotTimeoutMs?: number;
  /**
   * Delay before a dead worker thread is started again, when it died more than
   * once within 10 s: the 2nd death waits initialMs, doubling up to maxMs. The
   * first death restarts at once. Default 10 ms .. 1 s.
   */
  readonly workerRestartBackoff?: BackoffPolicy;
  /** How long stop() lets actors drain their mailboxes. Default 5 s. */
  readonly drainTimeoutMs?: number;
  /** The root supervisor's policy. */
  readonly supervisor?: { strategy?: Strategy; intensity?: Intensity; backoff?: BackoffPolicy };
  readonly clock?: Clock;
}

export interface ActorSpec<Args = unknown> {
  /** Unique name; default: behaviour export name plus id. */
  readonly name?: string;
  readonly behaviour: BehaviourRef;
  readonly args?: Args;
  /** Replica actors on other worker threads that receive the same frames. Default 0. */
  readonly replicas?: number;
  /** Worker thread (1-based) for the primary. Default: the least loaded. */
  readonly thread?: number;
  /** Supervisor to place it under. Default: the root. */
  readonly supervisor?: Supervisor;
}

export interface ActorStats {
  readonly id: number;
  readonly name: string;
  readonly thread: number;
  readonly role: 'primary' | 'replica';
  readonly status: 'starting' | 'running' | 'restarting' | 'stopped';
  /** Frames addressed to the actor and not yet consumed. */
  readonly mailboxDepth: number;
  /** Frames consumed: handled, skipped as already in a restored state, or dead-lettered. */
  readonly framesHandled: number;
  readonly restarts: number;
  readonly lastFailure?: SerializedError & { at: string };
  /** Why the actor holds frames back (ctx.setHealth), if it does. */
  readonly health?: string;
  readonly replicas: ActorStats[];
}

const STATUS_NAMES = ['starting', 'starting', 'running', 'restarting', 'stopped'] as const;
/** Deaths of one worker thread within this window make its next restart wait longer. */
const THREAD_DEATH_WINDOW_MS = 10_000;

/**
 * The programmatic API of Tributary's actor runtime: supervised actors on
 * worker threads, exchanging binary frames through shared-memory rings.
 *
 *   const system = await ActorSystem.start({ workers: 2 });
 *   const counter = await system.spawn({ behaviour: { module: new URL('./counter.js', import.meta.url) } });
 *   await system.send(counter, bytes);
 *   const total = await system.ask(counter, { get: true });
 *   await system.stop();
 */
export class ActorSystem {
  readonly events = new EventBus();
  readonly root: Supervisor;
  readonly workers: number;
  private readonly tables: Tables;
  private readonly threads: ActorThread[] = [];
  private readonly rings: RingHandle[][] = []; // [from][to]
  private readonly mainWriters: RingWriter[] = [];
  private readonly records = new Map<number, ActorRecord>();
  private readonly byName = new Map<string, ActorRecord>();
  private readonly opts: Required<Omit<ActorSystemOptions, 'resourceLimits' | 'supervisor' | 'clock' | 'workers'>>;
  private readonly clock: Clock;
  private readonly threadDeaths: number[][] = [];
  /** Pending worker restarts, cancelled (and released) by stop(). */
  private readonly restartTimers = new Map<NodeJS.Timeout, () => void>();
  private nextId = 1;
  /** Per destination thread, the last frame write from the main thread: writes to one ring go in call order, and wait only for each other. */
  private readonly ringTails: Promise<void>[] = [];
  private state: 'running' | 'stopping' | 'stopped' | 'failed' = 'running';
  private fatal: TributaryError | undefined;

  private constructor(options: ActorSystemOptions) {
    this.workers = options.workers ?? Math.max(1, os.availableParallelism());
    if (!Number.isInteger(this.workers) || this.workers < 1 || this.workers > 64) {
      throw new TributaryError('E_INVALID_ARGUMENT', `workers must be an integer 1-64, got ${options.workers}`, { workers: options.workers });
    }
    this.opts = {
      ringBytes: options.ringBytes ?? 4 << 20,
      maxActors: options.maxActors ?? 4096,
      heartbeatMs: options.heartbeatMs ?? 250,
      hangTimeoutMs: options.hangTimeoutMs ?? 10_000,
      sendTimeoutMs: options.sendTimeoutMs ?? 5_000,
      askTimeoutMs: options.askTimeoutMs ?? 5_000,
      poisonAttempts: options.poisonAttempts ?? 3,
      deadLetterPath: resolve(options.deadLetterPath ?? 'data/dead-letters.ndjson'),
      framesPerTurn: options.framesPerTurn ?? 64,
      snapshotTimeoutMs: options.snapshotTimeoutMs ?? 5_000,
      drainTimeoutMs: options.drainTimeoutMs ?? 5_000,
      workerRestartBackoff: options.workerRestartBackoff ?? { initialMs: 10, maxMs: 1000, jitter: 0 },
    };
    this.clock = options.clock ?? systemClock;
    const threads = this.workers + 1;
    this.tables = new Tables(createSharedTables(threads, this.opts.maxActors));
    // One doorbell per receiving thread, shared by all rings into it; one ring per (from, to).
    const bells = Array.from({ length: threads }, () => new Doorbell());
    for (let from = 0; from < threads; from++) {
      this.rings.push(bells.map((bell) => createRing(this.opts.ringBytes, bell)));
    }
    for (let to = 0; to < threads; to++) {
      this.mainWriters.push(new RingWriter(this.rings[MAIN_THREAD]![to]!));
      this.ringTails.push(Promise.resolve());
    }
    this.root = new Supervisor(
      {
        name: 'root',
        strategy: options.supervisor?.strategy ?? 'one_for_one',
        intensity: options.supervisor?.intensity ?? DEFAULT_INTENSITY,
        backoff: options.supervisor?.backoff ?? DEFAULT_BACKOFF,
      },
      { clock: this.clock, events: this.events, onFatal: (err) => void this.onFatal(err) },
    );
  }

  /** Starts the worker threads and returns the running system. */
  static async start(options: ActorSystemOptions = {}): Promise<ActorSystem> {
    const system = new ActorSystem(options);
    try {
      await system.startThreads(options.resourceLimits);
    } catch (err) {
      await system.stop();
      throw err;
    }
    return system;
  }

  private async startThreads(resourceLimits: ResourceLimits | undefined): Promise<void> {
    const config: HostConfig = {
      heartbeatMs: this.opts.heartbeatMs,
      framesPerTurn: this.opts.framesPerTurn,
      poisonAttempts: this.opts.poisonAttempts,
      deadLetterPath: this.opts.deadLetterPath,
      sendTimeoutMs: this.opts.sendTimeoutMs,
    };
    const threads = this.workers + 1;
    for (let t = 1; t < threads; t++) {
      const thread = new ActorThread(
        t,
        {
          tables: this.tables.shared,
          doorbell: this.rings[MAIN_THREAD]![t]!.doorbell,
          incoming: this.rings.map((row) => row[t]!),
          outgoing: this.rings[t]!,
          config,
          resourceLimits,
          hangTimeoutMs: this.opts.hangTimeoutMs,
        },
        {
          onEvent: (thread, event) => this.onHostEvent(thread, event),
          onExit: (thread, code, error) => void this.onThreadExit(thread, code, error),
          onHung: (thread, silentMs) => this.events.emit({ type: '@worker.hung', thread, silentMs }),
        },
      );
      this.threads.push(thread);
      this.threadDeaths.push([]);
    }
    await Promise.all(this.threads.map((t) => t.start()));
    for (const t of this.threads) this.events.emit({ type: '@worker.started', thread: t.index, restarts: 0 });
  }

  /** Subscribes to runtime events; returns the unsubscribe function. */
  subscribe(listener: RuntimeListener): () => void {
    return this.events.subscribe(listener);
  }

  /** Creates a supervisor under `parent` (default root) to group actors with their own policy. */
  supervisor(spec: SupervisorSpec, parent: Supervisor = this.root): Supervisor {
    return parent.supervisor(spec);
  }

  /** Starts an actor (and its replicas) and puts it under a supervisor. */
  async spawn<Args>(spec: ActorSpec<Args>): Promise<ActorRef> {
    this.assertRunning();
    const replicas = spec.replicas ?? 0;
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
      throw new TributaryError('E_INVALID_ARGUMENT', `replicas must be 0-${MAX_REPLICAS}, got ${spec.replicas}`, { replicas: spec.replicas });
    }
    if (replicas + 1 > this.workers) {
      throw new TributaryError('E_PLACEMENT', `${replicas} replicas need ${replicas + 1} worker threads, the system has ${this.workers}`, {
        replicas,
        workers: this.workers,
      });
    }
    const module = moduleUrl(spec.behaviour.module);
    const exportName = spec.behaviour.export ?? 'default';
    const threads = this.place(spec.thread, replicas);
    const ids = threads.map(() => this.allocateId());
    const baseName = spec.name ?? `${exportName === 'default' ? basename(module) : exportName}-${ids[0]}`;
    if (this.byName.has(baseName)) throw new TributaryError('E_INVALID_ARGUMENT', `an actor named ${baseName} exists`, { name: baseName });
    const definition = { module, exportName, args: spec.args };
    const deps = { tables: this.tables, events: this.events, threads: this.threads, snapshotTimeoutMs: this.opts.snapshotTimeoutMs };
    const members = ids.map(
      (id, i) => new ActorRecord(id, i === 0 ? baseName : `${baseName}#r${i}`, threads[i]!, i === 0 ? 'primary' : 'replica', ids[0]!, definition, deps),
    );
    for (const m of members) m.peers = members.filter((p) => p !== m);
    // The primary's table slot lists its replicas: senders fan frames out from it.
    members.forEach((m, i) => this.tables.place(m.id, m.thread, ids[0]!, i === 0 ? ids.slice(1) : []));
    try {
      for (const m of members) await m.start();
    } catch (err) {
      for (const m of members) this.tables.setStatus(m.id, ActorStatus.FREE);
      throw err;
    }
    const supervisor = spec.supervisor ?? this.root;
    for (const m of members) {
      this.records.set(m.id, m);
      this.byName.set(m.name, m);
      m.supervisor = supervisor;
      supervisor.add(m);
    }
    return members[0]!.ref;
  }

  /** Looks an actor up by name. */
  lookup(name: string): ActorRef | undefined {
    return this.byName.get(name)?.ref;
  }

  /**
   * Sends a frame from the main thread to an actor (and its replicas).
   * Waits (without blocking the event loop) while a ring is full, up to the
   * send timeout. Frames to one actor arrive in call order. Each destination
   * thread's ring has its own queue of writes, so a full ring (a stalled or
   * busy thread) holds back only the frames bound for that thread.
   */
  send(to: ActorRef | number, body: Uint8Array, kind: number = FrameKind.DATA): Promise<number> {
    let rec: ActorRecord;
    try {
      this.assertRunning();
      rec = this.record(to);
      if (rec.stopped) throw new TributaryError('E_NO_SUCH_ACTOR', `actor ${rec.name} is stopped`, { id: rec.id });
    } catch (err) {
      return Promise.reject(err);
    }
    // Numbered now, in call order; each ring's queue keeps that order for the actors it carries.
    const seq = this.tables.nextSeq(MAIN_THREAD, rec.id);
    const writes = [rec, ...rec.peers].map((m) => this.onRing(m.thread, () => this.writeFrame(m, body, kind, seq)));
    return Promise.all(writes).then(() => seq);
  }

  /** Runs `write` after the writes queued before it on the ring to `thread`. */
  private onRing(thread: number, write: () => Promise<void> | void): Promise<void> {
    const run = this.ringTails[thread]!.then(write);
    this.ringTails[thread] = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * Resolves once `to` acknowledged the main thread's frame `seq` (the number
   * send() returned), and `replicas` of its replicas did too. A shard
   * acknowledges when the batch is durable. Rejects with E_TIMEOUT, or at once
   * with the code an actor reports through ctx.setHealth (E_DISK_FULL, ...).
   */
  async whenAcked(to: ActorRef | number, seq: number, options: { timeoutMs?: number; replicas?: number } = {}): Promise<void> {
    const rec = this.record(to);
    const timeoutMs = options.timeoutMs ?? this.opts.sendTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    const members = [rec, ...rec.peers.slice(0, options.replicas ?? 0)];
    const acked = this.tables.acked;
    for (const m of members) {
      const slot = this.tables.ackSlot(m.id, MAIN_THREAD);
      for (;;) {
        const cur = Atomics.load(acked, slot);
        if (cur !== 0 && seqLE(seq, cur >>> 0)) break;
        const health = this.tables.health(m.id);
        if (health !== 0) {
          const code = HEALTH_CODES[health] as ErrorCode;
          throw new TributaryError(code, `${m.name} holds frames back: ${code}`, { actor: m.name, seq });
        }
        const left = deadline - performance.now();
        if (left <= 0 || this.state !== 'running') {
          throw new TributaryError('E_TIMEOUT', `${m.name} did not acknowledge frame ${seq} within ${timeoutMs} ms`, { actor: m.name, seq, timeoutMs });
        }
        // Woken by the ack; re-checks health at least every 100 ms.
        const w = Atomics.waitAsync(acked, slot, cur, Math.min(left, 100));
        if (w.async) await w.value;
      }
    }
  }

  private async writeFrame(m: ActorRecord, body: Uint8Array, kind: number, seq: number): Promise<void> {
    this.assertRunning();
    const writer = this.mainWriters[m.thread]!;
    let view = writer.tryReserve(body.byteLength);
    if (view === null) {
      const started = performance.now();
      view = await writer.reserveAsync(body.byteLength, this.opts.sendTimeoutMs);
      const waited = performance.now() - started;
      if (waited > 1) this.events.emit({ type: '@mailbox.backpressure', fromThread: MAIN_THREAD, toThread: m.thread, waitedMs: waited });
    }
    view.set(body);
    writer.commit(kind, m.id, 0, body.byteLength, seq);
    this.tables.countSent(m.id);
  }

  /**
   * Request and response with an actor's `ask` handler. While the primary
   * restarts, a running replica answers; if none runs, the ask waits for one
   * until the timeout.
   */
  async ask<Res = unknown>(to: ActorRef | number, request: unknown, options: { timeoutMs?: number } = {}): Promise<Res> {
    this.assertRunning();
    const rec = this.record(to);
    const timeoutMs = options.timeoutMs ?? this.opts.askTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const target = [rec, ...rec.peers].find((m) => !m.stopped && m.status === ActorStatus.RUNNING);
      const left = deadline - performance.now();
      if (left <= 0) throw new TributaryError('E_TIMEOUT', `ask to ${rec.name} timed out after ${timeoutMs} ms`, { id: rec.id, timeoutMs });
      if (!target) {
        if (rec.stopped) throw actorUnavailable(rec.name, rec.id);
        await Promise.race([rec.whenRunning(), ...rec.peers.map((p) => p.whenRunning()), delay(left)]);
        continue;
      }
      const call = this.threads[target.thread - 1]!.call('ask', target.id, request);
      // The timer is cleared as soon as the answer comes: a pending timer would hold the answer until it fired.
      let timer: NodeJS.Timeout | undefined;
      try {
        return (await Promise.race([
          call,
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new TributaryError('E_TIMEOUT', `ask to ${rec.name} timed out after ${timeoutMs} ms`, { id: rec.id, timeoutMs })),
              left,
            );
          }),
        ])) as Res;
      } catch (err) {
        // The member died or was restarting under us: try again with whoever runs now.
        if (err instanceof TributaryError && (err.code === 'E_WORKER_DIED' || err.code === 'E_ACTOR_UNAVAILABLE')) continue;
        throw err;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Per-actor statistics; replicas are listed under their primary. */
  stats(): ActorStats[];
  stats(actor: ActorRef | number): ActorStats;
  stats(actor?: ActorRef | number): ActorStats | ActorStats[] {
    if (actor !== undefined) return this.statsOf(this.record(actor));
    return [...this.records.values()].filter((r) => r.role === 'primary').map((r) => this.statsOf(r));
  }

  private statsOf(r: ActorRecord): ActorStats {
    const sent = this.tables.sent(r.id);
    const handled = this.tables.handled(r.id);
    return {
      id: r.id,
      name: r.name,
      thread: r.thread,
      role: r.role,
      status: STATUS_NAMES[r.status],
      mailboxDepth: Math.max(0, sent - handled),
      framesHandled: handled,
      restarts: r.restarts,
      lastFailure: r.lastFailure,
      health: HEALTH_CODES[this.tables.health(r.id)] || undefined,
      replicas: r.role === 'primary' ? r.peers.map((p) => this.statsOf(p)) : [],
    };
  }

  /** Stops an actor and its replicas for good; frames still addressed to it go to the dead-letter file. */
  async stopActor(actor: ActorRef | number): Promise<void> {
    const rec = this.record(actor);
    for (const m of [rec, ...rec.peers]) {
      m.supervisor?.remove(m);
      await m.stop();
    }
  }

  /** Terminates a worker thread as if it had crashed (for tests and chaos drills). */
  async killThread(thread: number): Promise<void> {
    await this.threads[thread - 1]?.kill();
  }

  /** The worker thread hosting an actor (1-based). */
  threadOf(actor: ActorRef | number): number {
    return this.record(actor).thread;
  }

  get status(): 'running' | 'stopping' | 'stopped' | 'failed' {
    return this.state;
  }

  /** The error that made the root supervisor give up, if it did. */
  get failure(): TributaryError | undefined {
    return this.fatal;
  }

  /**
   * Graceful stop: no new sends; actors drain their mailboxes (up to the drain
   * timeout); stop hooks run; worker threads end. Leaves no thread, port or
   * timer behind.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    const failed = this.state === 'failed';
    this.state = 'stopping';
    await Promise.all(this.ringTails);
    if (!failed) await this.drain();
    this.root.dispose();
    for (const [timer, release] of this.restartTimers) {
      clearTimeout(timer);
      release();
    }
    this.restartTimers.clear();
    await Promise.all(this.threads.map((t) => t.stop(this.opts.drainTimeoutMs)));
    for (const row of this.rings) for (const ring of row) shutdownRing(ring);
    this.state = 'stopped';
  }

  private async drain(): Promise<void> {
    const deadline = performance.now() + this.opts.drainTimeoutMs;
    const pending = () => this.rings.some((row) => row.some((ring) => ringStats(ring).pendingBytes > 0));
    while (pending() && performance.now() < deadline && this.threads.every((t) => t.status === 'running')) await delay(2);
  }

  // ---- failures ----

  private onHostEvent(thread: number, event: HostEvent): void {
    switch (event.type) {
      case 'actor-failed': {
        const rec = this.records.get(event.id);
        if (!rec || rec.stopped) return;
        rec.failed(event.error);
        void rec.supervisor?.childFailed(rec, TributaryError.fromJSON(event.error));
        return;
      }
      case 'dead-letter': {
        const rec = this.records.get(event.id);
        this.events.emit({
          type: '@actor.dead-letter',
          actor: rec?.ref ?? { id: event.id, name: String(event.id) },
          reason: event.reason,
          path: this.opts.deadLetterPath,
          frame: event.frame,
        });
        return;
      }
      case 'published': {
        const rec = this.records.get(event.id);
        if (rec) this.events.emit({ type: '@actor.published', actor: rec.ref, payload: event.payload });
        return;
      }
      case 'log': {
        const rec = event.id !== undefined ? this.records.get(event.id) : undefined;
        this.events.emit({ type: '@log', level: event.level, message: event.message, actor: rec?.ref, fields: { ...event.fields, thread } });
        return;
      }
      case 'ready':
        return;
    }
  }

  private async onThreadExit(thread: number, code: number, error: SerializedError | undefined): Promise<void> {
    this.events.emit({ type: '@worker.exited', thread, code, error });
    if (this.state !== 'running') return;
    // Whatever the thread was handling when it died is a crash of that actor on that frame.
    const base = (thread * THREAD_SLOT) as number;
    const control = this.tables.control;
    const culprit = Atomics.load(control, base + T_CURRENT_ACTOR);
    if (culprit !== 0) this.tables.recordCrash(culprit, Atomics.load(control, base + T_CURRENT_RING), Atomics.load(control, base + T_CURRENT_POS));
    Atomics.store(control, base + T_CURRENT_ACTOR, 0);
    const victims = [...this.records.values()].filter((r) => r.thread === thread && !r.stopped);
    const reason: SerializedError = error ?? { name: 'TributaryError', code: 'E_WORKER_DIED', message: `worker thread ${thread} exited with code ${code}` };
    const bystander = culprit ? { ...reason, message: `${reason.message} (while actor ${culprit} was handling a frame)` } : reason;
    for (const r of victims) r.failed(r.id === culprit ? reason : bystander);
    const t = this.threads[thread - 1]!;
    // Restarting the thread is infrastructure, not policy: the slot must exist for its actors to come back.
    // Only a thread that keeps dying waits (workerRestartBackoff); the actors' supervisors decide the rest.
    const recent = this.threadDeaths[thread - 1]!;
    const now = performance.now();
    while (recent.length > 0 && now - recent[0]! > THREAD_DEATH_WINDOW_MS) recent.shift();
    recent.push(now);
    // A ref'd timer: between a worker's death and its successor nothing else may keep the process alive.
    await this.restartDelay(recent.length <= 1 ? 0 : backoffDelay(this.opts.workerRestartBackoff, recent.length - 1));
    if (this.state !== 'running') return;
    try {
      await t.start();
      this.events.emit({ type: '@worker.started', thread, restarts: t.starts - 1 });
    } catch {
      return; // it died again while starting: its exit handler takes over
    }
    for (const r of victims) void r.supervisor?.childFailed(r, TributaryError.fromJSON(reason));
  }

  private restartDelay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        resolve();
      }, ms);
      this.restartTimers.set(timer, resolve);
    });
  }

  private async onFatal(err: TributaryError): Promise<void> {
    this.fatal = err;
    this.events.emit({ type: '@log', level: 'error', message: `root supervisor gave up: ${err.message}`, fields: { error: serializeError(err) } });
    if (this.state === 'running') {
      this.state = 'failed';
      await this.stop();
    }
  }

  // ---- helpers ----

  private record(to: ActorRef | number): ActorRecord {
    const id = typeof to === 'number' ? to : to.id;
    const rec = this.records.get(id);
    if (!rec) throw new TributaryError('E_NO_SUCH_ACTOR', `no actor with id ${id}`, { id });
    return rec;
  }

  private allocateId(): number {
    if (this.nextId >= this.opts.maxActors) {
      throw new TributaryError('E_ACTOR_LIMIT', `all ${this.opts.maxActors - 1} actor ids are in use (maxActors)`, { maxActors: this.opts.maxActors });
    }
    return this.nextId++;
  }

  /**
   * Threads for a primary and its replicas: all different. The primary goes
   * where the fewest primaries are (they do the work: appends, seals,
   * queries; a replica holds a tail), then the fewest actors; replicas where
   * the fewest actors are. Measured: counting every actor alike put both
   * shards' primaries on one thread of two, and every query's fan-out ran
   * serially there while the other thread idled.
   */
  private place(preferred: number | undefined, replicas: number): number[] {
    const load = new Map<number, number>();
    const primaries = new Map<number, number>();
    for (let t = 1; t <= this.workers; t++) {
      load.set(t, 0);
      primaries.set(t, 0);
    }
    for (const r of this.records.values()) {
      if (r.stopped) continue;
      load.set(r.thread, (load.get(r.thread) ?? 0) + 1);
      if (r.role === 'primary') primaries.set(r.thread, (primaries.get(r.thread) ?? 0) + 1);
    }
    if (preferred !== undefined && (!Number.isInteger(preferred) || preferred < 1 || preferred > this.workers)) {
      throw new TributaryError('E_PLACEMENT', `thread ${preferred} does not exist (1-${this.workers})`, { thread: preferred });
    }
    const threads = [...load.keys()];
    const primary = preferred ?? [...threads].sort((a, b) => primaries.get(a)! - primaries.get(b)! || load.get(a)! - load.get(b)! || a - b)[0]!;
    const byLoad = threads.filter((t) => t !== primary).sort((a, b) => load.get(a)! - load.get(b)! || a - b);
    return [primary, ...byLoad.slice(0, replicas)];
  }

  private assertRunning(): void {
    if (this.state !== 'running') {
      throw new TributaryError('E_SYSTEM_STOPPED', `the actor system is ${this.state}`, { state: this.state }, { cause: this.fatal });
    }
  }
}

function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (/^[a-z]+:/i.test(module)) return module;
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
}

function basename(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1).replace(/\.[cm]?js$/, '');
}

/** A timer that never keeps the process alive on its own (used in races with real work). */
function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
