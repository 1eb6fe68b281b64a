import test from 'ava';
import { BatchReader, encodeBatch } from '../../src/batch/index.js';

test('a batch in an unaligned Buffer view (as a socket hands it over) is read from an aligned copy', (t) => {
  const bytes = encodeBatch([{ ts: 5n, level: 1, service: 's', server: 'h', region: 'r', message: 'm' }], { sourceId: 'src', firstSeq: 0n });
  const pool = Buffer.alloc(bytes.byteLength + 3);
  pool.set(bytes, 3);
  const view = pool.subarray(3);
  const r = BatchReader.open(view);
  r.validate();
  t.is(r.timestamps()[0], 5n);
});
