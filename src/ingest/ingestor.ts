import { encodeBatch } from '../batch/encode.js';
import { BatchReader } from '../batch/reader.js';
import { UNSTAMPED_SOURCE } from '../batch/stamp.js';
import { TributaryError } from '../errors.js';
import type { ShardedWriter } from '../shard/sharded-writer.js';
import { NO_PRESSURE, type MemoryPressure } from '../util/memory-pressure.js';
import type { ContentDedup } from './content-dedup.js';
import type { Parser } from './parse-pool.js';
import type { IngestFormat } from './parse-task.js';
import type { ParseResult, RejectReason, Rejection, ShardBatch, SinkOptions } from './sink.js';

export interface IngestLimits extends SinkOptions {
  /** Requests being parsed or written at once; more are refused with E_OVERLOADED (HTTP 429). Default 64. */
  readonly maxConcurrent?: number;
  /** Body bytes being parsed or written at once; more are refused with E_OVERLOADED. Default 64 MiB. */
  readonly maxInFlightBytes?: number;
  /** Largest body after gzip inflation (default 64 MiB). */
  readonly maxInflatedBytes?: number;
}

/** How a request arrived. */
export interface PushOptions {
  /** Content-Encoding of the body. */
  readonly encoding?: 'gzip';
  /** The sender's address (syslog: the server of a message that names no host). */
  readonly peer?: string;
}

/** What happened to one request's entries. */
export interface IngestReport {
  /** Stored durably (acknowledged by their shards). */
  readonly accepted: number;
  /** Recognised as a resend of entries already stored, and not stored again. */
  readonly duplicates: number;
  readonly rejected: Partial<Record<RejectReason, number>>;
  /** The first rejections, each with its line and reason. */
  readonly errors: Rejection[];
}

export interface IngestCounters {
  requests: number;
  accepted: number;
  duplicates: number;
  overloaded: number;
  failed: number;
  rejected: Partial<Record<RejectReason, number>>;
}

/**
 * The front doors' way into storage. The body goes to a parse thread as
 * bytes; per-shard LogBatches come back; resends are dropped by content
 * fingerprint (doors without sequence numbers); each batch is stamped with
 * the writer's source and sequence and written; the answer comes once every
 * shard holds its share durably. Concurrency and in-flight bytes are
 * bounded, so no burst of clients can exhaust memory: past the bound a
 * request is refused at once (the client backs off and retries). Under
 * memory pressure (the daemon near its budget) the bound is one request.
 */
export class Ingestor {
  private inFlight = 0;
  private inFlightBytes = 0;
  private readonly counters = new Map<string, IngestCounters>();

  constructor(
    private readonly writer: ShardedWriter,
    private readonly parser: Parser,
    private readonly dedup: ContentDedup | null,
    private readonly limits: IngestLimits = {},
    private readonly memory: MemoryPressure = NO_PRESSURE,
  ) {}

  /** Counters per door (the `door` argument of push). */
  stats(): Record<string, IngestCounters> {
    return Object.fromEntries([...this.counters].map(([k, v]) => [k, { ...v, rejected: { ...v.rejected } }]));
  }

  async push(door: string, format: IngestFormat, body: Uint8Array, options: PushOptions = {}): Promise<IngestReport> {
    const c = this.countersFor(door);
    c.requests++;
    const maxConcurrent = this.limits.maxConcurrent ?? 64;
    const maxBytes = this.limits.maxInFlightBytes ?? 64 * 1024 * 1024;
    if (this.inFlight > 0 && this.memory.high) {
      c.overloaded++;
      throw new TributaryError('E_OVERLOADED', 'the daemon is near its memory budget: ingest takes one request at a time, retry later', {
        inFlight: this.inFlight,
        memory: 'high',
      });
    }
    if (this.inFlight >= maxConcurrent || (this.inFlight > 0 && this.inFlightBytes + body.byteLength > maxBytes)) {
      c.overloaded++;
      throw new TributaryError('E_OVERLOADED', `ingest is at its limit (${this.inFlight} requests, ${this.inFlightBytes} bytes in flight): retry later`, {
        inFlight: this.inFlight,
        inFlightBytes: this.inFlightBytes,
      });
    }
    this.inFlight++;
    this.inFlightBytes += body.byteLength;
    const size = body.byteLength;
    try {
      const parsed = await this.parser
        .parse({
          format,
          body,
          encoding: options.encoding,
          peer: options.peer,
          maxInflatedBytes: this.limits.maxInflatedBytes,
          shards: this.writer.shards,
          limits: this.limits,
        })
        .catch((err: unknown) => {
          // The parse thread died or the pool is closing: the request was not stored; the client should retry.
          throw new TributaryError('E_WORKER_DIED', `the parse thread failed: ${(err as Error).message}`, { format }, { cause: err });
        });
      const report = await this.store(parsed);
      c.accepted += report.accepted;
      c.duplicates += report.duplicates;
      for (const [reason, n] of Object.entries(report.rejected) as [RejectReason, number][]) c.rejected[reason] = (c.rejected[reason] ?? 0) + n;
      return report;
    } catch (err) {
      c.failed++;
      throw err;
    } finally {
      this.inFlight--;
      this.inFlightBytes -= size;
    }
  }

  private async store(parsed: ParseResult): Promise<IngestReport> {
    let duplicates = 0;
    const writes: Promise<void>[] = [];
    const toRemember: Uint32Array[] = [];
    for (const batch of parsed.batches) {
      let { bytes, count } = batch;
      if (this.dedup) {
        const admission = this.dedup.admitPrints(batch.prints);
        duplicates += admission.duplicates;
        if (admission.duplicates === count) continue;
        if (admission.duplicates > 0) ({ bytes, count } = without(batch, admission.keep));
        toRemember.push(admission.prints);
      }
      writes.push(this.writer.writeEncoded(batch.shard, bytes, count));
    }
    await Promise.all(writes);
    // Remembered only now: a write that failed is retried by its client, and that retry must not look like a resend.
    if (this.dedup) for (const prints of toRemember) this.dedup.remember({ prints });
    return { accepted: parsed.accepted - duplicates, duplicates, rejected: parsed.rejected, errors: parsed.errors };
  }

  /**
   * Counts a request of a door that writes around push (gRPC PushBatches
   * forwards clients' batches as they are): `entries` accepted, or failed
   * (retriable), or refused as malformed.
   */
  count(door: string, entries: number, outcome: 'accepted' | 'failed' | 'malformed' | 'overloaded'): void {
    const c = this.countersFor(door);
    c.requests++;
    if (outcome === 'accepted') c.accepted += entries;
    else if (outcome === 'failed') c.failed++;
    else if (outcome === 'overloaded') c.overloaded++;
    else c.rejected.malformed_body = (c.rejected.malformed_body ?? 0) + Math.max(1, entries);
  }

  private countersFor(door: string): IngestCounters {
    let c = this.counters.get(door);
    if (!c) this.counters.set(door, (c = { requests: 0, accepted: 0, duplicates: 0, overloaded: 0, failed: 0, rejected: {} }));
    return c;
  }
}

/** The batch without the entries `keep` marks 0 (a resend's repeats): rare, so re-encoding is fine. */
function without(batch: ShardBatch, keep: Uint8Array): { bytes: Uint8Array; count: number } {
  const r = BatchReader.open(batch.bytes);
  const kept = [];
  for (let i = 0; i < r.count; i++) if (keep[i] === 1) kept.push(r.entry(i));
  return { bytes: encodeBatch(kept, { sourceId: UNSTAMPED_SOURCE, firstSeq: 0n }), count: kept.length };
}
