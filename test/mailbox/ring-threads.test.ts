import test from 'ava';
import { Doorbell, FrameKind, RingReader, RingWriter, createRing, ringStats } from '../../src/mailbox/index.js';
import { newSourceId } from '../../src/model/source.js';
import { startWorker, waitForCounter, waitUntil } from '../helpers/workers.js';

interface ProducerResult {
  checksum: number;
  count: number;
}
interface ConsumerResult {
  errors: string[];
  firstSeq?: number;
  sources: Record<string, { checksum: number; count: number }>;
}

test('10 million sequenced entries cross threads: none lost, duplicated, reordered or altered', async (t) => {
  const ring = createRing(1 << 20);
  const sourceId = newSourceId();
  const consumer = startWorker<ConsumerResult>(t, 'mailbox/batch-consumer.js', { rings: [ring] });
  const producer = startWorker<ProducerResult>(t, 'mailbox/batch-producer.js', { ring, entries: 10_000_000, perBatch: 2048, sourceId, dest: 1 });
  const [sent, got] = await Promise.all([producer.result, consumer.result]);
  t.deepEqual(got.errors, []);
  t.is(sent.count, 10_000_000);
  t.deepEqual(got.sources[sourceId], { checksum: sent.checksum, count: 10_000_000 });
  t.is(ringStats(ring).pendingBytes, 0);
});

test('three senders into one inbox: each stream arrives complete and in order', async (t) => {
  const bell = new Doorbell();
  const rings = [0, 1, 2].map(() => createRing(1 << 18, bell));
  const consumer = startWorker<ConsumerResult>(t, 'mailbox/batch-consumer.js', { rings });
  const producers = rings.map((ring) => {
    const sourceId = newSourceId();
    return { sourceId, run: startWorker<ProducerResult>(t, 'mailbox/batch-producer.js', { ring, entries: 1_000_000, perBatch: 500, sourceId, dest: 1 }) };
  });
  const sent = await Promise.all(producers.map((p) => p.run.result));
  const got = await consumer.result;
  t.deepEqual(got.errors, []);
  producers.forEach((p, i) => t.deepEqual(got.sources[p.sourceId], { checksum: sent[i]!.checksum, count: 1_000_000 }));
});

test('a full ring parks the producer without spinning, and it resumes when the consumer drains', async (t) => {
  const ring = createRing(1 << 16);
  const sourceId = newSourceId();
  const producer = startWorker<ProducerResult>(t, 'mailbox/batch-producer.js', { ring, entries: 200_000, perBatch: 100, sourceId, dest: 1 });
  await waitUntil('the producer parks on the full ring', () => ringStats(ring).producerParked);
  const stalled = ringStats(ring);
  t.true(stalled.pendingBytes > (1 << 16) - 20_000, 'parked only once the ring was full');
  t.is(ringStats(ring).framesWritten, stalled.framesWritten, 'no progress while parked');
  // Now consume on the main thread, awaiting without blocking the event loop.
  const reader = new RingReader(ring);
  let expected = 0n;
  let entries = 0;
  const { BatchReader } = await import('../../src/batch/reader.js');
  for (;;) {
    reader.drain((f) => {
      const r = BatchReader.open(f.body);
      if (r.firstSeq !== expected) throw new Error(`expected ${expected}, got ${r.firstSeq}`);
      expected += BigInt(r.count);
      entries += r.count;
    });
    if (reader.done) break;
    await reader.waitForDataAsync(5000);
  }
  t.is(entries, 200_000);
  t.is((await producer.result).count, 200_000);
});

for (const phase of ['before-commit', 'after-commit'] as const) {
  test(`a consumer terminated mid-stream (${phase}) and restarted re-reads exactly the unhandled frames`, async (t) => {
    const perBatch = 100;
    const batches = 2000;
    const holdBatch = 300 + Math.floor(Math.random() * 1000);
    t.log(`killed at batch ${holdBatch}, ${phase}`);
    const ring = createRing(1 << 16);
    const sourceId = newSourceId();
    const handled1 = new SharedArrayBuffer(batches * 4);
    const progress = new SharedArrayBuffer(16);
    const first = startWorker<ConsumerResult>(t, 'mailbox/batch-consumer.js', {
      rings: [ring],
      handled: handled1,
      progress,
      perBatch,
      commitEvery: 1,
      holdAt: { batch: holdBatch, phase },
    });
    const producer = startWorker<ProducerResult>(t, 'mailbox/batch-producer.js', { ring, entries: batches * perBatch, perBatch, sourceId, dest: 1 });
    await waitForCounter(new Int32Array(progress), 1, 1);
    await first.worker.terminate();
    const h1 = new Int32Array(handled1);
    t.true(
      h1.slice(0, holdBatch + 1).every((c) => c === 1),
      'batches up to the kill were each handled once',
    );
    t.true(
      h1.slice(holdBatch + 1).every((c) => c === 0),
      'nothing after the kill point was handled',
    );
    // Handled but not committed must come again; committed must not.
    const resumeAt = phase === 'before-commit' ? holdBatch : holdBatch + 1;
    const second = startWorker<ConsumerResult>(t, 'mailbox/batch-consumer.js', { rings: [ring], startSeq: resumeAt * perBatch });
    const got = await second.result;
    t.deepEqual(got.errors, []);
    t.is(got.firstSeq, resumeAt * perBatch, 'the restarted consumer begins at the first uncommitted frame');
    t.is(got.sources[sourceId]!.count, (batches - resumeAt) * perBatch, 'and reads every frame after it');
    t.is((await producer.result).count, batches * perBatch);
  });
}

test('writer and reader agree on frame boundaries across thousands of wraps with odd frame sizes', async (t) => {
  const ring = createRing(4096);
  const writer = new RingWriter(ring);
  const reader = new RingReader(ring);
  // Odd sizes guarantee every tail size is met repeatedly.
  let sent = 0;
  let got = 0;
  for (let round = 0; round < 20_000; round++) {
    const len = (round * 37) % 600;
    const b = new Uint8Array(len).fill(round & 0xff);
    while (!writer.tryPush(FrameKind.DATA, round, b)) {
      reader.drain((f) => {
        if (f.dest !== got || f.length !== (got * 37) % 600 || (f.length > 0 && f.body[f.length - 1] !== (got & 0xff))) throw new Error(`frame ${got} wrong`);
        got++;
      });
    }
    sent++;
  }
  reader.drain(() => got++);
  t.is(got, sent);
});
