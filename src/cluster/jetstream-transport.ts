import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { BatchReader } from '../batch/reader.js';
import { splitBatch } from '../batch/split.js';
import { TributaryError, isTributaryError } from '../errors.js';
import { withTimeout, type BatchTransport, type RingInfo } from '../collector/transport.js';
import { connectNats, maxPayload, names, type NatsOptions } from './nats.js';
import type { ClusterConfig } from './config.js';

/** JetStream's error code for "maximum bytes exceeded" on a stream that discards new messages when full. */
const STREAM_FULL = 10077;
/** Room left in a message for its subject and headers (message id, expected stream). */
const PUBLISH_OVERHEAD_BYTES = 4096;

/**
 * NATS JetStream between edges and shards: a batch is published to its
 * shard's subject and counts as sent once the stream has it on a quorum of
 * its replicas (the publish acknowledgement). The message id is the batch's
 * (source, first seq, count), so a resend inside the stream's duplicate
 * window is dropped by JetStream, and one after it by the shard's own
 * (source, seq) deduplication.
 */
export class JetStreamTransport implements BatchTransport {
  private connection: Promise<NatsConnection> | undefined;
  private js: JetStreamClient | undefined;
  private closed = false;

  constructor(
    private readonly options: NatsOptions,
    /** A connection to share (the daemon's); the transport then leaves it open on close. */
    private readonly shared?: NatsConnection,
  ) {}

  private async client(): Promise<JetStreamClient> {
    if (this.closed) throw new TributaryError('E_UNAVAILABLE', 'the JetStream transport is closed', {});
    if (this.js) return this.js;
    this.connection ??= this.shared ? Promise.resolve(this.shared) : connectNats({ name: 'tributary-edge', ...this.options });
    const nc = await this.connection;
    this.js = jetstream(nc, { timeout: 10_000 });
    return this.js;
  }

  async ring(timeoutMs: number): Promise<RingInfo> {
    const config = await withTimeout(readClusterConfig(await this.client()), timeoutMs, 'reading the cluster configuration');
    if (!config) throw new TributaryError('E_UNAVAILABLE', 'no Tributary cluster in this NATS yet: start a daemon with --cluster first', {});
    return { shards: config.shards, virtualNodes: config.virtualNodes };
  }

  async send(shard: string, batch: Uint8Array, timeoutMs: number): Promise<void> {
    const js = await withTimeout(this.client(), timeoutMs, 'connecting to NATS');
    const nc = await this.connection!;
    // A message must fit the servers' max_payload (1 MB unless configured): a larger batch goes as parts, one after
    // another so the shard sees its numbering in order, each with its own message id.
    for (const part of splitBatch(batch, maxPayload(nc) - PUBLISH_OVERHEAD_BYTES)) {
      const header = BatchReader.open(part);
      try {
        await js.publish(names.subject(shard), part, {
          msgID: `${header.sourceId}:${header.firstSeq}:${header.count}`,
          expect: { streamName: names.stream(shard) },
          timeout: timeoutMs,
        });
      } catch (err) {
        throw publishError(shard, err);
      }
    }
  }

  close(): void {
    this.closed = true;
    if (!this.shared) void this.connection?.then((nc) => nc.close()).catch(() => {});
  }
}

/** The cluster configuration in NATS, or null before the first daemon has written it. */
export async function readClusterConfig(js: JetStreamClient): Promise<ClusterConfig | null> {
  try {
    const kv = await new Kvm(js).open(names.clusterBucket);
    const entry = await kv.get(names.clusterKey);
    return entry && entry.operation === 'PUT' ? entry.json<ClusterConfig>() : null;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === 10059) return null; // stream (bucket) not found
    throw new TributaryError('E_UNAVAILABLE', `reading the cluster configuration: ${(err as Error).message}`, {}, { cause: err });
  }
}

function publishError(shard: string, err: unknown): TributaryError {
  if (isTributaryError(err)) return err;
  const e = err as Error & { code?: number };
  if (err instanceof JetStreamApiError && err.code === STREAM_FULL) {
    return new TributaryError('E_OVERLOADED', `the stream of ${shard} is full: its owner is behind`, { shard }, { cause: err });
  }
  if (e.name === 'TimeoutError') return new TributaryError('E_TIMEOUT', `publishing to ${shard}: ${e.message}`, { shard }, { cause: err });
  return new TributaryError('E_UNAVAILABLE', `publishing to ${shard}: ${e.message}`, { shard }, { cause: err });
}
