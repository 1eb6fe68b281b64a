import test from 'ava';
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DiskBuffer } from '../../src/collector/disk-buffer.js';
import { isTributaryError } from '../../src/errors.js';
import { nodeFs } from '../../src/index/fs.js';
import { tempDir } from '../helpers/system.js';

const batch = (n: number, size = 1000) => ({ shard: `shard-${n % 2}`, batch: new Uint8Array(size).fill(n), entries: n + 1 });

test('batches come out in order, survive a reopen, and acknowledged segments are deleted', (t) => {
  const dir = tempDir(t);
  const b = new DiskBuffer({ dir, segmentBytes: 4096 });
  for (let i = 0; i < 10; i++) b.push(batch(i));
  b.ack();
  b.ack();
  b.close();
  const again = new DiskBuffer({ dir, segmentBytes: 4096 });
  t.is(again.stats.batches, 8);
  t.is(
    again.stats.entries,
    [2, 3, 4, 5, 6, 7, 8, 9].reduce((a, i) => a + i + 1, 0),
  );
  const seen = [];
  for (let item = again.peek(); item; item = again.peek()) {
    seen.push([item.shard, item.batch[0], item.batch.length]);
    again.ack();
  }
  t.deepEqual(
    seen,
    [2, 3, 4, 5, 6, 7, 8, 9].map((i) => [`shard-${i % 2}`, i, 1000]),
  );
  t.true(readdirSync(dir).filter((n) => n.endsWith('.buf')).length <= 1, 'old segments are gone');
  again.close();
});

test('when full: block refuses with E_BUFFER_FULL, drop_newest drops the new batch, drop_oldest the oldest; each counted', (t) => {
  const size = 1000 + 12 + 2 + 7; // the record for one batch
  const block = new DiskBuffer({ dir: tempDir(t), maxBytes: 3 * size });
  for (let i = 0; i < 3; i++) block.push(batch(i));
  const err = t.throws(() => block.push(batch(3)));
  t.true(isTributaryError(err, 'E_BUFFER_FULL'));
  t.is(block.stats.batches, 3);

  const newest = new DiskBuffer({ dir: tempDir(t), maxBytes: 3 * size, policy: 'drop_newest' });
  for (let i = 0; i < 3; i++) newest.push(batch(i));
  t.false(newest.push(batch(3)));
  t.is(newest.stats.droppedEntries, 4);
  t.is(newest.peek()!.batch[0], 0);

  const oldest = new DiskBuffer({ dir: tempDir(t), maxBytes: 3 * size, policy: 'drop_oldest' });
  for (let i = 0; i < 3; i++) oldest.push(batch(i));
  t.true(oldest.push(batch(3)));
  t.is(oldest.stats.droppedEntries, 1);
  t.is(oldest.peek()!.batch[0], 1);
  for (const b of [block, newest, oldest]) b.close();
});

test('a torn record at the end (a crash mid-append) is cut off at reopen; the records before it are kept', (t) => {
  const dir = tempDir(t);
  const b = new DiskBuffer({ dir });
  for (let i = 0; i < 3; i++) b.push(batch(i));
  b.close();
  const seg = join(
    dir,
    readdirSync(dir).find((n) => n.endsWith('.buf'))!,
  );
  const before = statSync(seg).size;
  appendFileSync(seg, Buffer.from([200, 3, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 9, 9])); // a head promising 968 bytes, then nothing
  const again = new DiskBuffer({ dir });
  t.is(again.stats.batches, 3);
  t.is(again.stats.tornRecords, 1);
  t.is(statSync(seg).size, before);
  again.push(batch(3));
  again.close();
  t.is(new DiskBuffer({ dir }).stats.batches, 4);
});

test('a full disk is a full buffer: the write is undone and reported as E_BUFFER_FULL', (t) => {
  const dir = tempDir(t);
  let full = false;
  const b = new DiskBuffer({
    dir,
    fs: {
      ...nodeFs,
      writevSync: (fd, buffers, position) => {
        if (full) {
          nodeFs.writevSync(fd, [new Uint8Array(10)], position); // part of it made it to disk
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
        return nodeFs.writevSync(fd, buffers, position);
      },
    },
  });
  b.push(batch(0));
  full = true;
  const err = t.throws(() => b.push(batch(1)));
  t.true(isTributaryError(err, 'E_BUFFER_FULL'));
  full = false;
  b.push(batch(2));
  b.close();
  const again = new DiskBuffer({ dir });
  t.deepEqual([again.peek()!.batch[0], again.stats.batches, again.stats.tornRecords], [0, 2, 0]);
  again.close();
});
