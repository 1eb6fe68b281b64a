import type { SerializedError } from '../../errors.js';
import type { MessagePort } from 'node:worker_threads';
import type { RingHandle } from '../../mailbox/ring.js';
import type { FrameRef } from '../events.js';
import type { SharedTables } from '../shared.js';

/** workerData of an actor host thread. */
export interface HostInit {
  readonly thread: number;
  readonly tables: SharedTables;
  /** Rings into this thread, indexed by sending thread. */
  readonly incoming: readonly RingHandle[];
  /** Rings out of this thread, indexed by receiving thread. */
  readonly outgoing: readonly RingHandle[];
  /** MessagePort for the comlink control plane. */
  readonly control: MessagePort;
  readonly config: HostConfig;
}

export interface HostConfig {
  /** Scheduler turns report in at least this often (ms) while idle. */
  readonly heartbeatMs: number;
  /** Frames drained from one ring per scheduler turn (fairness between senders). */
  readonly framesPerTurn: number;
  /** A frame that crashed its actor this many times in a row is dead-lettered. */
  readonly poisonAttempts: number;
  readonly deadLetterPath: string;
  /** How long a send from a worker may wait for room in a full ring. */
  readonly sendTimeoutMs: number;
}

export interface SpawnRequest {
  readonly id: number;
  readonly name: string;
  readonly module: string;
  readonly exportName: string;
  readonly args: unknown;
  readonly role: 'primary' | 'replica';
  readonly primary: number;
  /** Why the previous incarnation failed, for the dead-letter record of a poison frame. */
  readonly lastFailure?: string;
  /** Restore from a peer's snapshot instead of init; frames up to `vector` are already in it. */
  readonly restore?: { snapshot: unknown; vector: number[] };
}

export interface ActorLocalStats {
  readonly id: number;
  readonly handled: number;
  readonly running: boolean;
}

/** The control plane a host thread exposes (through comlink). Every call answers a Result. */
export interface HostApi {
  spawn(req: SpawnRequest): Promise<Result<{ incarnation: number }>>;
  /** Stops an actor. `final` runs its stop hook (a graceful stop); otherwise its state is simply dropped. */
  halt(id: number, final: boolean): Promise<Result<void>>;
  ask(id: number, request: unknown): Promise<Result<unknown>>;
  /** A snapshot of `id` once it has applied at least `minVector` (per sending thread). */
  snapshot(id: number, minVector: number[], timeoutMs: number): Promise<Result<{ snapshot: unknown; vector: number[] }>>;
  stats(): Promise<Result<ActorLocalStats[]>>;
  ping(): Promise<Result<number>>;
  /** Stops the scheduler after running every actor's stop hook. */
  shutdown(): Promise<Result<void>>;
  /**
   * Ends the thread with `code` at its next turn of the event loop. No JS is
   * mid-call there; terminate() can land inside zlib's constructor, and Node
   * then aborts the whole process tearing the half-built handle down.
   */
  exit(code: number): Promise<Result<void>>;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SerializedError };

/** One-way events from a host thread to the main thread (over parentPort). */
export type HostEvent =
  | { readonly type: 'ready' }
  | { readonly type: 'actor-failed'; readonly id: number; readonly error: SerializedError; readonly frame?: FrameRef }
  | { readonly type: 'dead-letter'; readonly id: number; readonly reason: string; readonly frame: FrameRef }
  | { readonly type: 'published'; readonly id: number; readonly payload: unknown }
  | {
      readonly type: 'log';
      readonly level: 'debug' | 'info' | 'warn' | 'error';
      readonly message: string;
      readonly id?: number;
      readonly fields?: Record<string, unknown>;
    };
