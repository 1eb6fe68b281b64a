import test from 'ava';
import fc from 'fast-check';
import { ContentDedup } from '../../src/ingest/content-dedup.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';

const entryArb = fc.record({
  ts: fc.bigInt({ min: 0n, max: 1n << 40n }),
  level: fc.constantFrom(Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR),
  service: fc.constantFrom('api', 'db', 'web'),
  server: fc.constantFrom('s1', 's2'),
  region: fc.constantFrom('eu', 'us'),
  message: fc.string({ maxLength: 20 }),
}) as fc.Arbitrary<LogEntry>;

const key = (e: LogEntry) => `${e.ts}|${e.level}|${e.service}|${e.server}|${e.region}|${e.message}`;

test('requests and their resends, in any order: every distinct entry is stored exactly once (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.array(entryArb, { maxLength: 20 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), (requests, order) => {
      const dedup = new ContentDedup();
      const stored: LogEntry[] = [];
      // Every request is sent once, plus resends picked by `order`.
      const sends = [...requests.map((_, i) => i), ...order.filter(() => requests.length > 0).map((k) => k % requests.length)];
      for (const r of sends) {
        const a = dedup.admit(requests[r]!);
        stored.push(...a.fresh);
        dedup.remember(a);
      }
      const expected = new Set(requests.flat().map(key));
      const got = stored.map(key);
      return got.length === expected.size && new Set(got).size === expected.size;
    }),
  );
  t.pass();
});

test('a write that failed is not remembered: its retry is stored', (t) => {
  const dedup = new ContentDedup();
  const batch: LogEntry[] = [{ ts: 1n, level: Level.INFO, service: 'api', server: 's', region: 'r', message: 'hello' }];
  const first = dedup.admit(batch);
  t.is(first.fresh.length, 1);
  // The write failed: remember() is never called.
  const retry = dedup.admit(batch);
  t.is(retry.fresh.length, 1);
  dedup.remember(retry);
  t.is(dedup.admit(batch).fresh.length, 0);
  t.is(dedup.stats.duplicatesDropped, 1);
});

test('an entry differing in any one field is not a duplicate', (t) => {
  const dedup = new ContentDedup();
  const base: LogEntry = { ts: 5n, level: Level.WARN, service: 'api', server: 's1', region: 'eu', message: 'm' };
  dedup.remember(dedup.admit([base]));
  const variants: LogEntry[] = [
    { ...base, ts: 6n },
    { ...base, level: Level.ERROR },
    { ...base, service: 'db' },
    { ...base, server: 's2' },
    { ...base, region: 'us' },
    { ...base, message: 'M' },
  ];
  t.is(dedup.admit(variants).fresh.length, variants.length);
});

test('remembered for the window, forgotten after two; a full generation rotates early and says so', (t) => {
  let now = 0;
  const dedup = new ContentDedup({ windowMs: 1000, maxEntries: 64, now: () => now });
  const e: LogEntry = { ts: 1n, level: Level.INFO, service: 'a', server: 'b', region: 'c', message: 'x' };
  dedup.remember(dedup.admit([e]));
  now = 1500; // one rotation: still in the previous generation
  t.is(dedup.admit([e]).fresh.length, 0);
  now = 2600; // a second rotation: forgotten
  t.is(dedup.admit([e]).fresh.length, 1);

  const many = Array.from({ length: 300 }, (_, i) => ({ ...e, message: `m${i}` }));
  dedup.remember(dedup.admit(many));
  t.true(dedup.stats.earlyRotations >= 1);
  // The newest entries are still recognised; the oldest may be forgotten, never the other way round.
  t.is(dedup.admit(many.slice(-60)).fresh.length, 0);
  t.true(dedup.stats.remembered <= 2 * 128);
});
