import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { isTributaryError } from '../errors.js';
import type { StagedFiles } from '../shard/shard-files.js';
import { names } from './nats.js';
import type { ManifestEntry, ShardArchive } from './shard-archive.js';
import { consumerStart, ShardConsumer } from './shard-consumer.js';

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** What a member needs of the daemon it runs in. */
export interface MemberHost {
  /**
   * Makes the local shard the archive `entry` describes, and open: kept as
   * it is when it is that archive (this member wrote it last), else made
   * afresh by `restore` into a new directory.
   */
  adoptShard(shard: string, entry: ManifestEntry, restore: (dir: string) => Promise<void>): Promise<void>;
  /** The local shard is now the archive at `revision` (the same content, re-stamped by a claim). */
  markArchived(shard: string, revision: number): void;
  /** Seals the local shard and stages its blocks and label log for archiving. */
  stageShard(shard: string): Promise<StagedFiles>;
  /** After a checkpoint (or a failed one): the local shard is the archive at `revision` (undefined: unchanged); the staged links go. */
  archived(shard: string, staged: StagedFiles, revision?: number): void;
  /** Stores a batch in a local shard; resolves once it is durable. */
  store(shard: string, bytes: Uint8Array): Promise<void>;
  /** Called after a consumed batch is stored and acknowledged (anomaly detection's feed). */
  stored(shard: string, bytes: Uint8Array): void;
  readonly log: Log;
}

/** What an owned shard works with: the member's JetStream handles, the archive, the daemon. */
export interface OwnerContext {
  readonly memberId: string;
  readonly js: JetStreamClient;
  /** For trimming and the watchdog's look at a stream: made on first use, with the client's usual time. */
  jsm(): Promise<JetStreamManager>;
  /** For a takeover's look at its stream: gives up after half a lease (the next tick tries again), as membership does. */
  quickJsm(): Promise<JetStreamManager>;
  readonly archive: ShardArchive;
  readonly host: MemberHost;
}

/**
 * One shard while this member holds its lease: restored from the archive,
 * its stream consumed from the archive's end, checkpointed to the archive,
 * and stopped when it is handed over or lost. The member keeps the lease
 * (its revision and renewals); this keeps the data moving.
 */
export class OwnedShard {
  /** Monotonic time of the last renewal NATS confirmed. */
  renewedAt = performance.now();
  /** Undefined while the shard is being restored from its archive (the lease is renewed meanwhile). */
  private consumer_: ShardConsumer | undefined;
  /** The archive as this owner last read or wrote it. */
  private archive: ManifestEntry = { manifest: null, revision: 0 };
  /** Set while the shard is handed over: it still answers queries, it takes no more batches. */
  releasing = false;
  /** The checkpoint running or last run: one at a time (the loop's and a hand-over's share a staging folder). */
  private checkpointing: Promise<unknown> = Promise.resolve();
  /** Set once the lease is known lost: no checkpoint may write or trim for it any more. */
  private fenced = false;

  constructor(
    readonly shard: string,
    /** The lease's KV revision, updated at every renewal. */
    public revision: number,
    /** When this member took the lease (ms since the epoch). */
    readonly since: number,
    private readonly ctx: OwnerContext,
  ) {}

  get consumer(): ShardConsumer | undefined {
    return this.consumer_;
  }

  /** Restored and stored up to where the stream was when it was taken: its answers hold everything its predecessor had. */
  get serving(): boolean {
    return this.consumer_?.caughtUp ?? false;
  }

  /**
   * Makes the local shard the archive (restored unless this member wrote it
   * last) and consumes the stream from the archive's end. `fedThrough`: up
   * to where the previous owner fed detection (its last heartbeat said).
   */
  async open(fedThrough: number): Promise<void> {
    const { archive: store, host } = this.ctx;
    const started = performance.now();
    // Claimed first: a checkpoint the previous owner has in flight cannot land after this.
    const { read: archive, claimed } = await step('claiming its archive', () => store.claim(this.shard, this.ctx.memberId));
    this.archive = claimed;
    await step('restoring it', () =>
      host.adoptShard(this.shard, archive, (dir) => (archive.manifest ? store.restore(archive.manifest, dir) : Promise.resolve())),
    );
    host.markArchived(this.shard, claimed.revision);
    const start = await step('reading its stream', async () =>
      consumerStart(await this.ctx.quickJsm(), this.shard, (archive.manifest?.seq ?? 0) + 1, fedThrough),
    );
    const consumer: ShardConsumer = new ShardConsumer(
      this.ctx.js,
      this.shard,
      start,
      (bytes) => host.store(this.shard, bytes),
      // Replayed batches its predecessor had stored were fed to detection then: not twice.
      (bytes, seq) => {
        if (!consumer.fedBefore(seq)) host.stored(this.shard, bytes);
      },
      host.log,
      async () => (await (await this.ctx.jsm()).streams.info(names.stream(this.shard))).state.last_seq,
    );
    this.consumer_ = consumer;
    consumer.start();
    const restored = archive.manifest ? `${archive.manifest.files.length} archived files through stream seq ${archive.manifest.seq}` : 'no archive yet';
    host.log('info', `took ${this.shard} (${restored}; replaying to seq ${start.caughtUpAt}) in ${(performance.now() - started).toFixed(0)} ms`, {
      shard: this.shard,
      member: this.ctx.memberId,
    });
  }

  /** Stops consuming; batches in hand are stored first. */
  async stop(): Promise<void> {
    await this.consumer_?.stop();
  }

  /** The lease is lost: stops consuming, and no checkpoint writes or trims for this shard from here on. */
  async fence(): Promise<void> {
    this.fenced = true;
    await this.stop();
  }

  /**
   * One checkpoint: the shard seals what it holds, its new blocks and its
   * label log go to the archive with the stream position they cover (every
   * batch up to it is stored), and the stream is trimmed to after that
   * position. Resolves 'lost' when someone else wrote the manifest
   * meanwhile (the lease was lost: the caller gives the shard up, and the
   * stream is not trimmed); a failure of any other kind is logged, and the
   * next checkpoint tries again.
   */
  checkpoint(): Promise<'done' | 'lost'> {
    const run = this.checkpointing.catch(() => {}).then(() => this.checkpointNow());
    this.checkpointing = run;
    return run;
  }

  private async checkpointNow(): Promise<'done' | 'lost'> {
    const { host, archive } = this.ctx;
    const shard = this.shard;
    const consumer = this.consumer_;
    if (!consumer || this.fenced) return 'done';
    const through = consumer.storedThrough;
    if (through <= (this.archive.manifest?.seq ?? 0)) return 'done'; // nothing new since the last one
    let revision: number | undefined;
    let staged: StagedFiles | undefined;
    try {
      staged = await host.stageShard(shard);
      if (this.fenced) return 'done';
      this.archive = await archive.checkpoint(shard, staged, through, this.archive, this.ctx.memberId);
      revision = this.archive.revision;
    } catch (err) {
      if (isTributaryError(err, 'E_CONFLICT')) {
        host.log('error', `${err.message}: giving ${shard} up`, { shard });
        return 'lost';
      }
      host.log('warn', `checkpoint of ${shard} failed (the next one tries again): ${(err as Error).message}`, { shard, error: err });
      return 'done';
    } finally {
      if (staged) host.archived(shard, staged, revision);
    }
    await (await this.ctx.jsm()).streams.purge(names.stream(shard), { seq: through + 1 }).catch((err: Error) => {
      host.log('warn', `trimming ${shard}'s stream failed (the next checkpoint trims it): ${err.message}`, { shard });
    });
    return 'done';
  }
}

/** Runs one step of taking a shard; its failure says which step it was. */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof Error) err.message = `${what}: ${err.message}`;
    throw err;
  }
}
