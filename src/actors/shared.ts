import { TributaryError } from '../errors.js';
import {
  A_HANDLED,
  A_HEALTH,
  A_INCARNATION,
  A_POISON_COUNT,
  A_POISON_POS,
  A_POISON_RING,
  A_PRIMARY,
  A_REPLICA_COUNT,
  A_REPLICAS,
  A_SENT,
  A_STATE,
  A_THREAD,
  ACTOR_SLOT,
  ActorStatus,
  THREAD_SLOT,
} from './layout.js';

/** What crosses to a worker to share the runtime's tables. */
export interface SharedTables {
  readonly threads: number;
  readonly maxActors: number;
  readonly actors: SharedArrayBuffer;
  /** u32 per (sending thread, destination actor): last sequence number sent. */
  readonly sendSeq: SharedArrayBuffer;
  /** u32 per (actor, sending thread): sequence number of the last frame the actor handled. */
  readonly applied: SharedArrayBuffer;
  /** u32 per (actor, sending thread): highest sequence number the actor acknowledged (e.g. made durable). */
  readonly acked: SharedArrayBuffer;
  readonly threadControl: SharedArrayBuffer;
}

export function createSharedTables(threads: number, maxActors: number): SharedTables {
  return {
    threads,
    maxActors,
    actors: new SharedArrayBuffer(maxActors * ACTOR_SLOT * 4),
    sendSeq: new SharedArrayBuffer(threads * maxActors * 4),
    applied: new SharedArrayBuffer(maxActors * threads * 4),
    acked: new SharedArrayBuffer(maxActors * threads * 4),
    threadControl: new SharedArrayBuffer(threads * THREAD_SLOT * 4),
  };
}

/** Typed access to the shared tables; one instance per thread. */
export class Tables {
  readonly threads: number;
  readonly maxActors: number;
  readonly actors: Int32Array;
  readonly sendSeq: Uint32Array;
  readonly applied: Uint32Array;
  /** Int32 view (Atomics.wait needs one); values are u32 sequence numbers. */
  readonly acked: Int32Array;
  readonly control: Int32Array;

  constructor(readonly shared: SharedTables) {
    this.threads = shared.threads;
    this.maxActors = shared.maxActors;
    this.actors = new Int32Array(shared.actors);
    this.sendSeq = new Uint32Array(shared.sendSeq);
    this.applied = new Uint32Array(shared.applied);
    this.acked = new Int32Array(shared.acked);
    this.control = new Int32Array(shared.threadControl);
  }

  checkId(id: number): void {
    if (!Number.isInteger(id) || id <= 0 || id >= this.maxActors) {
      throw new TributaryError('E_NO_SUCH_ACTOR', `actor id ${id} is out of range`, { id });
    }
  }

  status(id: number): ActorStatus {
    return Atomics.load(this.actors, id * ACTOR_SLOT + A_STATE) as ActorStatus;
  }

  setStatus(id: number, status: ActorStatus): void {
    Atomics.store(this.actors, id * ACTOR_SLOT + A_STATE, status);
  }

  /** Moves `id` from one status to another only if it is in `from`; returns whether it did. */
  transition(id: number, from: ActorStatus, to: ActorStatus): boolean {
    return Atomics.compareExchange(this.actors, id * ACTOR_SLOT + A_STATE, from, to) === from;
  }

  thread(id: number): number {
    return this.actors[id * ACTOR_SLOT + A_THREAD]!;
  }

  primaryOf(id: number): number {
    return this.actors[id * ACTOR_SLOT + A_PRIMARY]!;
  }

  replicas(id: number): number[] {
    const base = id * ACTOR_SLOT;
    const n = this.actors[base + A_REPLICA_COUNT]!;
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.actors[base + A_REPLICAS + i]!);
    return out;
  }

  /** Writes an actor's placement. Called by the main thread before the actor can receive anything. */
  place(id: number, thread: number, primary: number, replicas: readonly number[]): void {
    const base = id * ACTOR_SLOT;
    this.actors.fill(0, base, base + ACTOR_SLOT);
    this.actors[base + A_THREAD] = thread;
    this.actors[base + A_PRIMARY] = primary;
    this.actors[base + A_REPLICA_COUNT] = replicas.length;
    replicas.forEach((r, i) => (this.actors[base + A_REPLICAS + i] = r));
    this.actors[base + A_POISON_RING] = -1;
    this.applied.fill(0, id * this.threads, (id + 1) * this.threads);
    this.acked.fill(0, id * this.threads, (id + 1) * this.threads);
    for (let t = 0; t < this.threads; t++) this.sendSeq[t * this.maxActors + id] = 0;
    Atomics.store(this.actors, base + A_STATE, ActorStatus.STARTING);
  }

  countSent(id: number): void {
    Atomics.add(this.actors, id * ACTOR_SLOT + A_SENT, 1);
  }

  countHandled(id: number): void {
    Atomics.add(this.actors, id * ACTOR_SLOT + A_HANDLED, 1);
  }

  sent(id: number): number {
    return Atomics.load(this.actors, id * ACTOR_SLOT + A_SENT) >>> 0;
  }

  handled(id: number): number {
    return Atomics.load(this.actors, id * ACTOR_SLOT + A_HANDLED) >>> 0;
  }

  bumpIncarnation(id: number): number {
    return Atomics.add(this.actors, id * ACTOR_SLOT + A_INCARNATION, 1) + 1;
  }

  /** Next sequence number for frames from `fromThread` to `dest` (and dest's replicas: they share it). */
  nextSeq(fromThread: number, dest: number): number {
    const i = fromThread * this.maxActors + dest;
    const next = (this.sendSeq[i]! + 1) >>> 0;
    Atomics.store(this.sendSeq, i, next);
    return next;
  }

  appliedSeq(id: number, fromThread: number): number {
    return Atomics.load(this.applied, id * this.threads + fromThread);
  }

  setApplied(id: number, fromThread: number, seq: number): void {
    Atomics.store(this.applied, id * this.threads + fromThread, seq);
  }

  appliedVector(id: number): number[] {
    return Array.from(this.applied.subarray(id * this.threads, (id + 1) * this.threads));
  }

  setAppliedVector(id: number, vector: readonly number[]): void {
    for (let t = 0; t < this.threads; t++) Atomics.store(this.applied, id * this.threads + t, vector[t] ?? 0);
  }

  /** Publishes that `id` acknowledges every frame from `fromThread` up to `seq`, and wakes whoever waits. Never moves back. */
  ack(id: number, fromThread: number, seq: number): void {
    const i = id * this.threads + fromThread;
    const cur = Atomics.load(this.acked, i) >>> 0;
    if (cur !== 0 && ((seq - cur) | 0) <= 0) return;
    Atomics.store(this.acked, i, seq | 0);
    Atomics.notify(this.acked, i);
  }

  ackedSeq(id: number, fromThread: number): number {
    return Atomics.load(this.acked, id * this.threads + fromThread) >>> 0;
  }

  ackSlot(id: number, fromThread: number): number {
    return id * this.threads + fromThread;
  }

  health(id: number): number {
    return Atomics.load(this.actors, id * ACTOR_SLOT + A_HEALTH);
  }

  setHealth(id: number, code: number): void {
    Atomics.store(this.actors, id * ACTOR_SLOT + A_HEALTH, code);
  }

  /** Records that `id` crashed on the frame at (ring, pos); returns how many times in a row it did. */
  recordCrash(id: number, ring: number, pos: number): number {
    const base = id * ACTOR_SLOT;
    if (this.actors[base + A_POISON_RING] === ring && this.actors[base + A_POISON_POS] === pos) {
      return Atomics.add(this.actors, base + A_POISON_COUNT, 1) + 1;
    }
    this.actors[base + A_POISON_RING] = ring;
    this.actors[base + A_POISON_POS] = pos;
    Atomics.store(this.actors, base + A_POISON_COUNT, 1);
    return 1;
  }

  /** Crashes recorded for exactly this frame, or 0. */
  crashesAt(id: number, ring: number, pos: number): number {
    const base = id * ACTOR_SLOT;
    return this.actors[base + A_POISON_RING] === ring && this.actors[base + A_POISON_POS] === pos ? this.actors[base + A_POISON_COUNT]! : 0;
  }

  clearCrashes(id: number): void {
    const base = id * ACTOR_SLOT;
    this.actors[base + A_POISON_RING] = -1;
    Atomics.store(this.actors, base + A_POISON_COUNT, 0);
  }

  threadSlot(thread: number, slot: number): number {
    return Atomics.load(this.control, thread * THREAD_SLOT + slot);
  }

  setThreadSlot(thread: number, slot: number, value: number): void {
    Atomics.store(this.control, thread * THREAD_SLOT + slot, value);
  }
}
