import test from 'ava';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { BatchBuilder, BatchReader, encodeBatch, MAX_ENTRIES, MAX_MESSAGE_BYTES } from '../../src/batch/index.js';
import { isTributaryError } from '../../src/errors.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';
import { newSourceId } from '../../src/model/source.js';
import { entryArb, makeEntries, normalised } from '../helpers/entries.js';

const SOURCE = 'test-source_01';

function roundTrip(entries: readonly LogEntry[], firstSeq = 0n): LogEntry[] {
  const bytes = encodeBatch(entries, { sourceId: SOURCE, firstSeq });
  const reader = BatchReader.open(bytes);
  reader.validate();
  return [...reader.entries()].map(({ ts, level, service, server, region, message }) => ({ ts, level, service, server, region, message }));
}

test('round trip keeps every field, source and sequence', (t) => {
  const entries = makeEntries(100);
  const bytes = encodeBatch(entries, { sourceId: SOURCE, firstSeq: 1000n });
  const r = BatchReader.open(bytes);
  t.is(r.count, 100);
  t.is(r.sourceId, SOURCE);
  t.is(r.firstSeq, 1000n);
  t.is(r.byteLength, bytes.byteLength);
  t.is(r.byteLength % 8, 0);
  const back = [...r.entries()];
  t.deepEqual(
    back.map((e) => e.seq),
    entries.map((_, i) => 1000n + BigInt(i)),
  );
  t.true(back.every((e) => e.source === SOURCE));
  t.deepEqual(roundTrip(entries), entries);
});

test('unicode, empty strings and shared labels', (t) => {
  const entries: LogEntry[] = [
    { ts: 0n, level: Level.INFO, service: '', server: '', region: '', message: '' },
    { ts: -1n, level: Level.ERROR, service: 'сервис', server: '服务器', region: 'région', message: '💥 emoji 🎉 and ÄÖÜ ß' },
    { ts: 2n ** 63n - 1n, level: Level.DEBUG, service: 'same', server: 'same', region: 'same', message: '\u0000nul\nnewline\ttab' },
  ];
  t.deepEqual(roundTrip(entries), entries);
});

test('an empty batch is valid', (t) => {
  const r = BatchReader.open(encodeBatch([], { sourceId: SOURCE, firstSeq: 5n }));
  t.is(r.count, 0);
  r.validate();
  t.deepEqual([...r.entries()], []);
});

test('timeRange is the smallest and largest timestamp of the batch, whatever their order (property); empty has min > max', (t) => {
  fc.assert(
    fc.property(fc.array(entryArb, { minLength: 1, maxLength: 50 }), (entries) => {
      const r = BatchReader.open(encodeBatch(entries, { sourceId: SOURCE, firstSeq: 0n }));
      const ts = entries.map((e) => e.ts);
      const range = r.timeRange();
      return range.min === ts.reduce((a, b) => (a < b ? a : b)) && range.max === ts.reduce((a, b) => (a > b ? a : b));
    }),
  );
  const empty = BatchReader.open(encodeBatch([], { sourceId: SOURCE, firstSeq: 0n })).timeRange();
  t.true(empty.min > empty.max);
});

test('1 MiB messages round trip; a longer one is rejected with E_ENTRY_INVALID', (t) => {
  const big = 'x'.repeat(MAX_MESSAGE_BYTES - 3) + '€'; // exactly 1 MiB of UTF-8
  const entries: LogEntry[] = [
    { ts: 1n, level: Level.WARN, service: 'a', server: 'b', region: 'c', message: big },
    { ts: 2n, level: Level.WARN, service: 'a', server: 'b', region: 'c', message: 'small' },
  ];
  t.deepEqual(roundTrip(entries), entries);
  const target = new Uint8Array(4 * MAX_MESSAGE_BYTES);
  const builder = new BatchBuilder(target, { sourceId: SOURCE, firstSeq: 0n, maxEntries: 4 });
  const err = t.throws(() => builder.add(1n, Level.INFO, 'a', 'b', 'c', big + 'y'));
  t.true(isTributaryError(err, 'E_ENTRY_INVALID'));
  t.is(builder.count, 0, 'the rejected entry left no trace');
});

test('the largest allowed batch: MAX_ENTRIES entries', (t) => {
  const target = new Uint8Array(MAX_ENTRIES * 40 + 4096);
  const builder = new BatchBuilder(target, { sourceId: SOURCE, firstSeq: 0n, maxEntries: MAX_ENTRIES });
  let added = 0;
  for (let i = 0; i < MAX_ENTRIES; i++) if (builder.add(BigInt(i), (i & 3) as Level, 's', `h${i & 1023}`, 'r', 'm')) added++;
  t.is(added, MAX_ENTRIES);
  t.false(builder.add(0n, Level.INFO, 's', 'h', 'r', 'm'), 'one more than the limit does not fit');
  const len = builder.finish();
  const r = BatchReader.open(target.subarray(0, len));
  r.validate();
  t.is(r.count, MAX_ENTRIES);
  t.is(r.timestamps()[MAX_ENTRIES - 1], BigInt(MAX_ENTRIES - 1));
  t.is(r.label(r.serverIds()[1025]!), 'h1');
});

test('add returns false when full and the batch stays readable; an entry too big for an empty batch throws', (t) => {
  const target = new Uint8Array(1024);
  const b = new BatchBuilder(target, { sourceId: SOURCE, firstSeq: 7n, maxEntries: 8 });
  let added = 0;
  while (b.add(BigInt(added), Level.INFO, 'svc', 'srv', 'reg', `message number ${added}`)) added++;
  t.true(added > 0 && added <= 8);
  const r = BatchReader.open(target.subarray(0, b.finish()));
  t.deepEqual(
    [...r.entries()].map((e) => e.message),
    Array.from({ length: added }, (_, i) => `message number ${i}`),
  );
  const small = new BatchBuilder(new Uint8Array(512), { sourceId: SOURCE, firstSeq: 0n, maxEntries: 2 });
  const err = t.throws(() => small.add(0n, Level.INFO, 'a', 'b', 'c', 'z'.repeat(600)));
  t.true(isTributaryError(err, 'E_BATCH_FULL'));
});

test('builder reuse with reset produces identical bytes to a fresh builder', (t) => {
  const target = new Uint8Array(64 * 1024);
  const b = new BatchBuilder(target, { sourceId: SOURCE, firstSeq: 0n });
  for (const e of makeEntries(50, 1)) b.addEntry(e);
  b.finish();
  b.reset(target, { sourceId: SOURCE, firstSeq: 50n });
  const entries = makeEntries(30, 2);
  for (const e of entries) b.addEntry(e);
  const bytes = target.slice(0, b.finish());
  t.deepEqual(bytes, encodeBatch(entries, { sourceId: SOURCE, firstSeq: 50n }), 'deterministic, no stale bytes');
});

test('builder writes in place into a SharedArrayBuffer region', (t) => {
  const sab = new SharedArrayBuffer(1 << 16);
  const region = new Uint8Array(sab, 4096, 8192);
  const b = new BatchBuilder(region, { sourceId: newSourceId(), firstSeq: 0n });
  const entries = makeEntries(20);
  for (const e of entries) b.addEntry(e);
  const len = b.finish();
  t.deepEqual(roundTripFrom(new Uint8Array(sab, 4096, len)), entries);
  t.throws(() => new BatchBuilder(new Uint8Array(sab, 4, 1024), { sourceId: 'x', firstSeq: 0n }), { message: /8-byte boundary/ });
});

function roundTripFrom(bytes: Uint8Array): LogEntry[] {
  return [...BatchReader.open(bytes).entries()].map(({ ts, level, service, server, region, message }) => ({ ts, level, service, server, region, message }));
}

test('reading the level column touches no message bytes', (t) => {
  const bytes = encodeBatch(makeEntries(64), { sourceId: SOURCE, firstSeq: 0n });
  const r = BatchReader.open(bytes);
  // Destroy every message byte: levels (and their checks) must not notice.
  const msgs = r.messageBytes();
  const clone = bytes.slice();
  const msgStart = msgs.byteOffset - bytes.byteOffset;
  clone.fill(0xff, msgStart, msgStart + msgs.byteLength);
  const r2 = BatchReader.open(clone);
  t.deepEqual(
    [...r2.levels()],
    makeEntries(64).map((e) => e.level),
  );
  t.throws(() => r2.message(0), { code: 'E_BATCH_CORRUPT' } as never);
});

test('unaligned input is copied to an aligned buffer, not rejected', (t) => {
  const bytes = encodeBatch(makeEntries(10), { sourceId: SOURCE, firstSeq: 0n });
  const shifted = new Uint8Array(bytes.byteLength + 3);
  shifted.set(bytes, 3);
  t.deepEqual(roundTripFrom(shifted.subarray(3)), makeEntries(10));
});

test('random batches round trip (property)', (t) => {
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 60 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1000n }), (entries, firstSeq) => {
      const bytes = encodeBatch(entries, { sourceId: SOURCE, firstSeq });
      const r = BatchReader.open(bytes);
      r.validate();
      const back = [...r.entries()];
      t.deepEqual(
        back.map(({ ts, level, service, server, region, message }) => ({ ts, level, service, server, region, message })),
        entries.map(normalised),
      );
      t.deepEqual(
        back.map((e) => e.seq),
        entries.map((_, i) => firstSeq + BigInt(i)),
      );
    }),
    { numRuns: 300 },
  );
});

test('a builder reused over many batches stays exact through its label cache and the cache reset', (t) => {
  const target = new Uint8Array(1 << 20);
  const b = new BatchBuilder(target, { sourceId: SOURCE, firstSeq: 0n, maxEntries: 1000 });
  // 80 batches of 1000 distinct servers each: 80 000 labels, past the cache's 65 536 limit.
  for (let batch = 0; batch < 80; batch++) {
    b.reset(target, { sourceId: SOURCE, firstSeq: BigInt(batch * 1000), maxEntries: 1000 });
    const entries: LogEntry[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = batch * 1000 + i;
      entries.push({ ts: BigInt(n), level: Level.INFO, service: `svc-${n % 7}`, server: `host-${n}`, region: i % 2 ? `host-${n}` : 'r', message: `m${n}` });
    }
    for (const e of entries) t.true(b.addEntry(e) || false);
    const bytes = target.slice(0, b.finish());
    if (batch % 20 === 0 || batch === 79) t.deepEqual(roundTripFrom(bytes), entries, `batch ${batch}`);
  }
});

const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,12}$/);
const labelValue = fc.string({ maxLength: 30, unit: 'grapheme' }).filter((v) => !v.includes('\u0000'));
const pairsArb = fc.dictionary(labelName, labelValue, { maxKeys: 6 });

test('stream labels and structured metadata round trip exactly, and an entry without them has neither (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(entryArb, pairsArb, pairsArb), { minLength: 1, maxLength: 40 }), (rows) => {
      const entries: LogEntry[] = rows.map(([e, labels, metadata]) => ({
        ...normalised(e),
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
        ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
      }));
      const r = BatchReader.open(encodeBatch(entries, { sourceId: SOURCE, firstSeq: 0n }));
      r.validate();
      const back = [...r.entries()].map(({ source: _s, seq: _q, ...e }) => ({ ...e }));
      t.deepEqual(
        back.map((e) => ({ ...e, ...(e.labels ? { labels: { ...e.labels } } : {}), ...(e.metadata ? { metadata: { ...e.metadata } } : {}) })),
        entries,
      );
    }),
    { numRuns: 200 },
  );
});

test('a version-1 batch (written by the previous release) still reads: every field, no labels or metadata', (t) => {
  const bytes = new Uint8Array(readFileSync(new URL('../../../test/fixtures/v1/batch-v1.bin', import.meta.url)));
  const r = BatchReader.open(bytes);
  r.validate();
  t.is(r.version, 1);
  t.is(r.labelSetIds(), null);
  t.deepEqual(
    [...r.entries()].map((e) => [e.ts, e.level, e.service, e.server, e.region, e.message, e.source, e.seq, e.labels, e.metadata]),
    [
      [1767225600000000001n, 3, 'api', 'web-1', 'eu-1', 'db timeout', 'v1source', 7n, undefined, undefined],
      [1767225600000000002n, 1, 'billing', 'web-2', 'us-1', 'charged €12', 'v1source', 8n, undefined, undefined],
    ],
  );
});
