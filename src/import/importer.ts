import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import { nanoid } from 'nanoid';
import { stampBatch } from '../batch/stamp.js';
import { AggregatorPool } from '../collector/aggregators.js';
import { GrpcTransport, type BatchTransport } from '../collector/transport.js';
import { poolParser, type Parser } from '../ingest/parse-pool.js';
import type { IngestFormat } from '../ingest/parse-task.js';
import type { ParseResult, RejectReason, Rejection } from '../ingest/sink.js';

export interface ImportOptions {
  readonly files: readonly string[];
  /** Aggregator gRPC addresses (failover in order). */
  readonly aggregators: readonly string[];
  /** 'auto' (default): NDJSON when a file's first byte is `{`, else plain lines. */
  readonly format?: 'auto' | 'ndjson' | 'plain';
  /** Parse threads (default: cores). */
  readonly parseThreads?: number;
  readonly transportFor?: (address: string) => BatchTransport;
  /** Bytes of whole lines per parse task (default 2 MiB). */
  readonly chunkBytes?: number;
  /** Chunks being parsed or sent at once (default 8). */
  readonly maxInFlight?: number;
  readonly onProgress?: (p: ImportProgress) => void;
}

export interface ImportProgress {
  readonly file: string;
  readonly bytesRead: number;
  readonly totalBytes: number;
  readonly entries: number;
}

export interface ImportSummary {
  readonly files: number;
  /** Entries acknowledged as durable. */
  readonly entries: number;
  readonly rejected: Partial<Record<RejectReason, number>>;
  /** The first refused lines, with their file and line number. */
  readonly errors: (Rejection & { file: string })[];
  readonly seconds: number;
  readonly entriesPerSecond: number;
}

/**
 * Bulk import (`tributary import`): files (NDJSON or plain lines, gzip or
 * not) read in chunks of whole lines, parsed on parse threads into
 * per-shard batches, numbered per file and shard, and sent over the same
 * batch transport as collectors; the summary comes once every batch is
 * durable. Plain lines keep their own leading time; the file's name
 * (without extension) is their service.
 */
export async function importFiles(options: ImportOptions): Promise<ImportSummary> {
  const started = performance.now();
  const pool = new AggregatorPool(options.transportFor ?? ((a) => new GrpcTransport(a)), { timeoutMs: 30_000, attempts: 8 });
  pool.setAddresses([...options.aggregators]);
  const parser: Parser = poolParser({ threads: options.parseThreads ?? Math.max(1, availableParallelism()), maxQueue: 1024 });
  const rejected: Partial<Record<RejectReason, number>> = {};
  const errors: (Rejection & { file: string })[] = [];
  let entries = 0;
  const id = nanoid(14);
  try {
    const ring = await pool.ring();
    const shardSerial = new Map(ring.shards.map((s, i) => [s, i]));
    let totalBytes = 0;
    for (const f of options.files) totalBytes += (await stat(f)).size;
    let bytesBefore = 0;
    for (const [fileNo, file] of options.files.entries()) {
      const next = new Map<string, bigint>();
      const service =
        basename(file)
          .replace(/\.gz$/, '')
          .replace(/(_\d+k)?\.(log|ndjson|jsonl|json|txt)$/i, '') || 'import';
      let format: IngestFormat | undefined = options.format === 'ndjson' || options.format === 'plain' ? options.format : undefined;
      const inFlight = new Set<Promise<void>>();
      // Batches are numbered in file order: each chunk's stamping waits for the one before it.
      let order: Promise<unknown> = Promise.resolve();
      let line = 1;
      const submit = (body: Buffer, firstLine: number): void => {
        format ??= body[0] === 0x7b ? 'ndjson' : 'plain';
        const parsed = parser.parse({ format, body, shards: ring.shards, firstLine, limits: { defaults: { service }, fingerprints: false } });
        const stamped = order
          .then(() => parsed)
          .then((r: ParseResult) => {
            for (const b of r.batches) {
              const n = next.get(b.shard) ?? 0n;
              stampBatch(b.bytes, `${id}${fileNo.toString(36)}-${(shardSerial.get(b.shard) ?? 0).toString(36)}`, n);
              next.set(b.shard, n + BigInt(b.count));
            }
            for (const [reason, n] of Object.entries(r.rejected) as [RejectReason, number][]) rejected[reason] = (rejected[reason] ?? 0) + n;
            for (const e of r.errors) if (errors.length < 20) errors.push({ ...e, file });
            return r;
          });
        order = stamped;
        const done = stamped.then(async (r) => {
          await Promise.all(r.batches.map((b) => pool.send(b.shard, b.bytes).then(() => (entries += b.count))));
        });
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done)).catch(() => {});
      };
      let carry: Buffer = Buffer.alloc(0);
      let bytesRead = 0;
      const chunkBytes = options.chunkBytes ?? 2 * 1024 * 1024;
      const pending: Buffer[] = [];
      let pendingBytes = 0;
      const raw = createReadStream(file, { highWaterMark: 1 << 20 });
      const head = await firstBytes(file);
      const stream = head[0] === 0x1f && head[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
      for await (const data of stream as AsyncIterable<Buffer>) {
        bytesRead = raw.bytesRead; // bytes of the file (compressed, for gzip), as totalBytes counts them
        options.onProgress?.({ file, bytesRead: bytesBefore + bytesRead, totalBytes, entries });
        pending.push(data);
        pendingBytes += data.length;
        if (pendingBytes < chunkBytes) continue;
        const all = Buffer.concat([carry, ...pending]);
        pending.length = 0;
        pendingBytes = 0;
        const cut = all.lastIndexOf(10) + 1;
        if (cut === 0) {
          carry = all;
          continue;
        }
        const body = Buffer.from(all.subarray(0, cut));
        carry = Buffer.from(all.subarray(cut));
        const first = line;
        line += countLines(body); // before submit: the body is transferred to a parse thread
        submit(body, first);
        while (inFlight.size >= (options.maxInFlight ?? 8)) await Promise.race(inFlight);
      }
      const rest = Buffer.concat([carry, ...pending]);
      if (rest.length > 0) submit(rest, line);
      await Promise.all(inFlight);
      await order;
      bytesBefore += bytesRead;
    }
  } finally {
    await parser.close();
    pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { files: options.files.length, entries, rejected, errors, seconds, entriesPerSecond: Math.round(entries / seconds) };
}

async function firstBytes(file: string): Promise<Buffer> {
  for await (const c of createReadStream(file, { start: 0, end: 1 })) return c as Buffer;
  return Buffer.alloc(0);
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}
