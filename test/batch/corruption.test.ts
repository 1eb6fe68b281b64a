import test from 'ava';
import fc from 'fast-check';
import { BatchReader, encodeBatch } from '../../src/batch/index.js';
import { crc32 } from '../../src/batch/crc32.js';
import {
  BATCH_VERSION,
  H_COUNT,
  H_DICT_BYTES,
  H_DICT_COUNT,
  H_HEADER_CRC,
  H_MSG_BYTES,
  H_SECTION_CRCS,
  SECTION_COUNT,
  computeLayout,
  sectionRange,
  type Section,
} from '../../src/batch/layout.js';
import { TributaryError } from '../../src/errors.js';
import { makeEntries } from '../helpers/entries.js';

const BATCH_ERRORS = new Set(['E_BATCH_CORRUPT', 'E_BATCH_TRUNCATED', 'E_BATCH_VERSION']);

/** Opens and reads every column and entry; returns the error raised, or undefined if the batch read cleanly. */
function readAll(bytes: Uint8Array): TributaryError | undefined {
  try {
    const r = BatchReader.open(bytes);
    r.validate();
    for (const _ of r.entries());
    return undefined;
  } catch (err) {
    if (err instanceof TributaryError) return err;
    throw err; // anything else (RangeError, TypeError) is a bug: fail the test
  }
}

const small = encodeBatch(makeEntries(5), { sourceId: 'src-A', firstSeq: 10n });

test('the reference batch reads cleanly', (t) => {
  t.is(readAll(small), undefined);
});

test('truncation at every length is rejected as truncated or corrupt, with the offset', (t) => {
  for (let len = 0; len < small.byteLength; len++) {
    const err = readAll(small.slice(0, len));
    t.truthy(err, `length ${len}`);
    t.true(BATCH_ERRORS.has(err!.code), `${len}: ${err!.code}`);
    t.is(typeof err!.context.offset, 'number');
    t.true((err!.context.offset as number) <= small.byteLength);
  }
});

test('every single-bit flip at every offset is rejected cleanly', (t) => {
  let rejected = 0;
  for (let byte = 0; byte < small.byteLength; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = small.slice();
      copy[byte]! ^= 1 << bit;
      const err = readAll(copy);
      t.truthy(err, `flip of bit ${bit} at byte ${byte} went unnoticed`);
      if (err) {
        t.true(BATCH_ERRORS.has(err.code));
        rejected++;
      }
    }
  }
  t.is(rejected, small.byteLength * 8);
});

test('errors name the section and offset', (t) => {
  const copy = small.slice();
  const r = BatchReader.open(small);
  const msgOffset = r.messageBytes().byteOffset - small.byteOffset;
  copy[msgOffset + 3]! ^= 0x20;
  const err = readAll(copy)!;
  t.is(err.code, 'E_BATCH_CORRUPT');
  t.is(err.context.offset, msgOffset);
  t.regex(err.message, /msgBytes section checksum mismatch/);
});

/** Re-signs a mutated batch so that the structural checks, not the checksums, must catch the damage. */
function resign(bytes: Uint8Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 128) return;
  const count = v.getUint32(H_COUNT, true);
  const dictCount = v.getUint32(H_DICT_COUNT, true);
  const dictBytes = v.getUint32(H_DICT_BYTES, true);
  const msgBytes = v.getUint32(H_MSG_BYTES, true);
  if (count < 1 << 20 && dictCount <= 3 * count && msgBytes < 1 << 24 && dictBytes < 1 << 24) {
    const layout = computeLayout(count, msgBytes, dictCount, dictBytes);
    if (layout.total <= bytes.byteLength) {
      for (let s = 0; s < SECTION_COUNT; s++) {
        const [start, end] = sectionRange(layout, s as Section, count, msgBytes, dictCount, dictBytes);
        v.setUint32(H_SECTION_CRCS + s * 4, crc32(bytes.subarray(start, end)), true);
      }
    }
  }
  v.setUint32(H_HEADER_CRC, crc32(bytes.subarray(0, H_HEADER_CRC)), true);
}

test('mutated batches with valid checksums never crash, loop or return out-of-range values (property)', (t) => {
  const base = encodeBatch(makeEntries(12), { sourceId: 'src-B', firstSeq: 0n });
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat(base.byteLength - 1), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
      (mutations) => {
        const copy = base.slice();
        for (const m of mutations) copy[m.at] = m.value;
        resign(copy);
        try {
          const r = BatchReader.open(copy);
          r.validate();
          for (const e of r.entries()) {
            if (e.level < 0 || e.level > 3) return false;
            if (typeof e.service !== 'string' || typeof e.message !== 'string') return false;
          }
          return true;
        } catch (err) {
          return err instanceof TributaryError && BATCH_ERRORS.has(err.code);
        }
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});

test('random bytes are never mistaken for a batch (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const err = readAll(bytes);
      return err !== undefined && BATCH_ERRORS.has(err.code);
    }),
  );
  t.pass();
});

test('a future version is reported as E_BATCH_VERSION', (t) => {
  const copy = small.slice();
  new DataView(copy.buffer).setUint16(4, BATCH_VERSION + 1, true);
  const err = readAll(copy)!;
  t.is(err.code, 'E_BATCH_VERSION');
  t.is(err.context.version, BATCH_VERSION + 1);
});
