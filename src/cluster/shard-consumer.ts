import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { isRetriable, isTributaryError } from '../errors.js';
import { names } from './nats.js';

/** After this long unacknowledged, JetStream hands a batch to the consumer again (its first owner is taken to be gone). */
const ACK_WAIT_NS = 30e9;
/** Batches a shard's owner may hold unacknowledged: its store's group commit works on them together. */
export const MAX_ACK_PENDING = 512;

/** Where a new owner starts in its shard's stream, and what it found there. */
export interface ConsumerStart {
  /** The first stream sequence to store: the one after what the archive covers. */
  readonly from: number;
  /** The stream's last sequence when the consumer was made: the owner is caught up once it has stored this far. */
  readonly caughtUpAt: number;
  /** What the previous owner had acknowledged: batches up to here were fed to detection already. */
  readonly previousAckFloor: number;
}

/**
 * Makes the shard's durable consumer start at `from` (the batch after what
 * the archive holds): the previous owner's acknowledgements say what its
 * disk held, which a new owner does not have. Only the lease holder calls it.
 */
export async function resetConsumer(jsm: JetStreamManager, shard: string, from: number): Promise<ConsumerStart> {
  const stream = names.stream(shard);
  const previous = await jsm.consumers.info(stream, names.consumer).catch(() => null);
  if (previous) await jsm.consumers.delete(stream, names.consumer);
  await jsm.consumers.add(stream, {
    durable_name: names.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ACK_WAIT_NS,
    max_ack_pending: MAX_ACK_PENDING,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(1, from),
  });
  const info = await jsm.streams.info(stream);
  return { from, caughtUpAt: info.state.last_seq, previousAckFloor: previous?.ack_floor.stream_seq ?? 0 };
}

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
 * Pulls one shard's stream through its durable consumer into the local
 * shard, acknowledging each batch to JetStream only once the shard holds it
 * durably (its WAL has synced). A batch whose store fails is handed back
 * (nak) and comes again; one the shard refuses as malformed is terminated,
 * so it cannot block the stream. Ordering does not matter: shards sort by
 * timestamp and deduplicate by (source, seq). It knows how far the stream
 * is stored without a gap (`storedThrough`): what a checkpoint may archive.
 */
export class ShardConsumer {
  private messages: ConsumerMessages | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private counters = { stored: 0, refused: 0, retried: 0 };
  /** Stream sequences delivered and not yet stored (or refused): a nak'ed one stays until it comes again and is. */
  private readonly open = new Set<number>();
  private highestDelivered: number;

  constructor(
    private readonly js: JetStreamClient,
    readonly shard: string,
    private readonly start_: ConsumerStart,
    private readonly store: (bytes: Uint8Array) => Promise<void>,
    private readonly onStored: (bytes: Uint8Array, seq: number) => void,
    private readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void,
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
    return seq <= this.start_.previousAckFloor;
  }

  start(): void {
    this.loop = this.run();
  }

  get stats(): ShardConsumerStats {
    return { shard: this.shard, ...this.counters };
  }

  /** Stops pulling and waits for the batches in hand to be stored and acknowledged (or handed back). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => {});
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.js.consumers.get(names.stream(this.shard), names.consumer);
        if (this.stopped) return;
        this.messages = await consumer.consume({ max_bytes: PULL_BYTES });
        for await (const m of this.messages) {
          if (this.stopped) {
            m.nak(); // not ours to store any more: straight back for the next owner
            continue;
          }
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
    try {
      // The message's bytes may share a socket buffer: the shard gets its own.
      const bytes = new Uint8Array(m.data);
      await this.store(bytes);
      // Only now may JetStream forget it; waiting for the server's reply means a lost ack shows as an error, not silence.
      await m.ackAck({ timeout: 5000 }).catch(() => false);
      this.counters.stored++;
      this.open.delete(m.seq);
      this.onStored(bytes, m.seq);
    } catch (err) {
      if (isRetriable(err)) {
        this.counters.retried++;
        m.nak(1000);
      } else {
        this.counters.refused++;
        this.open.delete(m.seq);
        m.term(`refused by ${this.shard}: ${(err as Error).message}`);
        const code = isTributaryError(err) ? err.code : 'E_INTERNAL';
        this.log('error', `${this.shard} refused a batch from its stream (seq ${m.seq}): ${(err as Error).message}`, { shard: this.shard, code });
      }
    }
  }
}
