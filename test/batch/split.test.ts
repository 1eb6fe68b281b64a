import test from 'ava';
import fc from 'fast-check';
import { BatchReader, encodeBatch } from '../../src/batch/index.js';
import { splitBatch } from '../../src/batch/split.js';
import { isTributaryError, type TributaryError } from '../../src/errors.js';
import { Level } from '../../src/model/level.js';
import { entryArb, makeEntries, normalised } from '../helpers/entries.js';

const SOURCE = 'src-split';

test('parts fit the limit and hold the batch: same entries, same source, contiguous numbering (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(entryArb, { minLength: 1, maxLength: 80 }),
      fc.bigInt({ min: 0n, max: 2n ** 60n }),
      fc.integer({ min: 2048, max: 40_000 }),
      (entries, firstSeq, max) => {
        const batch = encodeBatch(entries, { sourceId: SOURCE, firstSeq });
        let parts: Uint8Array[];
        try {
          parts = splitBatch(batch, max);
        } catch (err) {
          // Only when one entry alone is over the limit.
          t.true(isTributaryError(err, 'E_BATCH_LIMIT'));
          t.true(entries.some((e) => encodeBatch([e], { sourceId: SOURCE, firstSeq: 0n }).byteLength > max));
          return;
        }
        const readers = parts.map((p) => BatchReader.open(p));
        t.true(parts.every((p) => p.byteLength <= max) || (parts.length === 1 && parts[0] === batch));
        t.deepEqual(
          readers.flatMap((r) => [...r.entries()].map((e) => normalised(e))),
          entries.map(normalised),
        );
        let next = firstSeq;
        for (const r of readers) {
          t.is(r.sourceId, SOURCE);
          t.is(r.firstSeq, next);
          next += BigInt(r.count);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('the same batch is cut into the same parts every time (a resend repeats its message ids)', (t) => {
  const batch = encodeBatch(makeEntries(5000), { sourceId: SOURCE, firstSeq: 100n });
  const a = splitBatch(batch, 64 * 1024);
  const b = splitBatch(batch, 64 * 1024);
  t.true(a.length > 4);
  t.deepEqual(
    a.map((p) => Buffer.from(p).toString('base64')),
    b.map((p) => Buffer.from(p).toString('base64')),
  );
});

test('a batch that fits is passed through untouched; one entry over the limit is E_BATCH_LIMIT', (t) => {
  const small = encodeBatch(makeEntries(10), { sourceId: SOURCE, firstSeq: 0n });
  t.is(splitBatch(small, 1 << 20)[0], small);
  const huge = encodeBatch([{ ts: 1n, level: Level.INFO, service: 's', server: 'h', region: 'r', message: 'x'.repeat(100_000) }], {
    sourceId: SOURCE,
    firstSeq: 7n,
  });
  const err = t.throws(() => splitBatch(huge, 50_000));
  t.true(isTributaryError(err, 'E_BATCH_LIMIT'));
  t.is((err as TributaryError).context.seq, '7');
});
