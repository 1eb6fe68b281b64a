import test from 'ava';
import { readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTributaryError } from '../../src/errors.js';
import { nodeFs, type StorageFs } from '../../src/index/fs.js';
import { SEGMENT_HEADER_BYTES, Wal, type RecoveredRecord } from '../../src/index/wal.js';
import { tempDir } from '../helpers/system.js';

const payload = (i: number, len = 10 + (i % 50)) => Uint8Array.from({ length: len }, (_, k) => (i * 7 + k) & 0xff);

function reopen(dir: string, fs?: StorageFs) {
  const got: RecoveredRecord[] = [];
  const { wal, report } = Wal.open(dir, (r) => got.push({ payload: new Uint8Array(r.payload), end: r.end }), { fs, segmentBytes: 4096 });
  return { wal, report, got };
}

test('records come back in order after reopening', async (t) => {
  const dir = tempDir(t);
  const { wal } = reopen(dir);
  for (let i = 0; i < 200; i++) wal.append(payload(i));
  await wal.sync();
  await wal.close();
  const { wal: again, got, report } = reopen(dir);
  t.is(got.length, 200);
  got.forEach((r, i) => t.deepEqual(r.payload, payload(i)));
  t.is(report.truncatedBytes, 0);
  t.true(report.segments > 1, 'small segments rotated');
  await again.close();
});

test('a torn tail of any length is cut off and reported; everything before it survives', async (t) => {
  const base = tempDir(t);
  for (let cut = 1; cut < 8 + 40; cut++) {
    const dir = join(base, `c${cut}`);
    const { wal } = reopen(dir);
    for (let i = 0; i < 5; i++) wal.append(payload(i, 40));
    await wal.close();
    const file = join(
      dir,
      readdirSync(dir)
        .filter((n) => n.endsWith('.wal'))
        .sort()
        .at(-1)!,
    );
    const size = statSync(file).size;
    truncateSync(file, size - cut);
    const { wal: again, got, report } = reopen(dir);
    t.is(got.length, 4, `cut ${cut}`);
    t.is(report.truncatedBytes, 48 - cut, `cut ${cut}: the rest of the torn record is dropped`);
    // The log continues cleanly after the cut.
    again.append(payload(99, 40));
    await again.close();
    t.is(reopen(dir).got.length, 5);
  }
});

test('a flipped bit in the last record is caught by its CRC', async (t) => {
  const dir = tempDir(t);
  const { wal } = reopen(dir);
  for (let i = 0; i < 3; i++) wal.append(payload(i, 64));
  await wal.close();
  const file = join(dir, readdirSync(dir).filter((n) => n.endsWith('.wal'))[0]!);
  const bytes = readFileSync(file);
  bytes[bytes.length - 10]! ^= 0x04;
  writeFileSync(file, bytes);
  const { got, report } = reopen(dir);
  t.is(got.length, 2);
  t.is(report.truncations[0]?.reason, 'record checksum mismatch');
});

test('a checkpoint skips replayed records and deletes whole segments before it', async (t) => {
  const dir = tempDir(t);
  const { wal } = reopen(dir);
  const ends = [];
  for (let i = 0; i < 300; i++) ends.push(wal.append(payload(i)));
  await wal.sync();
  await wal.checkpoint(ends[199]!);
  const segmentsLeft = readdirSync(dir).filter((n) => n.endsWith('.wal'));
  t.true(Number(segmentsLeft.sort()[0]!.slice(0, 20)) === ends[199]!.segment, 'older segments are gone');
  await wal.close();
  const { got } = reopen(dir);
  t.is(got.length, 100);
  t.deepEqual(got[0]!.payload, payload(200));
});

test('a checkpoint past an eighth of a segment starts the next one: the sealed segment goes at once when it covered everything, else at the next checkpoint', async (t) => {
  const dir = tempDir(t);
  const segments = () =>
    readdirSync(dir)
      .filter((n) => n.endsWith('.wal'))
      .sort()
      .map((n) => Number(n.slice(0, 20)));
  const { wal } = reopen(dir);
  const ends = [];
  for (let i = 0; i < 20; i++) ends.push(wal.append(payload(i))); // about 800 of 4096 bytes: past an eighth
  await wal.sync();
  const first = ends[0]!.segment;
  await wal.checkpoint(ends[9]!); // ten records are not sealed yet
  t.deepEqual(segments(), [first, first + 1], 'the old segment stays: it holds unsealed records');
  wal.append(payload(20));
  await wal.sync();
  await wal.close();
  let again = reopen(dir);
  t.deepEqual(
    again.got.map((r) => r.payload),
    [...Array.from({ length: 10 }, (_, k) => payload(10 + k)), payload(20)],
  );
  let last = again.wal.append(payload(21));
  for (let i = 22; i < 42; i++) last = again.wal.append(payload(i));
  await again.wal.sync();
  await again.wal.checkpoint(last); // everything appended is sealed
  t.deepEqual(segments(), [last.segment + 1], 'only the fresh, empty segment is left');
  await again.wal.close();
  again = reopen(dir);
  t.is(again.got.length, 0);
  await again.wal.close();
});

test('concurrent syncs share one fdatasync (group commit)', async (t) => {
  const dir = tempDir(t);
  let syncs = 0;
  const counting: StorageFs = { ...nodeFs, fdatasync: (fd, cb) => (syncs++, nodeFs.fdatasync(fd, cb)) };
  const { wal } = reopen(dir, counting);
  const waits: Promise<unknown>[] = [];
  for (let i = 0; i < 100; i++) {
    wal.append(payload(i));
    waits.push(wal.sync());
  }
  await Promise.all(waits);
  t.true(syncs <= 2, `${syncs} fdatasync calls for 100 records`);
  t.deepEqual(wal.durablePosition, wal.position);
  await wal.close();
});

test('a full disk fails the append with E_DISK_FULL, leaves the log intact, and appends resume when space returns', async (t) => {
  const dir = tempDir(t);
  let full = false;
  const flaky: StorageFs = {
    ...nodeFs,
    writevSync: (fd, bufs, pos) => {
      if (full) {
        // Write part of the record, then fail, as a real filesystem may.
        nodeFs.writevSync(fd, [bufs[0]!], pos);
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      return nodeFs.writevSync(fd, bufs, pos);
    },
  };
  const { wal } = reopen(dir, flaky);
  for (let i = 0; i < 10; i++) wal.append(payload(i));
  full = true;
  const err = t.throws(() => wal.append(payload(10)));
  t.true(isTributaryError(err, 'E_DISK_FULL'), String(err));
  full = false;
  wal.append(payload(11));
  await wal.close();
  const { got, report } = reopen(dir);
  t.deepEqual(
    got.map((r) => r.payload[0]),
    [...Array.from({ length: 10 }, (_, i) => payload(i)[0]), payload(11)[0]],
  );
  t.is(report.truncatedBytes, 0, 'the partial record was removed at once, not left for recovery');
});

test('a segment with a damaged header is dropped whole and reported', async (t) => {
  const dir = tempDir(t);
  const { wal } = reopen(dir);
  wal.append(payload(1));
  await wal.close();
  const file = join(dir, readdirSync(dir).filter((n) => n.endsWith('.wal'))[0]!);
  const bytes = readFileSync(file);
  bytes[0] = 0;
  writeFileSync(file, bytes);
  const { got, report, wal: again } = reopen(dir);
  t.is(got.length, 0);
  t.is(report.truncations[0]?.reason, 'bad segment header');
  t.true(report.truncatedBytes >= SEGMENT_HEADER_BYTES);
  again.append(payload(2));
  await again.close();
  t.is(reopen(dir).got.length, 1);
});
