import { TributaryError, isTributaryError, type ErrorCode } from '../errors.js';
import { encodeBatch } from '../batch/encode.js';
import { stampBatch } from '../batch/stamp.js';
import type { ActorRef } from '../actors/behaviour.js';
import type { ActorSystem } from '../actors/system.js';
import type { LogEntry } from '../model/entry.js';
import { newSourceId } from '../model/source.js';
import { HashRing, streamKey } from './hash-ring.js';

export interface ShardedWriterOptions {
  /** Base source id (a nanoid by default); the writer numbers entries per shard under `${source}-${n}`. */
  readonly sourceId?: string;
  /**
   * Entries are cut into batches of about this many bytes at most (default
   * 1 MiB): a batch is one frame, and a frame must fit the mailbox ring with
   * room to spare, whatever size of write a caller makes.
   */
  readonly maxBatchBytes?: number;
}

/**
 * Where a writer's batches go: resolves once `shard` holds the batch
 * durably, retrying what is worth retrying with the same bytes. The shard
 * actors of this process (ActorShardSink) or a distributed log in front of
 * them (TransportSink over JetStream).
 */
export interface ShardSink {
  deliver(shard: string, bytes: Uint8Array): Promise<void>;
  /** A shard actor the sink can now reach (only sinks that hold actor refs need it). */
  add?(name: string, ref: ActorRef): void;
}

export interface ActorSinkOptions {
  /** Replicas that must hold a batch too before it counts as written. Default 0 (the primary's WAL). */
  readonly replicas?: number;
  /** Per attempt. */
  readonly ackTimeoutMs?: number;
  /** Attempts per batch before a delivery fails. */
  readonly attempts?: number;
}

/** Into this process's shard actors: sent through their mailboxes, done once the WAL (and replicas) acknowledge. */
export class ActorShardSink implements ShardSink {
  private readonly refs = new Map<string, ActorRef>();

  constructor(
    private readonly system: ActorSystem,
    shards: Record<string, ActorRef>,
    private readonly options: ActorSinkOptions = {},
  ) {
    for (const [name, ref] of Object.entries(shards)) this.refs.set(name, ref);
  }

  add(name: string, ref: ActorRef): void {
    this.refs.set(name, ref);
  }

  async deliver(shard: string, bytes: Uint8Array): Promise<void> {
    const ref = this.refs.get(shard);
    if (!ref) throw new TributaryError('E_INVALID_ARGUMENT', `no shard ${JSON.stringify(shard)} here`, { shard });
    return withRetries(`a batch to ${shard}`, this.options.attempts ?? 5, isStorageTransient, async () => {
      const seq = await this.system.send(ref, bytes);
      await this.system.whenAcked(ref, seq, { replicas: this.options.replicas ?? 0, timeoutMs: this.options.ackTimeoutMs ?? 10_000 });
    });
  }
}

/** What a shard may get over by itself: a slow or restarting actor, a disk that fills then frees. */
function isStorageTransient(err: unknown): boolean {
  return ['E_TIMEOUT', 'E_WORKER_DIED', 'E_DISK_FULL', 'E_IO'].some((code) => isTributaryError(err, code as ErrorCode));
}

/**
 * Runs `attempt` until it succeeds, at most `attempts` times, backing off
 * (100 ms doubling to 2 s) after each failure `retriable` accepts; another
 * failure is thrown at once, and the last one, wrapped in E_TIMEOUT, when
 * the attempts run out.
 */
export async function withRetries(what: string, attempts: number, retriable: (err: unknown) => boolean, attempt: () => Promise<void>): Promise<void> {
  let last: unknown;
  for (let n = 1; n <= attempts; n++) {
    try {
      return await attempt();
    } catch (err) {
      last = err;
      if (!retriable(err)) throw err;
      if (n < attempts) await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** n)));
    }
  }
  throw new TributaryError('E_TIMEOUT', `${what} was not acknowledged after ${attempts} attempts: ${(last as Error).message}`, { attempts }, { cause: last });
}

/**
 * The edge into storage from the main thread: routes each entry by its
 * stream (service + server) over the hash ring, encodes one LogBatch per
 * shard, and resolves once every shard has acknowledged its batch as durable.
 *
 * Numbering: each (writer, shard) pair is its own source, so every shard sees
 * contiguous sequence numbers and its deduplication costs one interval per
 * source. A batch whose acknowledgement does not come is sent again with the
 * same bytes (same source and sequence), which deduplication makes exact.
 */
export class ShardedWriter {
  readonly sourceId: string;
  private readonly ring: HashRing;
  /** Every shard ever routed to: a removed one still takes a batch addressed to it. */
  private readonly known = new Set<string>();
  private readonly streams = new Map<string, { source: string; next: bigint }>();
  private nextStream = 0;

  constructor(
    private readonly sink: ShardSink,
    shards: readonly string[],
    private readonly options: ShardedWriterOptions = {},
  ) {
    this.sourceId = options.sourceId ?? newSourceId();
    for (const name of shards) this.known.add(name);
    this.ring = new HashRing([...shards]);
  }

  /** A writer into this process's shard actors. */
  static overActors(system: ActorSystem, shards: Record<string, ActorRef>, options: ShardedWriterOptions & ActorSinkOptions = {}): ShardedWriter {
    return new ShardedWriter(new ActorShardSink(system, shards, options), Object.keys(shards), options);
  }

  /** New writes for keys that now hash to `name` go there (an actor sink is given its ref). */
  addShard(name: string, ref?: ActorRef): void {
    if (ref) this.sink.add?.(name, ref);
    this.known.add(name);
    this.ring.add(name);
  }

  /** No new writes go to `name`; what it stores stays queryable where it is. */
  removeShard(name: string): void {
    this.ring.remove(name);
  }

  get shards(): string[] {
    return this.ring.shards;
  }

  shardFor(service: string, server: string): string {
    return this.ring.lookup(streamKey(service, server));
  }

  /** Writes entries; resolves when every shard holds its share durably. */
  async write(entries: readonly LogEntry[]): Promise<void> {
    const groups = new Map<string, LogEntry[]>();
    for (const e of entries) {
      const shard = this.shardFor(e.service, e.server);
      let g = groups.get(shard);
      if (!g) groups.set(shard, (g = []));
      g.push(e);
    }
    const max = this.options.maxBatchBytes ?? 1 << 20;
    const writes: Promise<void>[] = [];
    for (const [shard, es] of groups) {
      let start = 0;
      let bytes = 0;
      for (let i = 0; i < es.length; i++) {
        // Worst case on the wire: 3 UTF-8 bytes per UTF-16 unit, plus the fixed columns.
        const size = 3 * es[i]!.message.length + 32;
        if (i > start && bytes + size > max) {
          writes.push(this.writeBatch(shard, this.encode(shard, es.slice(start, i))));
          start = i;
          bytes = 0;
        }
        bytes += size;
      }
      writes.push(this.writeBatch(shard, this.encode(shard, start === 0 ? es : es.slice(start))));
    }
    await Promise.all(writes);
  }

  /**
   * Writes a batch encoded elsewhere (a parse thread) for `shard`: it is
   * stamped with this writer's source and next sequence for that shard, so
   * numbering stays contiguous however many threads encode. Resolves once
   * the shard holds it durably.
   */
  writeEncoded(shard: string, bytes: Uint8Array, count: number): Promise<void> {
    if (!this.known.has(shard)) throw new TributaryError('E_INVALID_ARGUMENT', `no shard ${shard}`, { shard });
    const stream = this.stream(shard);
    stampBatch(bytes, stream.source, stream.next);
    stream.next += BigInt(count);
    return this.writeBatch(shard, bytes);
  }

  /**
   * Sends a batch that already carries its own identity (a client's source
   * and sequence) to `shard` as it is; a resend is stored once by the shard's
   * (source, seq) deduplication. Resolves once it is durable.
   */
  forward(shard: string, bytes: Uint8Array): Promise<void> {
    if (!this.known.has(shard)) throw new TributaryError('E_INVALID_ARGUMENT', `no shard ${JSON.stringify(shard)}`, { shard });
    return this.writeBatch(shard, bytes);
  }

  hasShard(name: string): boolean {
    return this.known.has(name);
  }

  /** Virtual nodes per shard on the ring (clients that route themselves need it). */
  get virtualNodes(): number {
    return this.ring.virtualNodes;
  }

  private stream(shard: string): { source: string; next: bigint } {
    let stream = this.streams.get(shard);
    if (!stream) this.streams.set(shard, (stream = { source: `${this.sourceId}-${this.nextStream++}`, next: 0n }));
    return stream;
  }

  private encode(shard: string, entries: LogEntry[]): Uint8Array {
    const stream = this.stream(shard);
    const bytes = encodeBatch(entries, { sourceId: stream.source, firstSeq: stream.next });
    stream.next += BigInt(entries.length);
    return bytes;
  }

  private writeBatch(shard: string, bytes: Uint8Array): Promise<void> {
    return this.sink.deliver(shard, bytes);
  }
}
