import test from 'ava';
import fc from 'fast-check';
import { Dedup, SeqSet } from '../../src/index/dedup.js';

test('an in-order sender costs one interval', (t) => {
  const s = new SeqSet();
  for (let i = 0; i < 10_000; i += 100) s.add(i, i + 100);
  t.is(s.intervals, 1);
  t.true(s.containsAll(0, 10_000));
  t.deepEqual(s.missing(9_950, 10_050), [[10_000, 10_050]]);
});

test('SeqSet matches a plain set under any adds (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(300), fc.integer({ min: 0, max: 40 })), { maxLength: 60 }),
      fc.nat(300),
      fc.integer({ min: 0, max: 60 }),
      (adds, qFrom, qLen) => {
        const s = new SeqSet();
        const ref = new Set<number>();
        for (const [from, len] of adds) {
          s.add(from, from + len);
          for (let k = from; k < from + len; k++) ref.add(k);
        }
        // missing() lists exactly the absent numbers of the query range, as maximal runs.
        const missing = s.missing(qFrom, qFrom + qLen).flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
        const expected = Array.from({ length: qLen }, (_, i) => qFrom + i).filter((k) => !ref.has(k));
        if (JSON.stringify(missing) !== JSON.stringify(expected)) return false;
        // Intervals stay disjoint, sorted and non-touching.
        const b = s.toArray();
        for (let i = 2; i < b.length; i += 2) if (!(b[i - 1]! < b[i]!)) return false;
        return SeqSet.fromArray(b).toArray().join() === b.join();
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('Dedup forgets sources idle past the window', (t) => {
  const d = new Dedup(1000);
  d.add('a', 0, 10, 0);
  d.add('b', 0, 10, 900);
  t.deepEqual(d.missing('a', 5, 10), [[10, 15]]);
  t.is(d.expire(1500), 1);
  t.deepEqual(d.missing('a', 0, 10), [[0, 10]], 'a was forgotten');
  t.deepEqual(d.missing('b', 0, 10), []);
  t.deepEqual(d.stats, { sources: 1, intervals: 1 });
});
