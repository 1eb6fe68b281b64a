import test from 'ava';
import fc from 'fast-check';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeBatch } from '../../src/batch/encode.js';
import { isTributaryError } from '../../src/errors.js';
import { nodeFs, type StorageFs } from '../../src/index/fs.js';
import { ShardStore } from '../../src/index/store.js';
import type { IdentifiedEntry, LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

function entries(n: number, offset = 0, tsOf: (i: number) => bigint = (i) => 1_700_000_000_000_000_000n + BigInt(i) * 1000n): LogEntry[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    return {
      ts: tsOf(i),
      level: (i % 4) as Level,
      service: `svc-${i % 3}`,
      server: `srv-${i % 11}`,
      region: `r-${i % 2}`,
      message: `message ${i} ${'x'.repeat(i % 40)}`,
    };
  });
}

const batch = (source: string, first: number, es: LogEntry[]) => encodeBatch(es, { sourceId: source, firstSeq: BigInt(first) });
const key = (e: IdentifiedEntry) => `${e.source}/${e.seq}`;
const plain = (e: IdentifiedEntry) => ({
  ts: e.ts,
  level: e.level,
  service: e.service,
  server: e.server,
  region: e.region,
  message: e.message,
  source: e.source,
  seq: e.seq,
});

test('while a seal is in flight its generation is counted as sealing: blocks, sealing and memtable always add up to what was stored', async (t) => {
  const { store } = ShardStore.open({ dir: tempDir(t) });
  const es = entries(3000);
  store.append(batch('src-a', 0, es.slice(0, 2000)));
  await store.sync();
  const total = (s: typeof store.stats) => s.blockEntries + s.sealingEntries + s.memtableEntries;
  const sealed = store.seal(); // the generation is cut now; the block is written after the label log's sync
  store.append(batch('src-a', 2000, es.slice(2000)));
  const during = store.stats;
  t.true(during.sealing);
  t.deepEqual([during.blockEntries, during.sealingEntries, during.memtableEntries], [0, 2000, 1000]);
  await sealed;
  const after = store.stats;
  t.deepEqual([after.blockEntries, after.sealingEntries, after.memtableEntries], [2000, 0, 1000]);
  t.is(total(during), 3000);
  t.is(total(after), 3000);
  await store.close();
});

test('appended entries are stored, sealed into sorted blocks, and read back after reopening', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  // Out of order timestamps over 50 s: the block must come out sorted.
  const es = entries(20_000, 0, (i) => 1_700_000_000_000_000_000n + BigInt((i * 7919) % 20_000) * 2_500_000n);
  for (let i = 0; i < 20; i++) store.append(batch('src-a', i * 1000, es.slice(i * 1000, (i + 1) * 1000)));
  await store.sync();
  const before = [...store.entries()].map(plain);
  const block = await store.seal();
  t.is(block?.entries, 20_000);
  t.is(block?.pages.length, 3, 'cut at a 10 s boundary once 4,096 rows are in: 8,000 + 8,000 + 4,000');
  await store.close();
  const { store: again, report } = ShardStore.open({ dir });
  t.is(report.blocks, 1);
  t.is(report.replayedEntries, 0, 'the checkpoint skips what is sealed');
  const after = [...again.entries()].map(plain);
  t.is(after.length, 20_000);
  for (let i = 1; i < after.length; i++) if (after[i - 1]!.ts > after[i]!.ts) return t.fail(`not sorted at ${i}`);
  const canon = (es: ReturnType<typeof plain>[]) => es.map((e) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
  t.deepEqual(canon(after), canon(before), 'the same entries, every field');
  await again.close();
});

test('unsealed entries survive a reopen through WAL replay', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  store.append(batch('src-a', 0, entries(500)));
  await store.sync();
  // No close: as after a crash.
  const { store: again, report } = ShardStore.open({ dir });
  t.is(report.replayedEntries, 500);
  t.is([...again.entries()].length, 500);
  await again.close();
});

test('a resend is stored once, before and after a restart; a partial resend keeps only its new entries', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  const es = entries(300);
  t.like(store.append(batch('s', 0, es.slice(0, 200))), { accepted: 200, duplicates: 0 });
  const resend = store.append(batch('s', 0, es.slice(0, 200)));
  t.like(resend, { accepted: 0, duplicates: 200, position: null });
  t.deepEqual(resend.stored, []);
  await store.seal();
  const r = store.append(batch('s', 100, es.slice(100, 300)));
  t.is(r.accepted, 100);
  t.is(r.duplicates, 100);
  // What was stored is only the new range: what the anomaly detectors are fed.
  t.deepEqual(
    r.stored.map((p) => [p.firstSeq, p.count]),
    [[200n, 100]],
  );
  await store.sync();
  const { store: again } = ShardStore.open({ dir });
  t.is(again.append(batch('s', 0, es)).duplicates, 300, 'after a restart too');
  const all = [...again.entries()];
  t.is(all.length, 300);
  t.is(new Set(all.map(key)).size, 300);
  await again.close();
  await store.close();
});

test('whatever the arrival order and resends, the stored set equals the accepted set (property)', async (t) => {
  const base = tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ source: fc.constantFrom('a', 'b', 'c'), first: fc.nat(60), count: fc.integer({ min: 1, max: 15 }) }), {
        minLength: 1,
        maxLength: 25,
      }),
      fc.nat(25),
      async (sends, sealAt) => {
        const { store } = ShardStore.open({ dir: join(base, `r${run++}`) });
        const expected = new Set<string>();
        for (const [i, s] of sends.entries()) {
          store.append(batch(s.source, s.first, entries(s.count, s.first)));
          for (let k = 0; k < s.count; k++) expected.add(`${s.source}/${s.first + k}`);
          if (i === sealAt) await store.seal();
        }
        await store.sync();
        const stored = [...store.entries()].map(key);
        await store.close();
        return stored.length === expected.size && stored.every((k) => expected.has(k));
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('a corrupt block is quarantined and reported at open; the rest is served', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  store.append(batch('s', 0, entries(100)));
  await store.seal();
  store.append(batch('s', 100, entries(100, 100)));
  await store.seal();
  await store.close();
  const blockDir = join(dir, 'blocks');
  const first = join(blockDir, readdirSync(blockDir).sort()[0]!);
  const bytes = readFileSync(first);
  bytes[bytes.length - 30]! ^= 0xff; // inside the footer
  writeFileSync(first, bytes);
  const { store: again, report } = ShardStore.open({ dir });
  t.is(report.quarantined.length, 1);
  t.regex(report.quarantined[0]!.reason, /footer checksum mismatch/);
  t.is(readdirSync(join(dir, 'quarantine')).length, 1);
  t.is([...again.entries()].length, 100);
  await again.close();
});

test('a seal that crashed midway leaves a .tmp file that the next open removes; its entries replay from the WAL', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  store.append(batch('s', 0, entries(50)));
  await store.sync();
  writeFileSync(join(dir, 'blocks', '000000000001.blk.tmp'), 'half a block');
  const { store: again, report } = ShardStore.open({ dir });
  t.is(report.removedTmp, 1);
  t.is([...again.entries()].length, 50);
  await again.close();
});

test('a full disk rejects the append with E_DISK_FULL; nothing of it is stored, and appends resume when space returns', async (t) => {
  const dir = tempDir(t);
  let full = false;
  const fs: StorageFs = {
    ...nodeFs,
    writevSync: (fd, bufs, pos) => {
      if (full) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return nodeFs.writevSync(fd, bufs, pos);
    },
  };
  const { store } = ShardStore.open({ dir, fs });
  store.append(batch('s', 0, entries(10)));
  full = true;
  t.true(
    isTributaryError(
      t.throws(() => store.append(batch('s', 10, entries(10, 10)))),
      'E_DISK_FULL',
    ),
  );
  t.is([...store.entries()].length, 10, 'the rejected batch is not in the memtable either');
  full = false;
  t.is(store.append(batch('s', 10, entries(10, 10))).accepted, 10, 'the same batch is accepted once there is room');
  await store.sync();
  const { store: again } = ShardStore.open({ dir });
  t.is([...again.entries()].length, 20);
  await again.close();
  await store.close();
});

test('a corrupt batch is rejected before it reaches the WAL', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  const b = batch('s', 0, entries(10));
  b[b.length - 20]! ^= 1;
  t.true(
    isTributaryError(
      t.throws(() => store.append(b)),
      'E_BATCH_CORRUPT',
    ),
  );
  t.is(store.stats.walBytes, 16, 'nothing but the segment header');
  await store.close();
});

test('appends during a seal are neither lost nor sealed twice; concurrent seals do not duplicate', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  store.append(batch('s', 0, entries(1000)));
  const first = store.seal(); // awaits the label log's fsync inside
  const second = store.seal(); // must not seal the same entries again
  store.append(batch('s', 1000, entries(1000, 1000))); // arrives while the seal is in flight
  t.is([...store.entries()].length, 2000, 'entries being sealed stay visible meanwhile');
  await Promise.all([first, second]);
  const keys = [...store.entries()].map(key);
  t.is(keys.length, 2000);
  t.is(new Set(keys).size, 2000, 'no entry twice');
  t.is(store.stats.blockEntries + store.stats.memtableEntries, 2000);
  await store.close();
  const { store: again } = ShardStore.open({ dir });
  t.is(new Set([...again.entries()].map(key)).size, 2000);
  t.is([...again.entries()].length, 2000);
  await again.close();
});

test('while a seal is in flight the memtable has a limit: the store reports full instead of growing', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir, sealBytes: 20_000, maxMemtableBytes: 40_000 });
  store.append(batch('s', 0, entries(300)));
  const sealing = store.seal();
  t.false(store.full, 'an empty memtable is not full');
  let seq = 300;
  while (!store.full) {
    store.append(batch('s', seq, entries(300, seq)));
    seq += 300;
  }
  t.true(store.stats.memtableBytes >= 40_000 && store.stats.memtableBytes < 40_000 + 30_000, 'it stops at the limit (within one batch)');
  await sealing;
  t.false(store.full, 'the limit lifts when the seal completes');
  await store.close();
});

test('an unwritable data directory fails at open with the path and the reason', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-directory');
  writeFileSync(file, 'x');
  const err = t.throws(() => ShardStore.open({ dir: join(file, 'shard') }));
  t.true(isTributaryError(err, 'E_STORAGE_UNWRITABLE'), String(err));
  t.regex(err!.message, /not-a-directory\/shard is not writable \(ENOTDIR\)/);
});

test('lateness per source: late and future-stamped entries are counted, and stored all the same', async (t) => {
  const dir = tempDir(t);
  const now = 1_700_000_000_000;
  const { store } = ShardStore.open({ dir, now: () => now });
  const at = (msAgo: number) => BigInt(now - msAgo) * 1_000_000n;
  const ages = [0, 500, 5_000, 30_000, 300_000, 3_000_000, 7_200_000, -5_000];
  store.append(
    batch(
      'late',
      0,
      entries(ages.length, 0, (i) => at(ages[i]!)),
    ),
  );
  const h = store.stats.lateness.late!;
  t.deepEqual(h.buckets, [2, 1, 1, 1, 1, 1]);
  t.is(h.future, 1);
  t.is([...store.entries()].length, ages.length, 'nothing rejected for its timestamp');
  await store.close();
});

test('retention drops whole blocks by age, then by size, oldest data first', async (t) => {
  const dir = tempDir(t);
  let now = 1_700_000_000_000;
  const { store } = ShardStore.open({ dir, now: () => now });
  const hour = 3_600_000;
  // Three blocks: data 3 h old, 2 h old, and fresh.
  for (const [k, age] of [3 * hour, 2 * hour, 0].entries()) {
    store.append(
      batch(
        's',
        k * 100,
        entries(100, k * 100, (i) => BigInt(now - age) * 1_000_000n + BigInt(i)),
      ),
    );
    await store.seal();
  }
  t.is(store.blocks.length, 3);
  t.deepEqual(store.enforceRetention({ maxAgeMs: 150 * 60_000 }).blocks, 1, 'only the 3-hour-old block is past 2.5 h');
  const fresh = store.blocks.find((b) => b.maxTs >= BigInt(now - 1000) * 1_000_000n)!;
  const r = store.enforceRetention({ maxBytes: fresh.bytes });
  t.is(r.blocks, 1, 'the older of the two remaining goes to fit the size');
  t.deepEqual(
    store.blocks.map((b) => b.id),
    [fresh.id],
  );
  t.is([...store.entries()].length, 100);
  await store.close();
  now += 1;
  const { store: again } = ShardStore.open({ dir });
  t.is(again.blocks.length, 1, 'the removal is on disk');
  await again.close();
});

async function storeWithSmallBlocks(dir: string, blocks: number, per: number) {
  const { store } = ShardStore.open({ dir, sealEntries: 1000 });
  for (let k = 0; k < blocks; k++) {
    // Timestamps interleave across blocks: the merged block must sort them.
    store.append(
      batch(
        's',
        k * per,
        entries(per, k * per, (i) => BigInt((i * 37) % (blocks * per)) * 1000n),
      ),
    );
    await store.seal();
  }
  return store;
}

test('compaction merges small blocks into one sorted block with the same entries', async (t) => {
  const dir = tempDir(t);
  const store = await storeWithSmallBlocks(dir, 6, 100);
  const before = [...store.entries()].map(key).sort();
  t.is(store.blocks.length, 6);
  const merged = await store.compact();
  t.is(merged?.entries, 600);
  t.deepEqual(merged?.replaces?.length, 6);
  t.is(store.blocks.length, 1);
  t.is(readdirSync(join(dir, 'blocks')).filter((n) => n.endsWith('.blk')).length, 1, 'old files deleted');
  const after = [...store.entries()];
  t.deepEqual(after.map(key).sort(), before);
  for (let i = 1; i < after.length; i++) if (after[i - 1]!.ts > after[i]!.ts) return t.fail('not sorted');
  t.is(store.append(batch('s', 0, entries(600))).duplicates, 600, 'dedup still knows every entry');
  t.is(await store.compact(), null, 'nothing small left to merge');
  await store.close();
});

test('a crash between writing the merged block and deleting the old ones leaves no duplicate after reopening', async (t) => {
  const dir = tempDir(t);
  const store = await storeWithSmallBlocks(dir, 3, 100);
  const { runCompaction } = await import('../../src/index/sealer.js');
  // Write the merged block as compaction would, but "crash" before the old ones are deleted.
  runCompaction(nodeFs, { dir: join(dir, 'blocks'), id: 99, blocks: store.blocks, labelCount: 100, walEnd: store.blocks.at(-1)!.walEnd, now: Date.now() });
  await store.close();
  t.is(readdirSync(join(dir, 'blocks')).filter((n) => n.endsWith('.blk')).length, 4);
  const { store: again } = ShardStore.open({ dir });
  t.deepEqual(
    again.blocks.map((b) => b.id),
    [99],
  );
  const keys = [...again.entries()].map(key);
  t.is(keys.length, 300);
  t.is(new Set(keys).size, 300);
  await again.close();
});

test('ingest goes on during a compaction; nothing is lost or doubled', async (t) => {
  const dir = tempDir(t);
  const store = await storeWithSmallBlocks(dir, 4, 200);
  const compaction = store.compact();
  for (let k = 0; k < 5; k++) store.append(batch('t', k * 100, entries(100, 10_000 + k * 100)));
  t.is([...store.entries()].length, 1300, 'readable during the merge');
  await compaction;
  await store.seal();
  const keys = [...store.entries()].map(key);
  t.is(keys.length, 1300);
  t.is(new Set(keys).size, 1300);
  await store.close();
});

test('the page cache serves repeated reads, keeps the most recently used, and stays within its bytes', async (t) => {
  const { PageCache } = await import('../../src/index/page-cache.js');
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir, sealInBackground: false });
  store.append(
    batch(
      's',
      0,
      entries(20_000, 0, (i) => 1_700_000_000_000_000_000n + BigInt(i) * 2_500_000n),
    ),
  );
  const block = (await store.seal())!;
  t.is(block.pages.length, 3);
  // What each page costs once read (its head): measured on a cache with room for all.
  const cost = [0, 1, 2].map((p) => {
    const probe = new PageCache(1 << 30);
    probe.get(nodeFs, block, p);
    return probe.size.bytes;
  });
  const room = cost[0]! + cost[1]! + 100; // room for two pages
  const text = 1 << 20;
  const cache = new PageCache(room + text, { textBytes: text, postingBytes: 0 });
  const first = cache.get(nodeFs, block, 0);
  t.is(cache.get(nodeFs, block, 0), first, 'a hit returns the same decoded page');
  cache.get(nodeFs, block, 1);
  cache.get(nodeFs, block, 0); // 0 is now the most recently used
  cache.get(nodeFs, block, 2); // evicts 1, the least recently used
  t.is(cache.size.pages, 2);
  t.true(cache.size.bytes <= room);
  const misses = cache.misses;
  cache.get(nodeFs, block, 0);
  t.is(cache.misses, misses, 'page 0 survived');
  cache.get(nodeFs, block, 1);
  t.is(cache.misses, misses + 1, 'page 1 had been evicted');
  // Messages decoded as a query reaches them are counted too, and still evict.
  const page = cache.get(nodeFs, block, 1);
  const before = cache.size.bytes;
  for (let i = 0; i < page.count; i += 100) page.message(i);
  t.true(cache.size.bytes > before || cache.size.pages < 2, 'decoded frames are charged');
  t.true(cache.size.bytes <= room);
  await store.close();
});

test('while a seal waits on its WAL checkpoint, readers see every entry once (in the block, not also in the memtable)', async (t) => {
  const dir = tempDir(t);
  let release!: () => void;
  let checkpointing!: () => void;
  const reached = new Promise<void>((r) => (checkpointing = r));
  const held = new Promise<void>((r) => (release = r));
  // The checkpoint's fsyncs (the only async fsync) wait until the test has looked.
  const fs: StorageFs = {
    ...nodeFs,
    fsync: (fd, cb) => {
      checkpointing();
      void held.then(() => nodeFs.fsync(fd, cb));
    },
  };
  const { store } = ShardStore.open({ dir, fs });
  store.append(batch('src-a', 0, entries(3000)));
  await store.sync();
  const sealing = store.seal();
  await reached;
  t.is(store.blocks.length, 1, 'the block is in place');
  t.is([...store.entries()].length, 3000, 'and its entries are not also read from the memtable');
  release();
  await sealing;
  t.is([...store.entries()].length, 3000);
  await store.close();
});

test('closing during a seal cancels it on the seal thread: no block, no temporary file, every entry replayed', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir });
  const es = entries(20_000);
  for (let i = 0; i < 20; i++) store.append(batch('src-a', i * 1000, es.slice(i * 1000, (i + 1) * 1000)));
  await store.sync();
  // close() raises the seal's cancel flag before the pool thread reaches its first page.
  const sealing = store.seal();
  await store.close();
  const err = await t.throwsAsync(sealing);
  t.is(isTributaryError(err) ? err.code : undefined, 'E_CANCELLED');
  t.deepEqual(readdirSync(join(dir, 'blocks')), [], 'the abandoned block left nothing behind');
  const { store: again, report } = ShardStore.open({ dir });
  t.is(report.blocks, 0);
  t.is(report.replayedEntries, 20_000);
  t.is([...again.entries()].length, 20_000);
  await again.close();
});
