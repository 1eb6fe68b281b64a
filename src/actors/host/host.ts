import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as Comlink from 'comlink';
import { TributaryError, serializeError } from '../../errors.js';
import { Doorbell } from '../../mailbox/doorbell.js';
import { FrameKind } from '../../mailbox/layout.js';
import { Inbox } from '../../mailbox/inbox.js';
import { RingWriter, type Frame } from '../../mailbox/ring.js';
import type { ActorContext, Behaviour } from '../behaviour.js';
import { ActorStatus, HEALTH_CODES, THREAD_SLOT, T_CONTROL, T_CURRENT_ACTOR, T_CURRENT_POS, T_CURRENT_RING, T_HEARTBEAT, T_STOP, seqLE } from '../layout.js';
import { Tables } from '../shared.js';
import { transfersOf } from '../transfer.js';
import type { ActorLocalStats, HostApi, HostConfig, HostEvent, HostInit, Result, SpawnRequest } from './protocol.js';

interface Instance {
  readonly id: number;
  readonly name: string;
  readonly behaviour: Behaviour<unknown, unknown, unknown, unknown>;
  readonly ctx: ActorContext;
  readonly args: unknown;
  state: unknown;
  running: boolean;
  /** After a restore: frames with seq <= skip[ring] are already in the restored state. */
  skip: Uint32Array | null;
  handled: number;
  lastError: string;
}

/** Longest a busy scheduler runs before yielding to its event loop (control messages, asks). */
const YIELD_MS = 4;
/** Longest a park blocks the thread before it waits asynchronously instead (see run()). */
const BLOCKING_PARK_MS = 1;

/**
 * Hosts many actors on one worker thread. One scheduler loop drains the
 * thread's inbox (a ring per sending thread) round-robin, dispatching frames
 * to actors by destination id, and yields to the event loop regularly so the
 * control plane (spawn, ask, snapshot) is served between turns.
 *
 * Crash safety: a frame is committed only after its actor handled it; the
 * frame being handled is recorded in shared memory (T_CURRENT_*), so if the
 * thread dies the supervisor knows which actor and frame killed it.
 */
export class ActorHost {
  readonly thread: number;
  private readonly tables: Tables;
  private readonly inbox: Inbox;
  private readonly writers: RingWriter[];
  private readonly doorbell: Doorbell;
  private readonly actors = new Map<number, Instance>();
  private readonly config: HostConfig;
  private readonly modules = new Map<string, Promise<Record<string, unknown>>>();
  /** Set by ctx.retryLater during a receive: the frame stays unconsumed, retried after this many ms. */
  private retryMs = -1;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Actors that asked to be resumed on a later turn. */
  private readonly resumes = new Set<number>();
  /** Rings whose consumers were asked (requestRoom) to wake this thread when they free room. */
  private readonly awaitingRoom = new Set<RingWriter>();
  /** Actors whose last try-send found no room: their resume can wait for a consumer to ring. */
  private readonly roomWaiters = new Set<number>();
  private wakeRequested = false;
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private deadLetterDirReady = false;

  constructor(
    init: HostInit,
    private readonly post: (event: HostEvent) => void,
  ) {
    this.thread = init.thread;
    this.config = init.config;
    this.tables = new Tables(init.tables);
    this.inbox = new Inbox({ doorbell: init.incoming[0]!.doorbell, wait: { spins: 0 } });
    // outgoing[x].doorbell is thread x's doorbell: rung when x waits for room in the ring x -> here.
    init.incoming.forEach((h, from) => this.inbox.attach(h, from, init.outgoing[from]!.doorbell));
    // A send blocked on a full ring still beats the heart: backpressure is not a hang.
    const heartbeat = () => Atomics.add(this.tables.control, this.thread * THREAD_SLOT + T_HEARTBEAT, 1);
    this.writers = init.outgoing.map((h) => new RingWriter(h, { spins: 64, sliceMs: Math.max(1, init.config.heartbeatMs / 2), onSlice: heartbeat }));
    this.doorbell = new Doorbell(init.incoming[0]!.doorbell);
  }

  start(): void {
    this.loopDone = this.run();
  }

  /** The scheduler. Returns when shutdown is requested. */
  private async run(): Promise<void> {
    const control = this.tables.control;
    const heartbeatSlot = this.thread * THREAD_SLOT + T_HEARTBEAT;
    const controlSlot = this.thread * THREAD_SLOT + T_CONTROL;
    // Control messages posted before this was read are delivered by the next yield to the event loop.
    let controlSeen = Atomics.load(control, controlSlot);
    let lastYield = performance.now();
    while (!this.stopping && Atomics.load(control, this.thread * THREAD_SLOT + T_STOP) === 0) {
      Atomics.add(control, heartbeatSlot, 1);
      // Bounded by time as well as frames: a 1 MiB frame measured up to 11 ms to append, so 64 of them could hold off asks (queries) for hundreds of ms.
      const handled = this.inbox.drain(this.dispatch, this.config.framesPerTurn, lastYield + YIELD_MS);
      if (this.resumes.size > 0) this.runResumes();
      const now = performance.now();
      if (handled > 0 || this.yielded()) {
        if (now - lastYield >= YIELD_MS) {
          controlSeen = Atomics.load(control, controlSlot);
          await new Promise<void>((r) => setImmediate(r));
          lastYield = performance.now();
        }
        continue;
      }
      this.wakeRequested = false;
      // Idle, or every ring with data is blocked behind an actor that is
      // restarting, or put-off work (resumeLater) waits for room that a
      // consumer will ring this doorbell for. Park in two steps:
      // 1. a blocking Atomics.wait of at most BLOCKING_PARK_MS: it wakes in
      //    microseconds, where Atomics.waitAsync resolves through the event
      //    loop in hundreds (measured: half of two busy threads' time went to
      //    waking when every park was async);
      // 2. then Atomics.waitAsync, so a thread idle for longer keeps its event
      //    loop running: a behaviour's dynamic import, file I/O and timers need
      //    several turns of it (measured: a spawn took a second when every
      //    park blocked for half a heartbeat).
      // The main thread bumps T_CONTROL and rings after each control message,
      // so a message posted before controlSeen was read is delivered by the
      // yield below, and one posted after it ends the park.
      const ready = () => this.wakeRequested || Atomics.load(control, controlSlot) !== controlSeen || this.roomGranted() || this.runnable();
      if (this.doorbell.park(ready, BLOCKING_PARK_MS) === 'timed-out') {
        controlSeen = Atomics.load(control, controlSlot);
        await this.doorbell.parkAsync(ready, this.config.heartbeatMs / 2);
      }
      controlSeen = Atomics.load(control, controlSlot);
      await new Promise<void>((r) => setImmediate(r));
      lastYield = performance.now();
    }
  }

  /** Runs the resume hooks requested so far (not those requested while running them: they wait a turn). */
  private runResumes(): number {
    const ids = [...this.resumes];
    this.resumes.clear();
    let ran = 0;
    for (const id of ids) {
      const a = this.actors.get(id);
      if (!a || !a.running || !a.behaviour.resume) continue;
      try {
        const next = a.behaviour.resume(a.state, a.ctx);
        if (next !== undefined) a.state = next;
        ran++;
      } catch (err) {
        this.fail(a, err, undefined);
      }
    }
    return ran;
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer) return; // one pending retry unblocks every ring
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.unblock();
    }, ms);
  }

  /** True when some actor asked to resume for a reason other than waiting for room: it has work now. */
  private yielded(): boolean {
    for (const id of this.resumes) if (!this.roomWaiters.has(id)) return true;
    return false;
  }

  /** True (and forgets the requests) once any ring we wait for room in has freed some. */
  private roomGranted(): boolean {
    for (const w of this.awaitingRoom) {
      if (w.roomGranted()) {
        this.awaitingRoom.clear();
        this.roomWaiters.clear();
        return true;
      }
    }
    return false;
  }

  private runnable(): boolean {
    return this.inbox.runnable();
  }

  /** Something changed (an actor started or stopped): retry blocked rings and wake the loop. */
  private unblock(): void {
    this.inbox.unblockAll();
    this.wakeRequested = true;
    this.doorbell.ring();
  }

  private readonly dispatch = (f: Frame): boolean => {
    const id = f.dest;
    const a = this.actors.get(id);
    if (a === undefined || !a.running) {
      const status = id > 0 && id < this.tables.maxActors ? this.tables.status(id) : ActorStatus.FREE;
      if (status === ActorStatus.FREE || status === ActorStatus.STOPPED) {
        this.deadLetter(id, f, status === ActorStatus.STOPPED ? 'actor stopped' : 'no such actor');
        if (status === ActorStatus.STOPPED) this.tables.countHandled(id);
        return true;
      }
      return false; // starting or restarting: wait for it, keeping the frame (its ring is blocked until then)
    }
    const ring = f.from;
    const crashes = this.tables.crashesAt(id, ring, f.position);
    if (crashes >= this.config.poisonAttempts) {
      this.deadLetter(id, f, `crashed its actor ${crashes} times in a row: ${a.lastError}`);
      this.tables.clearCrashes(id);
      if (f.seq !== 0) this.tables.setApplied(id, ring, f.seq);
      this.tables.countHandled(id);
      return true;
    }
    if (a.skip !== null && f.seq !== 0 && seqLE(f.seq, a.skip[ring]!)) {
      this.tables.countHandled(id); // consumed: the restored state already contains it
      return true;
    }
    const control = this.tables.control;
    const base = this.thread * THREAD_SLOT;
    Atomics.store(control, base + T_CURRENT_RING, ring);
    Atomics.store(control, base + T_CURRENT_POS, f.position);
    Atomics.store(control, base + T_CURRENT_ACTOR, id);
    try {
      const next = a.behaviour.receive(a.state, f, a.ctx);
      if (next !== undefined) a.state = next;
    } catch (err) {
      Atomics.store(control, base + T_CURRENT_ACTOR, 0);
      this.retryMs = -1;
      this.fail(a, err, f);
      return false;
    }
    Atomics.store(control, base + T_CURRENT_ACTOR, 0);
    if (this.retryMs >= 0) {
      // The actor cannot take this frame now: leave it (and its ring) for later.
      this.scheduleRetry(this.retryMs);
      this.retryMs = -1;
      return false;
    }
    if (f.seq !== 0) this.tables.setApplied(id, ring, f.seq);
    this.tables.countHandled(id);
    a.handled++;
    if (crashes > 0) this.tables.clearCrashes(id); // it got through this time: not a poison frame
    return true;
  };

  private fail(a: Instance, err: unknown, f: Frame | undefined): void {
    const count = f ? this.tables.recordCrash(a.id, f.from, f.position) : 0;
    a.running = false;
    dispose(a);
    a.lastError = err instanceof Error ? err.message : String(err);
    // Only a running actor becomes "restarting": a stop that raced with this failure wins.
    this.tables.transition(a.id, ActorStatus.RUNNING, ActorStatus.RESTARTING);
    const error = serializeError(err);
    this.post({
      type: 'actor-failed',
      id: a.id,
      error: { ...error, context: { ...error.context, crashesOnFrame: count } },
      frame: f ? { ring: f.from, position: f.position, seq: f.seq } : undefined,
    });
  }

  private deadLetter(id: number, f: Frame, reason: string): void {
    const path = this.config.deadLetterPath;
    const record = {
      time: new Date().toISOString(),
      actor: id,
      name: this.actors.get(id)?.name,
      reason,
      thread: this.thread,
      ring: f.from,
      position: f.position >>> 0,
      seq: f.seq,
      kind: f.kind,
      sender: f.sender,
      bytes: f.length,
      body: Buffer.from(f.body).toString('base64'),
    };
    try {
      if (!this.deadLetterDirReady) {
        mkdirSync(dirname(path), { recursive: true });
        this.deadLetterDirReady = true;
      }
      // Written before the frame is committed: a dead letter is never lost in between.
      appendFileSync(path, JSON.stringify(record) + '\n');
    } catch (err) {
      this.post({ type: 'log', level: 'error', message: `cannot write dead letter to ${path}: ${(err as Error).message}`, id, fields: { reason } });
    }
    this.post({ type: 'dead-letter', id, reason, frame: { ring: f.from, position: f.position >>> 0, seq: f.seq } });
  }

  // ---- sending (used by actor contexts) ----

  send(sender: number, dest: number, body: Uint8Array, kind: number): void {
    this.checkDest(dest);
    const seq = this.tables.nextSeq(this.thread, dest);
    this.write(this.tables.thread(dest), kind, dest, sender, seq, body);
    this.tables.countSent(dest);
    for (const r of this.tables.replicas(dest)) {
      this.write(this.tables.thread(r), kind, r, sender, seq, body);
      this.tables.countSent(r);
    }
  }

  /** Builds a frame in place; with `tryOnly`, returns false instead of waiting when there is no room. */
  sendBuilt(sender: number, dest: number, maxBytes: number, build: (view: Uint8Array) => number, kind: number, tryOnly = false): boolean {
    this.checkDest(dest);
    const thread = this.tables.thread(dest);
    const writer = this.writers[thread]!;
    const view = tryOnly || thread === this.thread ? writer.tryReserve(maxBytes) : writer.reserve(maxBytes, this.config.sendTimeoutMs);
    if (view === null) {
      if (!tryOnly) throw mailboxFull(dest);
      // The consumer will ring our doorbell when it frees room: a resumeLater() then parks, not polls.
      writer.requestRoom(maxBytes);
      this.awaitingRoom.add(writer);
      this.roomWaiters.add(sender);
      return false;
    }
    let length: number;
    try {
      length = build(view);
    } catch (err) {
      writer.abort();
      throw err;
    }
    const seq = this.tables.nextSeq(this.thread, dest);
    writer.commit(kind, dest, sender, length, seq);
    this.tables.countSent(dest);
    // Replicas get a copy of the committed bytes: only this thread writes this ring, so they stay put.
    for (const r of this.tables.replicas(dest)) {
      this.write(this.tables.thread(r), kind, r, sender, seq, view.subarray(0, length));
      this.tables.countSent(r);
    }
    return true;
  }

  /** send, or false when the primary's ring has no room now (replica copies still wait for room). */
  trySend(sender: number, dest: number, body: Uint8Array, kind: number): boolean {
    return this.sendBuilt(sender, dest, body.byteLength, (view) => (view.set(body), body.byteLength), kind, true);
  }

  /** A send to an actor that never existed is a bug; one to a stopped actor ends in the dead-letter file (the receiving thread writes it). */
  private checkDest(dest: number): void {
    this.tables.checkId(dest);
    if (this.tables.status(dest) === ActorStatus.FREE) {
      throw new TributaryError('E_NO_SUCH_ACTOR', `no actor ${dest} to send to`, { dest });
    }
  }

  private write(thread: number, kind: number, dest: number, sender: number, seq: number, body: Uint8Array): void {
    const writer = this.writers[thread]!;
    if (thread === this.thread) {
      // This thread is the consumer of its own ring: waiting for room would wait forever.
      if (!writer.tryPush(kind, dest, body, sender, seq)) throw mailboxFull(dest);
    } else {
      writer.push(kind, dest, body, sender, seq, this.config.sendTimeoutMs);
    }
  }

  // ---- control plane ----

  readonly api: HostApi = {
    spawn: (req) => result(() => this.spawn(req)),
    halt: (id, final) => result(() => this.halt(id, final)),
    ask: async (id, request) => {
      const answer = await result(() => this.ask(id, request));
      // A binary answer's buffers move to the asking thread rather than being cloned.
      const buffers = answer.ok ? transfersOf(answer.value) : undefined;
      return buffers ? Comlink.transfer(answer, buffers) : answer;
    },
    snapshot: (id, minVector, timeoutMs) => result(() => this.snapshot(id, minVector, timeoutMs)),
    stats: () => result(() => this.stats()),
    ping: () => result(() => performance.now()),
    shutdown: () => result(() => this.shutdown()),
    exit: (code) =>
      result(() => {
        setImmediate(() => process.exit(code));
      }),
  };

  private async spawn(req: SpawnRequest): Promise<{ incarnation: number }> {
    const behaviour = await this.loadBehaviour(req.module, req.exportName);
    const ctx = this.context(req);
    let state: unknown;
    if (req.restore) {
      state = behaviour.restore ? await behaviour.restore(req.restore.snapshot, req.args, ctx) : req.restore.snapshot;
      this.tables.setAppliedVector(req.id, req.restore.vector);
    } else {
      state = await behaviour.init(req.args, ctx);
    }
    this.actors.set(req.id, {
      id: req.id,
      name: req.name,
      behaviour,
      ctx,
      args: req.args,
      state,
      running: true,
      skip: req.restore ? Uint32Array.from(req.restore.vector) : null,
      handled: 0,
      lastError: req.lastFailure ?? '',
    });
    this.tables.setStatus(req.id, ActorStatus.RUNNING);
    const incarnation = this.tables.bumpIncarnation(req.id);
    this.unblock();
    return { incarnation };
  }

  /**
   * Stops an actor between two of its frames (this runs on the actor's own
   * thread, so never in the middle of a handler). `final`: stopped for good,
   * its stop hook runs and later frames go to the dead-letter file; otherwise
   * its frames wait for a restart.
   */
  private async halt(id: number, final: boolean): Promise<void> {
    this.tables.setStatus(id, final ? ActorStatus.STOPPED : ActorStatus.RESTARTING);
    const a = this.actors.get(id);
    if (!a) return this.unblock();
    a.running = false;
    this.actors.delete(id);
    try {
      if (final && a.behaviour.stop) await a.behaviour.stop(a.state, a.ctx);
    } finally {
      dispose(a);
      this.unblock();
    }
  }

  private async ask(id: number, request: unknown): Promise<unknown> {
    const a = this.actors.get(id);
    if (!a || !a.running) throw new TributaryError('E_ACTOR_UNAVAILABLE', `actor ${id} is not running on thread ${this.thread}`, { id, thread: this.thread });
    if (!a.behaviour.ask) throw new TributaryError('E_INVALID_ARGUMENT', `actor ${a.name} (${id}) does not answer asks`, { id });
    return a.behaviour.ask(a.state, request, a.ctx);
  }

  private async snapshot(id: number, minVector: number[], timeoutMs: number): Promise<{ snapshot: unknown; vector: number[] }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const a = this.actors.get(id);
      if (!a || !a.running) throw new TributaryError('E_ACTOR_UNAVAILABLE', `actor ${id} cannot give a snapshot: not running`, { id });
      const vector = this.tables.appliedVector(id);
      if (minVector.every((min, t) => min === 0 || seqLE(min, vector[t]!))) {
        return { snapshot: a.behaviour.snapshot ? a.behaviour.snapshot(a.state) : a.state, vector };
      }
      if (performance.now() > deadline) {
        throw new TributaryError('E_TIMEOUT', `actor ${id} did not catch up with its peer within ${timeoutMs} ms`, { id, timeoutMs });
      }
      await new Promise<void>((r) => setTimeout(r, 1)); // let the scheduler apply more frames
    }
  }

  private stats(): ActorLocalStats[] {
    return [...this.actors.values()].map((a) => ({ id: a.id, handled: a.handled, running: a.running }));
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.doorbell.ring();
    await this.loopDone;
    for (const a of [...this.actors.values()]) await this.halt(a.id, true).catch(() => {});
  }

  private context(req: SpawnRequest): ActorContext {
    const self = { id: req.id, name: req.name };
    const ctx: ActorContext = {
      self,
      role: req.role,
      primary: req.primary,
      thread: this.thread,
      send: (dest, body, kind = FrameKind.DATA) => this.send(req.id, dest, body, kind),
      sendBuilt: (dest, maxBytes, build, kind = FrameKind.DATA) => void this.sendBuilt(req.id, dest, maxBytes, build, kind),
      trySend: (dest, body, kind = FrameKind.DATA) => this.trySend(req.id, dest, body, kind),
      trySendBuilt: (dest, maxBytes, build, kind = FrameKind.DATA) => this.sendBuilt(req.id, dest, maxBytes, build, kind, true),
      resumeLater: () => {
        this.resumes.add(req.id);
      },
      retryLater: (ms) => {
        this.retryMs = Math.max(0, ms);
      },
      ack: (fromThread, seq) => this.tables.ack(req.id, fromThread, seq),
      fail: (error) => {
        const a = this.actors.get(req.id);
        if (a && a.running && a.ctx === ctx) {
          this.fail(a, error, undefined);
          this.unblock();
        }
      },
      setHealth: (code) => this.tables.setHealth(req.id, code === undefined ? 0 : HEALTH_CODES.indexOf(code)),
      log: (level, message, fields) => this.post({ type: 'log', level, message, id: req.id, fields }),
      publish: (payload) => this.post({ type: 'published', id: req.id, payload }),
    };
    return ctx;
  }

  private async loadBehaviour(module: string, exportName: string): Promise<Behaviour<unknown, unknown, unknown, unknown>> {
    let loading = this.modules.get(module);
    if (!loading) {
      loading = import(module) as Promise<Record<string, unknown>>;
      this.modules.set(module, loading);
    }
    let mod: Record<string, unknown>;
    try {
      mod = await loading;
    } catch (err) {
      this.modules.delete(module);
      throw new TributaryError('E_BEHAVIOUR_INVALID', `cannot load behaviour module ${module}: ${(err as Error).message}`, { module }, { cause: err });
    }
    const b = mod[exportName] as Partial<Behaviour> | undefined;
    if (!b || typeof b.init !== 'function' || typeof b.receive !== 'function') {
      throw new TributaryError('E_BEHAVIOUR_INVALID', `${module} export "${exportName}" is not a behaviour (needs init and receive functions)`, {
        module,
        exportName,
      });
    }
    return b as Behaviour<unknown, unknown, unknown, unknown>;
  }
}

/** Lets the discarded state release its resources; its errors must not affect anything else. */
function dispose(a: Instance): void {
  try {
    a.behaviour.dispose?.(a.state, a.ctx);
  } catch {
    // ignored by contract
  }
}

function mailboxFull(dest: number): TributaryError {
  return new TributaryError('E_MAILBOX_FULL', `mailbox of actor ${dest} on this thread is full`, { dest });
}

/** Runs a control call and answers a Result, so errors cross the thread boundary with their codes. */
async function result<T>(fn: () => T | Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: serializeError(err) };
  }
}
