import { TributaryError, serializeError, type SerializedError } from '../errors.js';
import type { Supervisable, Supervisor } from '../supervisor/supervisor.js';
import type { ActorRef } from './behaviour.js';
import type { EventBus } from './events.js';
import { ActorStatus } from './layout.js';
import type { SpawnRequest } from './host/protocol.js';
import type { Tables } from './shared.js';
import type { ActorThread } from './thread.js';

export interface ActorDefinition {
  readonly module: string;
  readonly exportName: string;
  readonly args: unknown;
}

export interface RecordDeps {
  readonly tables: Tables;
  readonly events: EventBus;
  readonly threads: readonly ActorThread[];
  readonly snapshotTimeoutMs: number;
}

/**
 * The main thread's view of one actor (a primary or one of its replicas):
 * where it lives, how to start it again, what happened to it. It is the unit
 * a supervisor restarts. Members of a replica group restore each other: a
 * restarted member takes a snapshot from a live peer that has applied at
 * least everything the dead member had, then skips the frames the snapshot
 * already contains.
 */
export class ActorRecord implements Supervisable {
  readonly ref: ActorRef;
  /** Other members of the replica group (the primary and its replicas). */
  peers: ActorRecord[] = [];
  restarts = 0;
  lastFailure: (SerializedError & { at: string }) | undefined;
  incarnation = 0;
  stopped = false;
  supervisor: Supervisor | undefined;
  private downSince = 0;
  private running!: Promise<void>;
  private markRunning!: () => void;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly thread: number,
    readonly role: 'primary' | 'replica',
    readonly primary: number,
    readonly definition: ActorDefinition,
    private readonly deps: RecordDeps,
  ) {
    this.ref = { id, name };
    this.resetRunning();
  }

  get status(): ActorStatus {
    return this.deps.tables.status(this.id);
  }

  /** Resolves when the actor is running (immediately if it is). */
  whenRunning(): Promise<void> {
    return this.running;
  }

  private resetRunning(): void {
    this.running = new Promise<void>((r) => (this.markRunning = r));
  }

  /** First start, or a restart: restores from a live peer when there is one. */
  async start(): Promise<void> {
    const thread = this.deps.threads[this.thread - 1]!;
    await thread.ready;
    const restore = await this.snapshotFromPeer();
    const req: SpawnRequest = {
      id: this.id,
      name: this.name,
      module: this.definition.module,
      exportName: this.definition.exportName,
      args: this.definition.args,
      role: this.role,
      primary: this.primary,
      lastFailure: this.lastFailure?.message,
      restore,
    };
    const { incarnation } = await thread.call('spawn', req);
    this.incarnation = incarnation;
    this.markRunning();
    this.deps.events.emit({ type: '@actor.started', actor: this.ref, thread: this.thread, role: this.role, restored: restore !== undefined, incarnation });
  }

  async restart(): Promise<void> {
    if (this.stopped) return;
    await this.start();
    this.restarts++;
    this.deps.events.emit({ type: '@actor.restarted', actor: this.ref, restarts: this.restarts, downMs: performance.now() - this.downSince });
  }

  /** Stops the actor for a group restart: its mailbox stays, frames wait for the restart. */
  async halt(_reason: string): Promise<void> {
    this.markDown();
    // The hosting thread changes the status itself, between two frames; if it is dead, we do.
    await this.deps.threads[this.thread - 1]!.call('halt', this.id, false).catch(() =>
      this.deps.tables.transition(this.id, ActorStatus.RUNNING, ActorStatus.RESTARTING),
    );
  }

  /** Marks the actor failed; the caller then tells its supervisor. */
  failed(error: SerializedError): void {
    if (this.stopped) return;
    this.markDown();
    this.lastFailure = { ...error, at: new Date().toISOString() };
    this.deps.tables.transition(this.id, ActorStatus.RUNNING, ActorStatus.RESTARTING);
    this.deps.tables.transition(this.id, ActorStatus.STARTING, ActorStatus.RESTARTING);
    this.deps.events.emit({ type: '@actor.failed', actor: this.ref, thread: this.thread, error });
  }

  /** Stops the actor for good (graceful: its stop hook runs). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.markDown();
    await this.deps.threads[this.thread - 1]!.call('halt', this.id, true).catch(() => this.deps.tables.setStatus(this.id, ActorStatus.STOPPED));
    this.deps.events.emit({ type: '@actor.stopped', actor: this.ref });
  }

  private markDown(): void {
    if (this.downSince === 0 || this.status === ActorStatus.RUNNING) this.downSince = performance.now();
    this.resetRunning();
  }

  /**
   * A snapshot from the first live peer that has applied at least what this
   * actor had applied when it went down (its applied vector survives in
   * shared memory). Without a live peer, or if the peer cannot catch up in
   * time, the actor starts from init.
   */
  private async snapshotFromPeer(): Promise<SpawnRequest['restore']> {
    const minVector = this.deps.tables.appliedVector(this.id);
    for (const peer of this.peers) {
      if (peer.stopped || peer.status !== ActorStatus.RUNNING) continue;
      try {
        return await this.deps.threads[peer.thread - 1]!.call('snapshot', peer.id, minVector, this.deps.snapshotTimeoutMs);
      } catch (err) {
        this.deps.events.emit({
          type: '@log',
          level: 'warn',
          message: `cannot restore ${this.name} from ${peer.name}: ${(err as Error).message}`,
          actor: this.ref,
          fields: { error: serializeError(err) },
        });
      }
    }
    return undefined;
  }
}

export function actorUnavailable(name: string, id: number): TributaryError {
  return new TributaryError('E_ACTOR_UNAVAILABLE', `actor ${name} (${id}) and its replicas are not running`, { id, name });
}
