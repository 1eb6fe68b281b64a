import { readFileSync } from 'node:fs';
import { credentials, Metadata, type Client, type ClientDuplexStream, type ServiceClientConstructor } from '@grpc/grpc-js';
import { TributaryError, isRetriable, type ErrorCode } from '../errors.js';
import { loadTributaryPackage } from '../grpc/proto.js';
import { withRetries, type ShardedWriter, type ShardSink } from '../shard/sharded-writer.js';

/** How an aggregator routes: its shards and the ring's virtual nodes per shard. */
export interface RingInfo {
  readonly shards: readonly string[];
  readonly virtualNodes: number;
}

/**
 * The one hop between an edge that encodes batches (a collector, a client
 * library) and the aggregators that store them. A batch carries its own
 * source and sequence numbers, so sending one twice is harmless: the shard
 * stores it once. Today's implementations are the in-process writer and
 * gRPC PushBatches; a distributed log (NATS JetStream, one stream per shard)
 * slots in here when a deployment outgrows one host.
 */
export interface BatchTransport {
  /** Where the aggregator routes entries: batches must be cut per shard on the same ring. */
  ring(timeoutMs: number): Promise<RingInfo>;
  /** Resolves once the batch is durable in `shard`; rejects with a typed error (E_TIMEOUT, E_UNAVAILABLE, ...). */
  send(shard: string, batch: Uint8Array, timeoutMs: number): Promise<void>;
  close(): void;
}

/** Rejects with E_TIMEOUT when `p` has not settled within `timeoutMs` (calling onTimeout first). */
export function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TributaryError('E_TIMEOUT', `${what} took longer than ${timeoutMs} ms`, { timeoutMs }));
    }, timeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Into the daemon's own writer, in the same process (embedded use, tests, benchmarks). */
export class LocalTransport implements BatchTransport {
  constructor(private readonly writer: ShardedWriter) {}

  async ring(): Promise<RingInfo> {
    return { shards: this.writer.shards, virtualNodes: this.writer.virtualNodes };
  }

  send(shard: string, batch: Uint8Array, timeoutMs: number): Promise<void> {
    // The writer keeps the bytes (a shard's mailbox may still hold them): it gets a copy, the caller keeps its own.
    return withTimeout(this.writer.forward(shard, batch.slice()), timeoutMs, `a batch to ${shard}`);
  }

  close(): void {}
}

interface Ack {
  id: string;
  ok: boolean;
  error_code: string;
  message: string;
}

/** How a sender reaches an aggregator that asks for a token or speaks TLS (plain data: it crosses to actor threads). */
export interface GrpcTransportOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** TLS: the CA that signed the aggregator's certificate (default: the system's), and a client certificate for mutual TLS. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/**
 * gRPC PushBatches to one aggregator: one long-lived stream, batches
 * written as they come, acknowledgements matched by id in any order. A
 * broken stream fails every batch waiting on it (retriable), and the next
 * send opens a new one.
 */
export class GrpcTransport implements BatchTransport {
  private readonly client: Client & Record<string, any>;
  private stream: ClientDuplexStream<unknown, Ack> | undefined;
  private readonly waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 1n;

  private readonly metadata = new Metadata();

  constructor(
    readonly address: string,
    options: GrpcTransportOptions = {},
  ) {
    const Ingest = loadTributaryPackage().Ingest as ServiceClientConstructor;
    if (options.token) this.metadata.set('authorization', `Bearer ${options.token}`);
    const read = (path: string | undefined) => (path ? readFileSync(path) : null);
    const channel = options.tls
      ? credentials.createSsl(read(options.tls.caFile), read(options.tls.keyFile), read(options.tls.certFile))
      : credentials.createInsecure();
    this.client = new Ingest(address, channel, {
      'grpc.max_send_message_length': 64 << 20,
      'grpc.max_receive_message_length': 64 << 20,
      // Reconnect quickly after an aggregator restart: backoff and failover are the sender's job.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    }) as Client & Record<string, any>;
  }

  ring(timeoutMs: number): Promise<RingInfo> {
    return new Promise((resolve, reject) => {
      this.client.Ring({}, this.metadata, { deadline: Date.now() + timeoutMs }, (err: Error | null, r: { shards: string[]; virtual_nodes: number }) =>
        err ? reject(unavailable(this.address, err)) : resolve({ shards: r.shards, virtualNodes: r.virtual_nodes }),
      );
    });
  }

  send(shard: string, batch: Uint8Array, timeoutMs: number): Promise<void> {
    const id = (this.nextId++).toString();
    const done = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.open().write({ shard, batch, id });
    return withTimeout(done, timeoutMs, `a batch to ${this.address}`, () => this.waiting.delete(id));
  }

  private open(): ClientDuplexStream<unknown, Ack> {
    if (this.stream) return this.stream;
    const stream = this.client.PushBatches(this.metadata) as ClientDuplexStream<unknown, Ack>;
    this.stream = stream;
    stream.on('data', (ack: Ack) => {
      const w = this.waiting.get(ack.id);
      if (!w) return; // timed out already: its retry is a new id
      this.waiting.delete(ack.id);
      if (ack.ok) w.resolve();
      else w.reject(new TributaryError((ack.error_code || 'E_INTERNAL') as ErrorCode, ack.message, { aggregator: this.address }));
    });
    const broken = (err?: Error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      const e = unavailable(this.address, err ?? new Error('stream ended'));
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    stream.on('error', broken);
    stream.on('end', () => broken());
    return stream;
  }

  close(): void {
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }
}

function unavailable(address: string, err: Error): TributaryError {
  return new TributaryError('E_UNAVAILABLE', `aggregator ${address}: ${err.message}`, { aggregator: address }, { cause: err });
}

/**
 * A writer's sink over a transport (JetStream in a cluster): each batch is
 * sent with its own bytes until the transport acknowledges it, retrying
 * transient failures (a NATS node lost, a full stream) with backoff; the
 * batch's (source, seq) makes every resend harmless.
 */
export class TransportSink implements ShardSink {
  constructor(
    readonly transport: BatchTransport,
    private readonly options: { readonly timeoutMs?: number; readonly attempts?: number } = {},
  ) {}

  deliver(shard: string, bytes: Uint8Array): Promise<void> {
    return withRetries(`a batch to ${shard}`, this.options.attempts ?? 8, isRetriable, () =>
      this.transport.send(shard, bytes, this.options.timeoutMs ?? 10_000),
    );
  }
}
