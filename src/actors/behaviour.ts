import type { Frame } from '../mailbox/ring.js';
import { FrameKind } from '../mailbox/layout.js';
import type { HealthCode } from './layout.js';

/** How an actor is addressed: a numeric id (what frames carry) and an optional name. */
export interface ActorRef {
  readonly id: number;
  readonly name: string;
}

/**
 * What a behaviour may do while it handles a frame or an ask. It runs on the
 * actor's worker thread.
 */
export interface ActorContext {
  readonly self: ActorRef;
  /** 'replica' for a replica actor: it receives the same frames as its primary. */
  readonly role: 'primary' | 'replica';
  /** The primary's id (its own id for a primary). */
  readonly primary: number;
  /** Worker thread index (1-based; 0 is the main thread). */
  readonly thread: number;
  /**
   * Sends a frame to another actor (and its replicas). Blocks this thread
   * while the destination's ring is full, up to the system's send timeout
   * (E_TIMEOUT); a send to an actor on the same thread never blocks and
   * raises E_MAILBOX_FULL instead, since this thread is the one that would
   * have to make room.
   */
  send(dest: number, body: Uint8Array, kind?: number): void;
  /**
   * Builds a frame in place in the destination's ring: `build` gets a view of
   * `maxBytes` in shared memory and returns how many it used. This is how a
   * LogBatch is encoded once, straight into the mailbox.
   */
  sendBuilt(dest: number, maxBytes: number, build: (view: Uint8Array) => number, kind?: number): void;
  /**
   * Like send, but returns false at once, sending nothing, when the
   * destination's ring has no room now. The way to apply backpressure to a
   * burst, above all towards actors on the same thread: keep the rest of
   * the work in the state and call resumeLater().
   */
  trySend(dest: number, body: Uint8Array, kind?: number): boolean;
  /** Like sendBuilt, but returns false (without calling `build`) when there is no room now. */
  trySendBuilt(dest: number, maxBytes: number, build: (view: Uint8Array) => number, kind?: number): boolean;
  /**
   * Asks the scheduler to call the behaviour's `resume` on a later turn,
   * after it has drained the thread's rings (so co-located consumers make
   * room). Held in the thread's memory: a crash forgets it, as it forgets the
   * state that needed it.
   */
  resumeLater(): void;
  /**
   * Leaves the frame being handled in the mailbox, unconsumed: it is
   * delivered again in `ms` (or sooner, when the actor is woken). For input
   * the actor cannot take now, such as a batch while the disk is full:
   * backpressure instead of loss. Call from receive, then return.
   */
  retryLater(ms: number): void;
  /**
   * Acknowledges every frame from `fromThread` up to `seq` (a frame's `from`
   * and `seq`): whoever sent them and waits in system.whenAcked() learns
   * they are done (for a shard: durable).
   */
  ack(fromThread: number, seq: number): void;
  /**
   * Fails this actor from asynchronous code (a timer, a promise), as a throw
   * from receive would: its state is disposed and its supervisor restarts it.
   */
  fail(error: unknown): void;
  /** Reports why the actor holds frames back (E_DISK_FULL, ...), or undefined once healthy again. Senders waiting for acks fail fast with it. */
  setHealth(code: HealthCode | undefined): void;
  /**
   * Publishes a domain event (structured-cloneable) to the main thread's
   * event stream as `@actor.published`: rare, meaningful news (an anomaly
   * flagged), not data. Data goes in frames.
   */
  publish(payload: unknown): void;
  /** Structured log line, delivered to the system's event stream. */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/**
 * An actor kind. Modules export one (default export, or a named one) created
 * with {@link defineBehaviour}; workers import the module by URL, so a
 * behaviour must live in its own module of plain JavaScript at run time.
 *
 * Scheduling is cooperative: the actors of a thread take turns between
 * calls, so a handler should return within about a millisecond and split
 * longer work with ctx.resumeLater(). A handler that runs for seconds delays
 * every actor on its thread, and one that runs past the hang timeout gets
 * its thread restarted.
 *
 * `receive` handles data frames: the frame and its body are views into shared
 * memory, valid only during the call. Returning a value replaces the state.
 * A frame is committed (gone from the mailbox) only after `receive` returns;
 * if it throws, the actor is restarted and the frame is delivered again, up
 * to the system's poison limit, after which it goes to the dead-letter file.
 */
export interface Behaviour<State = unknown, Args = unknown, Req = unknown, Res = unknown> {
  init(args: Args, ctx: ActorContext): State | Promise<State>;
  receive(state: State, frame: Frame, ctx: ActorContext): State | void;
  /** Continues work put off with ctx.resumeLater(). A throw fails the actor as in receive. */
  resume?(state: State, ctx: ActorContext): State | void;
  /** Request and response, for control and queries. Never used for data. */
  ask?(state: State, request: Req, ctx: ActorContext): Res | Promise<Res>;
  /** A structured-cloneable picture of the state, for restoring a restarted peer. Default: the state itself. */
  snapshot?(state: State): unknown;
  /** Rebuilds state from a peer's snapshot. Default: use the snapshot as the state. */
  restore?(snapshot: unknown, args: Args, ctx: ActorContext): State | Promise<State>;
  /** Called on a graceful stop (before dispose). */
  stop?(state: State, ctx: ActorContext): void | Promise<void>;
  /**
   * Called whenever this instance's state is discarded: after a failure, a
   * halt for a group restart, or a stop. Release what the state holds (open
   * files, timers): the next instance may need the same resources. Errors
   * are ignored. Not called when the whole thread dies (the OS releases it).
   */
  dispose?(state: State, ctx: ActorContext): void;
}

/** Identity function that gives a behaviour literal its types. */
export function defineBehaviour<State, Args = void, Req = unknown, Res = unknown>(b: Behaviour<State, Args, Req, Res>): Behaviour<State, Args, Req, Res> {
  return b;
}

/** Where a worker finds a behaviour: a module URL (or absolute path) and the export name. */
export interface BehaviourRef {
  readonly module: string | URL;
  readonly export?: string;
}

export { FrameKind };
export { transferred } from './transfer.js';
