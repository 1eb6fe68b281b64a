/**
 * Shared-memory layout of the actor runtime, named once. These tables live
 * in SharedArrayBuffers held by the main thread, so they survive every way a
 * worker can die (throw, process.exit, out of memory, terminate) and tell
 * the supervisor what the dead thread was doing.
 */

/** Thread 0 is the main thread (it sends, hosts no actors); workers are 1..N. */
export const MAIN_THREAD = 0;

/** Actor id 0 means "no actor" (a frame from outside the actor system). */
export const NO_ACTOR = 0;

/** Int32 slots per actor in the actor table: one 64-byte cache line. */
export const ACTOR_SLOT = 16;
export const A_STATE = 0; // ActorStatus
export const A_THREAD = 1; // hosting thread
export const A_PRIMARY = 2; // the primary this actor mirrors (its own id for a primary)
export const A_REPLICA_COUNT = 3;
export const A_REPLICAS = 4; // up to MAX_REPLICAS ids, slots 4..6
export const MAX_REPLICAS = 3;
export const A_SENT = 8; // frames addressed to this actor (all senders, Atomics.add)
export const A_HANDLED = 9; // frames this actor handled (owner only)
export const A_POISON_RING = 10; // ring (sending thread) of the frame that last crashed this actor, -1 for none
export const A_POISON_POS = 11; // its ring position
export const A_POISON_COUNT = 12; // consecutive crashes on that frame
export const A_INCARNATION = 13; // bumped on every (re)start
export const A_HEALTH = 14; // 0 healthy, else an index into HEALTH_CODES: why the actor holds its frames back

export const ActorStatus = {
  FREE: 0,
  STARTING: 1,
  RUNNING: 2,
  /** Failed or restarting: frames for it wait in the rings (head-of-line on its thread). */
  RESTARTING: 3,
  /** Stopped for good: frames still addressed to it go to the dead-letter file. */
  STOPPED: 4,
} as const;
export type ActorStatus = (typeof ActorStatus)[keyof typeof ActorStatus];

/** What an actor can report as the reason it is holding frames back (ctx.setHealth). */
export const HEALTH_CODES = ['', 'E_DISK_FULL', 'E_IO', 'E_STORAGE_UNWRITABLE', 'E_ACTOR_UNAVAILABLE'] as const;
export type HealthCode = Exclude<(typeof HEALTH_CODES)[number], ''>;

/** Int32 slots of each thread's control block (one cache line). */
export const THREAD_SLOT = 16;
export const T_HEARTBEAT = 0; // bumped by the worker's scheduler every turn, also while idle
export const T_CURRENT_ACTOR = 1; // actor whose handler is running, 0 when none
export const T_CURRENT_RING = 2; // sending thread of the frame being handled
export const T_CURRENT_POS = 3; // ring position of that frame
export const T_STOP = 4; // 1 asks the scheduler to stop
export const T_CONTROL = 5; // bumped by the main thread after posting a control message

/** Serial-number comparison for u32 sequence numbers that wrap (RFC 1982 style): a <= b. */
export function seqLE(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
