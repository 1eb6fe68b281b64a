import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { isRetriable, isTributaryError } from '../errors.js';
import { backoffDelay, type BackoffPolicy } from '../supervisor/backoff.js';
import { names } from './nats.js';

/** Where a new owner starts in its shard's stream, and what it found there. */
export interface ConsumerStart {
  /** The first stream sequence to store: the one after what the archive covers. */
  readonly from: number;
  /** The stream's last sequence when the owner took the shard: it is caught up once it has stored this far. */
  readonly caughtUpAt: number;
  /** Batches up to here were fed to detection by an earlier owner (as far as its heartbeats told). */
  readonly fedThrough: number;
}

/** Where the owner of `shard` starts: after the archive, caught up at the stream's last sequence now. */
export async function consumerStart(jsm: JetStreamManager, shard: string, from: number, fedThrough: number): Promise<ConsumerStart> {
  const info = await jsm.streams.info(names.stream(shard));
  return { from, caughtUpAt: info.state.last_seq, fedThrough: Math.max(fedThrough, from - 1) };
}

/** A consumer that delivers nothing this long while its stream holds more is made afresh. */
const STALL_MS = 5000;
/** A store that failed for a passing reason (a full disk, a restarting shard) is tried again on this schedule. */
const STORE_RETRY: BackoffPolicy = { initialMs: 100, maxMs: 5000, jitter: 0.5 };

/** Bytes of batches a consumer pulls ahead of its store: the bound on what it holds in memory. */
const PULL_BYTES = 8 << 20;
/** Batches stored at once: enough for the shard's group commit to gather several per fsync. */
const IN_FLIGHT = 32;

export interface ShardConsumerStats {
  readonly shard: string;
  /** Batches stored and acknowledged to JetStream. */
  readonly stored: number;
  /** Batches the shard refused as malformed: terminated in JetStream, never redelivered. */
  readonly refused: number;
  /** Store attempts that failed and were handed back for redelivery. */
  readonly retried: number;
}

/**
 * Reads one shard's stream, from the batch after its archive, into the
 * local shard, through an ordered consumer: the stream keeps every batch
 * until a checkpoint has archived it, so the position is this owner's to
 * keep (`storedThrough`, every batch up to it durable in the local shard:
 * what a checkpoint may archive), and JetStream holds no consumer state
 * that a takeover would have to reset. A store that fails for a passing
 * reason is tried again in place; a batch the shard refuses as malformed
 * is skipped (counted, logged), so it cannot block the stream. Ordering
 * does not matter: shards sort by timestamp and deduplicate by (source, seq).
 */
export class ShardConsumer {
  private messages: ConsumerMessages | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private counters = { stored: 0, refused: 0, retried: 0 };
  /** Stream sequences delivered and not yet stored (or refused): one whose store is retried stays until it is. */
  private readonly open = new Set<number>();
  private highestDelivered: number;
  private lastDeliveryAt = performance.now();
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly js: JetStreamClient,
    readonly shard: string,
    private readonly start_: ConsumerStart,
    private readonly store: (bytes: Uint8Array) => Promise<void>,
    private readonly onStored: (bytes: Uint8Array, seq: number) => void,
    private readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void,
    /** The stream's last sequence now: how the watchdog tells a stalled consumer from an idle stream. */
    private readonly lastSeq: () => Promise<number>,
  ) {
    this.highestDelivered = start_.from - 1;
  }

  /** Every stream sequence up to this one is stored in the local shard (or was refused as malformed). */
  get storedThrough(): number {
    let min = Infinity;
    for (const s of this.open) if (s < min) min = s;
    return min === Infinity ? this.highestDelivered : min - 1;
  }

  /** Whether the shard holds everything its stream held when this owner took it: from then on its answers are whole. */
  get caughtUp(): boolean {
    return this.storedThrough >= this.start_.caughtUpAt;
  }

  /** Whether a batch at this sequence was fed to detection by an earlier owner. */
  fedBefore(seq: number): boolean {
    return seq <= this.start_.fedThrough;
  }

  start(): void {
    this.loop = this.run();
    this.watchdog = setInterval(() => void this.watch(), STALL_MS / 2);
    this.watchdog.unref();
  }

  /**
   * An ordered consumer lives on its stream's leader, in memory: a NATS node
   * restarted under it left one delivering nothing, without an error, for
   * over a minute (the failure test). Nothing delivered for STALL_MS while
   * the stream holds more, and not for want of room here: pull again.
   */
  private async watch(): Promise<void> {
    const messages = this.messages;
    if (this.stopped || !messages || this.inFlight.size >= IN_FLIGHT || performance.now() - this.lastDeliveryAt < STALL_MS) return;
    const last = await this.lastSeq().catch(() => undefined);
    if (last === undefined || last <= this.highestDelivered || this.stopped || messages !== this.messages) return;
    this.log(
      'warn',
      `consuming ${this.shard}: nothing delivered for ${STALL_MS} ms while the stream holds up to seq ${last} (delivered ${this.highestDelivered}); pulling again`,
      {
        shard: this.shard,
      },
    );
    this.lastDeliveryAt = performance.now();
    await messages.close().catch(() => {}); // its loop ends; run() pulls from the next undelivered sequence
  }

  get stats(): ShardConsumerStats {
    return { shard: this.shard, ...this.counters };
  }

  /** Stops pulling and waits for the batches in hand to be stored (one failing is given up: the next owner replays it). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    await this.messages?.close().catch(() => {});
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        // After a failure, on from the last batch delivered (those in hand are being stored).
        const consumer = await this.js.consumers.get(names.stream(this.shard), {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.highestDelivered + 1,
        });
        if (this.stopped) return;
        this.messages = await consumer.consume({ max_bytes: PULL_BYTES });
        for await (const m of this.messages) {
          if (this.stopped) break;
          this.lastDeliveryAt = performance.now();
          this.open.add(m.seq);
          if (m.seq > this.highestDelivered) this.highestDelivered = m.seq;
          const p = this.handle(m).finally(() => this.inFlight.delete(p));
          this.inFlight.add(p);
          if (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight);
        }
      } catch (err) {
        await this.messages?.close().catch(() => {}); // its pulls must not go on beside the next one's
        if (this.stopped) return;
        this.log('warn', `consuming ${this.shard}: ${(err as Error).message}; pulling again`, { shard: this.shard, error: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    // The message's bytes may share a socket buffer: the shard gets its own.
    const bytes = new Uint8Array(m.data);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store(bytes);
        this.counters.stored++;
        this.open.delete(m.seq);
        this.onStored(bytes, m.seq);
        return;
      } catch (err) {
        if (!isRetriable(err)) {
          this.counters.refused++;
          this.open.delete(m.seq);
          const code = isTributaryError(err) ? err.code : 'E_INTERNAL';
          this.log('error', `${this.shard} refused a batch from its stream (seq ${m.seq}), skipped: ${(err as Error).message}`, { shard: this.shard, code });
          return;
        }
        this.counters.retried++;
        if (this.stopped) return; // not stored: the next owner replays it from the stream
        await new Promise((r) => setTimeout(r, backoffDelay(STORE_RETRY, attempt)));
      }
    }
  }
}

/** A shard's consumer counters, added to those of its earlier consumers on the same member. */
export function addStats(prev: ShardConsumerStats | undefined, s: ShardConsumerStats): ShardConsumerStats {
  return prev ? { shard: s.shard, stored: prev.stored + s.stored, refused: prev.refused + s.refused, retried: prev.retried + s.retried } : s;
}

/** A shard's stream as status pages show it: batches its owner has not stored yet, and what the stream holds (null: JetStream did not answer). */
export interface ShardLag {
  readonly shard: string;
  readonly pending: number | null;
  readonly unarchived: number | null;
  readonly streamBytes: number | null;
}

/** The lag of `shard` whose owner has stored through `position` (undefined: not known). */
export async function streamLag(jsm: JetStreamManager, shard: string, position: number | undefined): Promise<ShardLag> {
  const si = await jsm.streams.info(names.stream(shard)).catch(() => null);
  const pending = si && position !== undefined ? Math.max(0, si.state.last_seq - position) : null;
  return { shard, pending, unarchived: si?.state.messages ?? null, streamBytes: si?.state.bytes ?? null };
}
