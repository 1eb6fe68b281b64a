import type { SerializedError } from '../errors.js';
import type { ActorRef } from './behaviour.js';

/**
 * The runtime's inspection events, one namespaced union (XState's habit).
 * Metrics, logs and tests read the runtime through these.
 */
export type RuntimeEvent =
  | { type: '@actor.started'; actor: ActorRef; thread: number; role: 'primary' | 'replica'; restored: boolean; incarnation: number }
  | { type: '@actor.failed'; actor: ActorRef; thread: number; error: SerializedError; frame?: FrameRef }
  | { type: '@actor.restarted'; actor: ActorRef; restarts: number; downMs: number }
  | { type: '@actor.stopped'; actor: ActorRef }
  | { type: '@actor.dead-letter'; actor: ActorRef; reason: string; path: string; frame: FrameRef }
  | { type: '@supervisor.restarting'; supervisor: string; children: string[]; delayMs: number }
  | { type: '@supervisor.escalated'; supervisor: string; error: SerializedError }
  | { type: '@worker.started'; thread: number; restarts: number }
  | { type: '@worker.exited'; thread: number; code: number; error?: SerializedError }
  | { type: '@worker.hung'; thread: number; silentMs: number }
  | { type: '@mailbox.backpressure'; fromThread: number; toThread: number; waitedMs: number }
  | { type: '@actor.published'; actor: ActorRef; payload: unknown }
  | { type: '@log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; actor?: ActorRef; fields?: Record<string, unknown> };

export interface FrameRef {
  /** Sending thread (the ring it sat in). */
  readonly ring: number;
  readonly position: number;
  readonly seq: number;
}

export type RuntimeListener = (event: RuntimeEvent) => void;

export class EventBus {
  private readonly listeners = new Set<RuntimeListener>();

  subscribe(listener: RuntimeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: RuntimeEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        // An observer's bug must not unwind the runtime: surface it on a fresh macrotask.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
