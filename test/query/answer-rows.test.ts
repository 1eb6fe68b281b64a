import test from 'ava';
import fc from 'fast-check';
import type { IdentifiedEntry } from '../../src/model/entry.js';
import { encodeLabels, pairsObject, type Labels } from '../../src/model/labels.js';
import { AnswerRows, encodeRows } from '../../src/query/answer-rows.js';
import { mergeLogAnswers } from '../../src/query/engine.js';
import { mergeRowAnswers } from '../../src/query/merge-rows.js';
import { comparePositions, planQuery, type QueryResult } from '../../src/query/model.js';
import { emptyStats } from '../../src/query/scan.js';
import { entryArb, normalised } from '../helpers/entries.js';

const labelsArb: fc.Arbitrary<Labels | undefined> = fc.option(
  fc.dictionary(
    fc.constantFrom('env', 'pod', 'trace_id', 'k8s_ns'),
    fc.string({ maxLength: 12 }).filter((v) => !v.includes('\u0000')),
  ),
  { nil: undefined },
);

const identifiedArb: fc.Arbitrary<IdentifiedEntry> = fc
  .record({
    entry: entryArb,
    source: fc.constantFrom('a', 'b', 'src-1', 'ü-source'),
    seq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    labels: labelsArb,
    metadata: labelsArb,
  })
  .map(({ entry, source, seq, labels, metadata }) => ({
    ...normalised(entry),
    source,
    seq,
    ...(labels === undefined ? {} : { labels }),
    ...(metadata === undefined ? {} : { metadata }),
  }));

/** How a decoded row compares: label sets as they are stored (names sorted). */
function canonical(e: IdentifiedEntry): IdentifiedEntry {
  return {
    ...e,
    ...(e.labels === undefined ? {} : { labels: { ...pairsObject(encodeLabels(e.labels)) } }),
    ...(e.metadata === undefined ? {} : { metadata: { ...pairsObject(encodeLabels(e.metadata)) } }),
  };
}

test('rows come back from their bytes exactly: every field, label sets present or absent, any unicode, the whole seq range', (t) => {
  fc.assert(
    fc.property(fc.array(identifiedArb, { maxLength: 40 }), (entries) => {
      const rows = AnswerRows.open(encodeRows(entries));
      t.is(rows.count, entries.length);
      t.deepEqual(rows.entries().map(canonical), entries.map(canonical));
      for (let i = 0; i < entries.length; i++) t.is(comparePositions(rows.position(i), entries[i]!), 0);
    }),
  );
});

test('the bytes are one owned buffer, whole, so they can be transferred', (t) => {
  const bytes = encodeRows([{ ts: 1n, level: 1, service: 's', server: 'h', region: 'r', message: 'm', source: 'x', seq: 0n }]);
  t.is(bytes.byteOffset, 0);
  t.is(bytes.byteLength, bytes.buffer.byteLength);
  t.true(bytes.buffer instanceof ArrayBuffer);
});

test('merging binary answers by the timestamp column gives what merging the decoded entries gives: order, repeats dropped, limit, cursor', (t) => {
  // Answers sorted in the query's order, with repeats across answers (a shard moved mid-batch).
  const pool = fc.array(identifiedArb, { minLength: 1, maxLength: 30 });
  fc.assert(
    fc.property(
      pool,
      fc.array(fc.array(fc.nat(29), { maxLength: 25 }), { maxLength: 5 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 60 }),
      (all, picks, backward, limit) => {
        const sign = backward ? -1 : 1;
        const answers: QueryResult[] = picks.map((p, k) => {
          const mine = [...new Set(p.map((i) => i % all.length))].map((i) => all[i]!);
          mine.sort((a, b) => sign * comparePositions(a, b));
          return { entries: mine, stats: { ...emptyStats(), entriesExamined: mine.length }, ...(k === 0 && mine.length > 3 ? { nextCursor: 'more' } : {}) };
        });
        const q = planQuery({ from: -(2n ** 63n), to: 2n ** 63n - 1n, limit, direction: backward ? 'backward' : 'forward' });
        const expected = mergeLogAnswers(q, answers);
        const got = mergeRowAnswers(
          q,
          answers.map(({ entries, ...rest }) => ({ ...rest, rows: encodeRows(entries) })),
        );
        t.deepEqual(
          got.entries.map((e) => [e.ts, e.source, e.seq]),
          expected.entries.map((e) => [e.ts, e.source, e.seq]),
        );
        t.deepEqual(got.entries.map(canonical), expected.entries.map(canonical));
        t.is(got.nextCursor, expected.nextCursor);
        t.deepEqual(got.stats, expected.stats);
      },
    ),
  );
});
