import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { isRetriable, isTributaryError } from '../errors.js';
import { names } from './nats.js';

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
 * timestamp and deduplicate by (source, seq).
 */
export class ShardConsumer {
  private messages: ConsumerMessages | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private counters = { stored: 0, refused: 0, retried: 0 };

  constructor(
    private readonly js: JetStreamClient,
    readonly shard: string,
    private readonly store: (bytes: Uint8Array) => Promise<void>,
    private readonly onStored: (bytes: Uint8Array) => void,
    private readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void,
  ) {}

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
      this.onStored(bytes);
    } catch (err) {
      if (isRetriable(err)) {
        this.counters.retried++;
        m.nak(1000);
      } else {
        this.counters.refused++;
        m.term(`refused by ${this.shard}: ${(err as Error).message}`);
        const code = isTributaryError(err) ? err.code : 'E_INTERNAL';
        this.log('error', `${this.shard} refused a batch from its stream (seq ${m.seq}): ${(err as Error).message}`, { shard: this.shard, code });
      }
    }
  }
}
