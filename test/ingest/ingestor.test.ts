import test from 'ava';
import { ActorSystem } from '../../src/actors/system.js';
import { isTributaryError } from '../../src/errors.js';
import { BatchReader } from '../../src/batch/reader.js';
import { ContentDedup } from '../../src/ingest/content-dedup.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import { inlineParser, type Parser } from '../../src/ingest/parse-pool.js';
import { parseBody } from '../../src/ingest/parse-task.js';
import { ShardedWriter } from '../../src/shard/sharded-writer.js';
import type { ParseResult } from '../../src/ingest/sink.js';

const T0 = 1_763_758_800_000_000_000n;
const shards = ['shard-0', 'shard-1', 'shard-2'];

test('a parse thread routes every entry to the shard the writer would pick', (t) => {
  const body = Buffer.from(
    Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({ ts: (T0 + BigInt(i)).toString(), service: `svc-${i % 13}`, server: `srv-${i % 97}`, msg: `m${i}` }),
    ).join('\n'),
  );
  const result = parseBody({ format: 'ndjson', body, shards });
  t.is(result.accepted, 2000);
  // A writer over the same ring members, without a system: only its routing is used.
  const writer = ShardedWriter.overActors(undefined as never, Object.fromEntries(shards.map((s, i) => [s, { id: i + 1, name: s }])));
  let seen = 0;
  for (const b of result.batches) {
    const r = BatchReader.open(b.bytes);
    t.is(r.count, b.count);
    t.is(b.prints.length, 2 * b.count);
    for (let i = 0; i < r.count; i++) {
      const e = r.entry(i);
      t.is(writer.shardFor(e.service, e.server), b.shard);
      seen++;
    }
  }
  t.is(seen, 2000);
});

test('large requests are cut into batches no bigger than a frame', (t) => {
  const line = (i: number) => JSON.stringify({ ts: (T0 + BigInt(i)).toString(), service: 's', server: 'h', msg: 'x'.repeat(1000) });
  const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => line(i)).join('\n'));
  const result = parseBody({ format: 'ndjson', body, shards: ['only'], limits: { maxBatchBytes: 256 * 1024 } });
  t.true(result.batches.length >= 19);
  t.true(result.batches.every((b) => b.bytes.byteLength <= 256 * 1024));
  t.is(
    result.batches.reduce((a, b) => a + b.count, 0),
    5000,
  );
});

test('requests beyond the concurrency limit are refused at once, and a failed parse thread fails only its request', async (t) => {
  let release!: (r: ParseResult) => void;
  const slow: Parser = {
    parse: () => new Promise<ParseResult>((r) => (release = r)),
    close: async () => {},
  };
  const writer = ShardedWriter.overActors(undefined as never, { 'shard-0': { id: 1, name: 'shard-0' } });
  const ingestor = new Ingestor(writer, slow, new ContentDedup(), { maxConcurrent: 1 });
  const first = ingestor.push('test', 'ndjson', Buffer.from('{}'));
  const refused = await ingestor.push('test', 'ndjson', Buffer.from('{}')).catch((e: unknown) => e);
  t.true(isTributaryError(refused, 'E_OVERLOADED'));
  release({ batches: [], accepted: 0, rejected: {}, errors: [] });
  t.like(await first, { accepted: 0 });
  t.like(ingestor.stats().test, { requests: 2, overloaded: 1 });

  const broken = new Ingestor(writer, { parse: async () => Promise.reject(new Error('worker exited')), close: async () => {} }, null);
  const err = await broken.push('test', 'ndjson', Buffer.from('{}')).catch((e: unknown) => e);
  t.true(isTributaryError(err, 'E_WORKER_DIED'));
  t.like(broken.stats().test, { failed: 1 });
});

test('entries parsed on a thread reach storage numbered contiguously per shard', async (t) => {
  const system = await ActorSystem.start({ workers: 1 });
  t.teardown(() => system.stop());
  const received: { source: string; first: bigint; count: number }[] = [];
  const ref = await system.spawn({ name: 'sink', behaviour: { module: new URL('../fixtures/actors/ack-sink.js', import.meta.url) } });
  const writer = ShardedWriter.overActors(system, { [ref.name]: ref });
  const ingestor = new Ingestor(writer, inlineParser, null);
  for (let k = 0; k < 3; k++) {
    const body = Array.from({ length: 10 }, (_, i) => JSON.stringify({ ts: (T0 + BigInt(k * 10 + i)).toString(), msg: `m${i}` })).join('\n');
    t.like(await ingestor.push('test', 'ndjson', Buffer.from(body)), { accepted: 10 });
  }
  const seen = await system.ask<{ source: string; first: string; count: number }[]>(ref, 'batches');
  for (const b of seen) received.push({ source: b.source, first: BigInt(b.first), count: b.count });
  t.is(new Set(received.map((r) => r.source)).size, 1);
  t.deepEqual(
    received.map((r) => [r.first, r.count]),
    [
      [0n, 10],
      [10n, 10],
      [20n, 10],
    ],
  );
});

test('an entry with an oversized label or line is refused by reason; its neighbours are stored', (t) => {
  const lines = [
    { ts: (T0 + 1n).toString(), service: 'ok', msg: 'fine' },
    { ts: (T0 + 2n).toString(), service: 'é'.repeat(600), msg: 'label of 1200 bytes' },
    { ts: (T0 + 3n).toString(), service: 'ok', msg: 'x'.repeat(300 * 1024) },
    { ts: (T0 + 4n).toString(), service: 'ok', server: 'h'.repeat(1024), msg: 'label of exactly 1024 bytes is allowed' },
  ];
  const r = parseBody({ format: 'ndjson', body: Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n')), shards });
  t.is(r.accepted, 2);
  t.deepEqual(r.rejected, { label_too_long: 1, line_too_long: 1 });
  t.deepEqual(
    r.errors.map((e) => e.line),
    [2, 3],
  );
});

test('an entry larger than a whole batch is refused alone; the request goes on', (t) => {
  const lines = [
    { ts: (T0 + 1n).toString(), service: 's', msg: 'before' },
    { ts: (T0 + 2n).toString(), service: 's', msg: 'y'.repeat(100 * 1024) }, // under the line limit, over the batch size
    { ts: (T0 + 3n).toString(), service: 's', msg: 'after' },
  ];
  const r = parseBody({ format: 'ndjson', body: Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n')), shards, limits: { maxBatchBytes: 64 * 1024 } });
  t.is(r.accepted, 2);
  t.deepEqual(r.rejected, { line_too_long: 1 });
  t.is(r.errors[0]!.line, 2);
  t.is(
    r.batches.reduce((a, b) => a + b.count, 0),
    2,
  );
});
