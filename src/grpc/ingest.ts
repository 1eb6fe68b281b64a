import { type Server, type ServerDuplexStream, type ServiceClientConstructor, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import { BatchReader } from '../batch/reader.js';
import { TributaryError, isRetriable, isTributaryError, publicError } from '../errors.js';
import type { Ingestor } from '../ingest/ingestor.js';
import type { ShardedWriter } from '../shard/sharded-writer.js';
import type { SourceLedger } from '../ingest/source-ledger.js';
import { NO_PRESSURE, type MemoryPressure } from '../util/memory-pressure.js';
import { grpcError } from './errors.js';
import { loadTributaryPackage } from './proto.js';

export interface GrpcIngestDeps {
  readonly ingestor: Ingestor;
  readonly writer: ShardedWriter;
  /** Batches of one PushBatches stream being stored at once; the stream stops reading past it (HTTP/2 flow control backs the client off). Default 64. */
  readonly maxInFlightPerStream?: number;
  /** Per-source accounting of the numbered batches that arrive. */
  readonly ledger?: SourceLedger;
  /** Near the memory budget, a stream reads one batch at a time. */
  readonly memory?: MemoryPressure;
}

interface BatchFrame {
  shard: string;
  batch: Buffer;
  id: string;
}

/**
 * The native ingest service (tributary.v1.Ingest):
 * - Push: the request's raw bytes go to a parse thread (the main thread
 *   never decodes the entries), which numbers and deduplicates as the HTTP
 *   doors do.
 * - Ring and PushBatches: a client that routes by the ring sends LogBatches
 *   per shard, with its own source and sequence numbers; each is checked and
 *   forwarded as bytes, and acknowledged once durable. The fast path: no
 *   entry is decoded anywhere on the way in.
 */
export function addIngestService(server: Server, deps: GrpcIngestDeps): void {
  const pkg = loadTributaryPackage();
  const definition = (pkg.Ingest as ServiceClientConstructor).service;
  // Push keeps its request as bytes: decoding happens on a parse thread.
  const withRawPush: ServiceDefinition = { ...definition, Push: { ...definition.Push!, requestDeserialize: (b: Buffer) => b } };
  const maxInFlight = deps.maxInFlightPerStream ?? 64;
  const memory = deps.memory ?? NO_PRESSURE;
  server.addService(withRawPush, {
    Push: async (call: { request: Buffer }, callback: sendUnaryData<unknown>) => {
      try {
        const r = await deps.ingestor.push('grpc-push', 'tributary-push', call.request);
        callback(null, { accepted: r.accepted, duplicates: r.duplicates, rejected: r.rejected, errors: r.errors });
      } catch (err) {
        callback(grpcError(err));
      }
    },
    Ring: (_call: unknown, callback: sendUnaryData<unknown>) => {
      callback(null, { shards: deps.writer.shards, virtual_nodes: deps.writer.virtualNodes });
    },
    PushBatches: (call: ServerDuplexStream<BatchFrame, unknown>) => {
      let inFlight = 0;
      let ended = false;
      // Flow control: past the bound the stream stops reading, and HTTP/2 makes the client's writes wait.
      const bound = () => (memory.high ? 1 : maxInFlight);
      const finishIfDone = () => {
        if (ended && inFlight === 0) {
          unsubscribe();
          call.end();
        }
      };
      const unsubscribe = memory.onChange(() => (inFlight < bound() ? call.resume() : call.pause()));
      call.on('close', unsubscribe);
      call.on('data', (frame: BatchFrame) => {
        inFlight++;
        if (inFlight >= bound()) call.pause();
        void storeFrame(deps.writer, frame, deps.ledger)
          .then(
            (entries) => {
              deps.ingestor.count('grpc-batches', entries, 'accepted');
              call.write({ id: frame.id, ok: true });
            },
            (err: unknown) => {
              const outcome = isTributaryError(err, 'E_OVERLOADED') ? 'overloaded' : isRetriable(err) ? 'failed' : 'malformed';
              deps.ingestor.count('grpc-batches', 0, outcome);
              call.write({ id: frame.id, ok: false, error_code: isTributaryError(err) ? err.code : 'E_INTERNAL', message: publicError(err).message });
            },
          )
          .finally(() => {
            inFlight--;
            if (inFlight < bound()) call.resume();
            finishIfDone();
          });
      });
      call.on('end', () => {
        ended = true;
        finishIfDone();
      });
      call.on('error', unsubscribe); // a client that went away: its unacknowledged batches are its to resend
    },
  });
}

/** Checks a client's batch whole (header, every section's CRC) before a shard sees it: bad bytes never reach storage. */
async function storeFrame(writer: ShardedWriter, frame: BatchFrame, ledger: SourceLedger | undefined): Promise<number> {
  // A batch from the socket shares (and may be unaligned in) its buffer: the shard gets bytes of its own.
  const bytes = new Uint8Array(frame.batch);
  const reader = BatchReader.open(bytes); // a header that does not read has no source to account to
  ledger?.received(reader.sourceId, reader.count);
  try {
    if (!writer.hasShard(frame.shard)) {
      throw new TributaryError('E_INVALID_ARGUMENT', `no shard ${JSON.stringify(frame.shard)}: ask Ring for the shards`, { shard: frame.shard });
    }
    reader.validate();
    await writer.forward(frame.shard, bytes);
  } catch (err) {
    if (isRetriable(err)) ledger?.failed(reader.sourceId, reader.count);
    else ledger?.refused(reader.sourceId, reader.count);
    throw err;
  }
  ledger?.acknowledged(reader.sourceId, reader.count);
  return reader.count;
}
