import { hostname } from 'node:os';
import { stampBatch } from '../batch/stamp.js';
import { TributaryError, isRetriable } from '../errors.js';
import { parseNdjson } from '../ingest/formats/ndjson.js';
import { ShardSink, type RejectReason, type StreamDefaults } from '../ingest/sink.js';
import { LEVEL_NAMES, type Level } from '../model/level.js';
import { newSourceId } from '../model/source.js';
import { backoffDelay } from '../supervisor/backoff.js';
import { AggregatorPool, readAggregatorConfig, watchAggregatorConfig, type AggregatorStats, type SendPolicy } from '../collector/aggregators.js';
import { GrpcTransport, type BatchTransport, type GrpcTransportOptions, type RingInfo } from '../collector/transport.js';

/** What to give up when the client holds its limit of unsent bytes. */
export type ClientFullPolicy = 'drop_newest' | 'drop_oldest';

export interface ClientOptions {
  /** gRPC addresses of aggregators (default 127.0.0.1:9095). */
  readonly aggregators?: readonly string[];
  /** Or a file listing them, `{"aggregators": [...]}`, reloaded when it changes. */
  readonly aggregatorsFile?: string;
  /** Labels for entries that name none (default: this host's name as the server). */
  readonly labels?: Partial<StreamDefaults>;
  /** Entries wait at most this long before they are sent (default 200 ms). */
  readonly flushMs?: number;
  /** ...or until this many bytes of lines wait (default 256 KiB). */
  readonly batchBytes?: number;
  /**
   * Bytes held at most: lines not yet sent plus batches not yet
   * acknowledged (default 64 MiB). Past it, `whenFull` decides; the
   * service's event loop is never blocked.
   */
  readonly maxBufferedBytes?: number;
  /** Default drop_newest: what is held keeps its place and its numbers. */
  readonly whenFull?: ClientFullPolicy;
  /** Batches being sent at once (default 4). */
  readonly maxInFlight?: number;
  readonly send?: SendPolicy;
  /** The client's source id (default a new nanoid): entries are numbered per shard under `${sourceId}-${n}`. */
  readonly sourceId?: string;
  /** How to reach an aggregator (default gRPC PushBatches). */
  readonly transportFor?: (address: string) => BatchTransport;
  /** Token and TLS for the default gRPC transport (a daemon with auth tokens asks for one). */
  readonly grpc?: GrpcTransportOptions;
  /** Where the client reports trouble (an aggregator unreachable, lines dropped); default: nowhere. */
  readonly onError?: (err: Error) => void;
}

/** An entry for `log()`: only the message is required. */
export interface ClientEntry {
  /** Nanoseconds (bigint), milliseconds (number) or a Date; default now. */
  readonly ts?: bigint | number | Date;
  readonly level?: Level | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  readonly service?: string;
  readonly server?: string;
  readonly region?: string;
  readonly message: string;
}

export interface ClientStats {
  /** Lines handed to the client (write) or entries logged. */
  lines: number;
  /** Entries acknowledged as durable by an aggregator. */
  acked: number;
  /** Entries given up under the full policy (those already numbered leave a gap the daemon's accounts show). */
  dropped: number;
  /** Lines refused as bad input, by reason (parsed here; never sent). */
  rejected: Partial<Record<RejectReason, number>>;
  /** Entries an aggregator refused (not retried). */
  refused: number;
  /** Bytes held: unsent lines and unacknowledged batches. */
  bufferedBytes: number;
  /** Per shard, this client's source and the next number it will give. */
  sources: { shard: string; source: string; next: number }[];
  aggregators: AggregatorStats[];
}

interface Outgoing {
  readonly ordinal: number;
  readonly shard: string;
  readonly bytes: Uint8Array;
  readonly count: number;
  attempt: number;
}

/**
 * A small client for Node code (and the engine of the pino transport):
 * lines or entries are held, cut into batches per shard every `flushMs`
 * or `batchBytes`, numbered per shard under the client's source, and sent
 * over gRPC PushBatches with the collector's machinery (timeouts, backoff
 * with full jitter, failover, circuit breakers). A batch keeps its bytes
 * and numbers across retries, so a resend is stored once. Nothing here
 * blocks the caller: `write` and `log` only append; memory is bounded by
 * `maxBufferedBytes`.
 */
export class TributaryClient {
  readonly sourceId: string;
  private readonly pool: AggregatorPool;
  private readonly o: Required<Pick<ClientOptions, 'flushMs' | 'batchBytes' | 'maxBufferedBytes' | 'whenFull' | 'maxInFlight'>>;
  private readonly defaults: Partial<StreamDefaults>;
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly outbox: Outgoing[] = [];
  private outboxBytes = 0;
  private inFlight = 0;
  private nextOrdinal = 0;
  /** Ordinals of batches not yet settled (acknowledged, refused or dropped), ascending: Set order is insertion order. */
  private readonly unsettled = new Set<number>();
  /** write() calls so far, and how many of them the last cut took in (the batches it made end before cutOrdinal). */
  private written = 0;
  private cutUpTo = 0;
  private cutOrdinal = 0;
  private waiters: { writes: number; ordinal?: number; resolve: () => void }[] = [];
  private readonly streams = new Map<string, { source: string; next: bigint }>();
  private ring: RingInfo | undefined;
  private ringAt = 0;
  private ringLoading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Fetching the ring again after a failure. */
  private ringRetry: NodeJS.Timeout | undefined;
  /** Sending the queue's head again after every aggregator failed it. */
  private sendRetry: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private closed = false;
  private readonly counters = { lines: 0, acked: 0, dropped: 0, refused: 0 };
  private readonly rejected: Partial<Record<RejectReason, number>> = {};
  private readonly onError: (err: Error) => void;

  constructor(options: ClientOptions = {}) {
    this.sourceId = options.sourceId ?? newSourceId();
    this.o = {
      flushMs: options.flushMs ?? 200,
      batchBytes: options.batchBytes ?? 256 * 1024,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
      whenFull: options.whenFull ?? 'drop_newest',
      maxInFlight: options.maxInFlight ?? 4,
    };
    this.defaults = { server: hostname(), ...options.labels };
    this.onError = options.onError ?? (() => {});
    this.pool = new AggregatorPool(options.transportFor ?? ((address) => new GrpcTransport(address, options.grpc)), options.send);
    if (options.aggregatorsFile) {
      this.pool.setAddresses(readAggregatorConfig(options.aggregatorsFile).aggregators);
      this.unwatch = watchAggregatorConfig(
        options.aggregatorsFile,
        (config) => this.pool.setAddresses(config.aggregators),
        (err) => this.onError(err),
      );
    } else {
      this.pool.setAddresses(options.aggregators && options.aggregators.length > 0 ? options.aggregators : ['127.0.0.1:9095']);
    }
  }

  /**
   * Takes NDJSON lines (pino's output, or any entry with ts/time, level,
   * service/name, server/hostname, region, msg/message). A partial last
   * line is an error of the caller: every call must end with a newline.
   * Returns false when the lines were dropped (the client is full under
   * drop_newest, or closed).
   */
  write(lines: string): boolean {
    if (this.closed) return false;
    const bytes = lines.length; // UTF-16 units: a bound that is cheap, and close enough for a budget
    if (!this.makeRoom(bytes)) {
      this.counters.dropped += countLines(lines);
      return false;
    }
    this.pending.push(lines);
    this.pendingBytes += bytes;
    this.written++;
    this.counters.lines += countLines(lines);
    if (this.pendingBytes >= this.o.batchBytes) this.cut();
    else this.timer ??= setTimeout(() => this.cut(), this.o.flushMs).unref();
    return true;
  }

  /** Logs one entry. */
  log(entry: ClientEntry): boolean {
    const level = typeof entry.level === 'number' ? LEVEL_NAMES[entry.level] : (entry.level ?? 'INFO');
    const ts = entry.ts === undefined ? Date.now() : entry.ts instanceof Date ? entry.ts.getTime() : entry.ts;
    // Through the same parser as lines: one mapping of fields, one set of checks.
    const line = JSON.stringify({
      ts: typeof ts === 'bigint' ? ts.toString() : ts,
      level,
      ...(entry.service !== undefined ? { service: entry.service } : {}),
      ...(entry.server !== undefined ? { server: entry.server } : {}),
      ...(entry.region !== undefined ? { region: entry.region } : {}),
      msg: entry.message,
    });
    return this.write(line + '\n');
  }

  /** Resolves once everything written before the call is acknowledged, refused or dropped. */
  async flush(): Promise<void> {
    const writes = this.written;
    const done = new Promise<void>((resolve) => this.waiters.push({ writes, resolve }));
    this.cut();
    await done;
  }

  /** Flushes (waiting at most `timeoutMs`, default 10 s), then closes the connections. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.closed = true;
    // What the timeout left unsent is lost: counted, and the numbers already given leave gaps the daemon reports.
    for (const p of this.pending) this.counters.dropped += countLines(p);
    for (const b of this.outbox) this.counters.dropped += b.count;
    this.pending = [];
    this.pendingBytes = 0;
    this.outbox.length = 0;
    this.outboxBytes = 0;
    clearTimeout(this.timer);
    clearTimeout(this.ringRetry);
    clearTimeout(this.sendRetry);
    this.unwatch?.();
    this.pool.close();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  stats(): ClientStats {
    return {
      ...this.counters,
      rejected: { ...this.rejected },
      bufferedBytes: this.pendingBytes + this.outboxBytes,
      sources: [...this.streams].map(([shard, s]) => ({ shard, source: s.source, next: Number(s.next) })),
      aggregators: this.pool.stats(),
    };
  }

  // --- batching --------------------------------------------------------------

  /** Parses what is pending into numbered per-shard batches (once the ring is known). */
  private cut(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    if (this.pending.length === 0) {
      this.cutDone();
      return;
    }
    if (!this.ring || Date.now() - this.ringAt > 30_000) {
      this.loadRing();
      if (!this.ring) return; // lines wait (bounded) until an aggregator tells the ring
    }
    const body = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    const sink = new ShardSink(this.ring.shards, { defaults: this.defaults, fingerprints: false }, body.length);
    parseNdjson(sink, body);
    const result = sink.finish();
    for (const [reason, n] of Object.entries(result.rejected) as [RejectReason, number][]) this.rejected[reason] = (this.rejected[reason] ?? 0) + n;
    if (result.errors.length > 0)
      this.onError(new TributaryError('E_INGEST_INVALID', `tributary client: ${result.errors[0]!.message}`, { refused: result.errors.length }));
    for (const b of result.batches) {
      let s = this.streams.get(b.shard);
      if (!s) this.streams.set(b.shard, (s = { source: `${this.sourceId}-${this.streams.size.toString(36)}`, next: 0n }));
      stampBatch(b.bytes, s.source, s.next);
      s.next += BigInt(b.count);
      const ordinal = this.nextOrdinal++;
      this.unsettled.add(ordinal);
      this.outbox.push({ ordinal, shard: b.shard, bytes: b.bytes, count: b.count, attempt: 0 });
      this.outboxBytes += b.bytes.byteLength;
    }
    this.cutDone();
    this.pump();
  }

  /** Every write so far is now in batches below nextOrdinal. */
  private cutDone(): void {
    this.cutUpTo = this.written;
    this.cutOrdinal = this.nextOrdinal;
    this.settle();
  }

  private loadRing(): void {
    this.ringLoading ??= this.pool
      .ring()
      .then(
        (ring) => {
          this.ring = ring;
          this.ringAt = Date.now();
        },
        (err: Error) => {
          this.onError(err);
          // Try again later; what is pending stays pending.
          clearTimeout(this.ringRetry);
          this.ringRetry = setTimeout(() => this.cut(), backoffDelay({ initialMs: 500, maxMs: 5000, jitter: 1 }, 2)).unref();
        },
      )
      .finally(() => {
        this.ringLoading = undefined;
        if (this.ring) this.cut();
      });
  }

  /** Frees room for `bytes` under the full policy; false when the new lines must go. */
  private makeRoom(bytes: number): boolean {
    if (this.pendingBytes + this.outboxBytes + bytes <= this.o.maxBufferedBytes) return true;
    if (this.o.whenFull === 'drop_newest') {
      this.onError(new TributaryError('E_BUFFER_FULL', `tributary client holds ${this.pendingBytes + this.outboxBytes} bytes: new lines dropped`, {}));
      return false;
    }
    // drop_oldest: unsent lines first, then batches waiting their turn (their numbers become a gap the daemon reports).
    while (this.pending.length > 0 && this.pendingBytes + this.outboxBytes + bytes > this.o.maxBufferedBytes) {
      const old = this.pending.shift()!;
      this.pendingBytes -= old.length;
      this.counters.dropped += countLines(old);
    }
    while (this.outbox.length > 0 && this.pendingBytes + this.outboxBytes + bytes > this.o.maxBufferedBytes) {
      const old = this.outbox.shift()!;
      this.outboxBytes -= old.bytes.byteLength;
      this.counters.dropped += old.count;
      this.unsettled.delete(old.ordinal);
    }
    this.settle();
    return this.pendingBytes + this.outboxBytes + bytes <= this.o.maxBufferedBytes;
  }

  // --- sending ---------------------------------------------------------------

  private pump(): void {
    while (this.inFlight < this.o.maxInFlight && this.outbox.length > 0 && !this.closed) {
      const b = this.outbox.shift()!;
      this.inFlight++;
      void this.pool.send(b.shard, b.bytes).then(
        () => {
          this.counters.acked += b.count;
          this.done(b);
        },
        (err: Error) => {
          if (isRetriable(err) && !this.closed) {
            // Every aggregator failed its attempts: back in front of the queue, tried again after a pause.
            this.onError(err);
            b.attempt++;
            this.outbox.unshift(b);
            this.inFlight--;
            clearTimeout(this.sendRetry);
            this.sendRetry = setTimeout(() => this.pump(), backoffDelay({ initialMs: 200, maxMs: 10_000, jitter: 1 }, b.attempt)).unref();
            return;
          }
          if (this.closed)
            this.counters.dropped += b.count; // closed before it was acknowledged
          else {
            this.counters.refused += b.count;
            this.onError(err);
          }
          this.done(b);
        },
      );
    }
  }

  private done(b: Outgoing): void {
    this.inFlight--;
    this.outboxBytes -= b.bytes.byteLength;
    this.unsettled.delete(b.ordinal);
    this.settle();
    this.pump();
  }

  /** The lowest ordinal not yet settled. */
  private settledBelow(): number {
    for (const o of this.unsettled) return o;
    return this.nextOrdinal;
  }

  /** Resolves the flushes whose writes are all cut into batches, and those batches all settled. */
  private settle(): void {
    if (this.waiters.length === 0) return;
    const below = this.settledBelow();
    this.waiters = this.waiters.filter((w) => {
      if (w.ordinal === undefined && this.cutUpTo >= w.writes) w.ordinal = this.cutOrdinal;
      if (w.ordinal === undefined || below < w.ordinal) return true;
      w.resolve();
      return false;
    });
  }
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}
