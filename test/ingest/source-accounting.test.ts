import test from 'ava';
import fc from 'fast-check';
import { Dedup, type SourceReport } from '../../src/index/dedup.js';
import { SourceLedger, accountSources } from '../../src/ingest/source-ledger.js';
import { verifyDelivery } from '../../src/collector/verify.js';

/** The numbers a list of [from, len) adds covers, as a plain set. */
function covered(adds: readonly [number, number][]): Set<number> {
  const ref = new Set<number>();
  for (const [from, len] of adds) for (let k = from; k < from + len; k++) ref.add(k);
  return ref;
}

test('a source report counts what is stored, the repeats, and every hole below the highest number (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 30 })), { minLength: 1, maxLength: 40 }), (adds) => {
      const d = new Dedup(60_000);
      let repeats = 0;
      for (const [from, len] of adds) {
        // What a store does: count the part already held as repeats, then add the batch.
        const fresh = d.missing('s', from, len).reduce((n, [a, b]) => n + (b - a), 0);
        if (len - fresh > 0) d.noteDuplicates('s', len - fresh, 0);
        repeats += len - fresh;
        d.add('s', from, from + len, 0);
      }
      const ref = covered(adds);
      const end = Math.max(...ref) + 1;
      const holes = Array.from({ length: end }, (_, i) => i).filter((k) => !ref.has(k));
      // The holes as maximal runs [from, to), of which the report lists the first 16.
      const runs: [number, number][] = [];
      for (const k of holes) {
        const last = runs[runs.length - 1];
        if (last && last[1] === k) last[1] = k + 1;
        else runs.push([k, k + 1]);
      }
      const [r] = d.report();
      return (
        r!.stored === ref.size &&
        r!.end === end &&
        r!.gaps === holes.length &&
        r!.duplicates === repeats &&
        JSON.stringify(r!.missing) === JSON.stringify(runs.slice(0, 16))
      );
    }),
  );
  t.pass();
});

test('reports are listed by prefix, in id order, up to the limit', (t) => {
  const d = new Dedup(60_000);
  for (const id of ['b-1', 'a-2', 'a-1', 'c-0']) d.add(id, 0, 10, 0);
  t.deepEqual(
    d.report('a-').map((r) => r.source),
    ['a-1', 'a-2'],
  );
  t.deepEqual(
    d.report('', 3).map((r) => r.source),
    ['a-1', 'a-2', 'b-1'],
  );
});

test('the ledger keeps at most its bound of sources, forgetting the one seen longest ago', (t) => {
  const ledger = new SourceLedger(3);
  for (const id of ['a', 'b', 'c']) ledger.received(id, 1);
  ledger.acknowledged('a', 1); // a is now the most recently seen
  ledger.received('d', 5);
  t.is(ledger.size, 3);
  t.is(ledger.evicted, 1);
  t.is(ledger.get('b'), undefined);
  t.deepEqual(
    ledger.list().map(([id]) => id),
    ['a', 'c', 'd'],
  );
  t.like(ledger.get('a'), { received: 1, acknowledged: 1 });
});

test('accounts join the ledger with the shards, and two shards holding one source leave only the numbers neither holds missing (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(100), fc.integer({ min: 1, max: 10 })), { minLength: 1, maxLength: 8 }),
      fc.array(fc.tuple(fc.nat(100), fc.integer({ min: 1, max: 10 })), { minLength: 1, maxLength: 8 }),
      (addsA, addsB) => {
        const report = (adds: [number, number][]): SourceReport => {
          const d = new Dedup(60_000);
          for (const [f, len] of adds) d.add('s', f, f + len, 0);
          return d.report()[0]!;
        };
        const ledger = new SourceLedger();
        ledger.received('s', 7);
        const [acc] = accountSources(ledger, [report(addsA), report(addsB)]);
        const held = new Set([...covered(addsA), ...covered(addsB)]);
        const end = Math.max(...held) + 1;
        const holes = Array.from({ length: end }, (_, i) => i).filter((k) => !held.has(k));
        // At most 8 adds each: at most 8 holes each, so the lists are whole and the merge exact.
        return acc!.received === 7 && acc!.end === end && acc!.gaps === holes.length && acc!.stored === covered(addsA).size + covered(addsB).size;
      },
    ),
  );
  t.pass();
});

test('a source the door saw but no shard stores is listed with nothing stored', (t) => {
  const ledger = new SourceLedger();
  ledger.received('x', 4);
  ledger.refused('x', 4);
  const [acc] = accountSources(ledger, []);
  t.like(acc, { source: 'x', received: 4, refused: 4, stored: 0, gaps: 0 });
});

test('delivery verification counts committed numbers no shard holds, and ignores holes above the commit (in flight)', (t) => {
  const acc = (source: string, adds: [number, number][]) => {
    const d = new Dedup(60_000);
    for (const [f, to] of adds) d.add(source, f, to, 0);
    return { ...d.report()[0]!, received: 0, acknowledged: 0, refused: 0, failed: 0 };
  };
  const report = verifyDelivery(
    [
      { source: 'whole', path: 'a.log', committed: 100 },
      { source: 'hole', path: 'b.log', committed: 100 },
      { source: 'short', path: 'c.log', committed: 100 },
      { source: 'ahead', path: 'd.log', committed: 50 },
      { source: 'never', path: 'e.log', committed: 3 },
    ],
    [
      acc('whole', [[0, 100]]),
      acc('hole', [
        [0, 40],
        [50, 100],
      ]),
      acc('short', [[0, 90]]),
      acc('ahead', [
        [0, 50],
        [60, 80],
      ]),
    ],
  );
  t.deepEqual(
    report.sources.map((s) => [s.source, s.notStored, s.missing]),
    [
      ['whole', 0, []],
      ['hole', 10, [[40, 50]]],
      ['short', 10, [[90, 100]]],
      ['ahead', 0, []],
      ['never', 3, [[0, 3]]],
    ],
  );
  t.is(report.committed, 353);
  t.is(report.notStored, 23);
});
