import test from 'ava';
import { join } from 'node:path';
import { encodeBatch } from '../../src/batch/encode.js';
import { isTributaryError } from '../../src/errors.js';
import { ShardStore } from '../../src/index/store.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import type { ShardStatsAnswer } from '../../src/shard/shard-actor.js';
import { nextEvent, startSystem, tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

const shardModule = { module: new URL('../../src/shard/shard-actor.js', import.meta.url), export: 'shardActor' };

function batch(source: string, first: number, n: number): Uint8Array {
  const es: LogEntry[] = [];
  for (let i = 0; i < n; i++) {
    const s = first + i;
    es.push({
      ts: 1_700_000_000_000_000_000n + BigInt(s),
      level: (s % 4) as Level,
      service: 'svc',
      server: `srv-${s % 5}`,
      region: 'eu',
      message: `entry ${s}`,
    });
  }
  return encodeBatch(es, { sourceId: source, firstSeq: BigInt(first) });
}

async function storedSeqs(dir: string): Promise<Map<string, number>> {
  const { store } = ShardStore.open({ dir });
  const counts = new Map<string, number>();
  for (const e of store.entries()) counts.set(`${e.source}/${e.seq}`, (counts.get(`${e.source}/${e.seq}`) ?? 0) + 1);
  await store.close();
  return counts;
}

test('a batch is acknowledged once durable, and is on disk after the system stops', async (t) => {
  const dir = join(tempDir(t), 'shard-0');
  const { system } = await startSystem(t, { workers: 1 });
  const shard = await system.spawn({ name: 'shard-0', behaviour: shardModule, args: { dir } });
  for (let b = 0; b < 20; b++) {
    const seq = await system.send(shard, batch('src', b * 100, 100));
    await system.whenAcked(shard, seq);
  }
  const stats = await system.ask<ShardStatsAnswer>(shard, { op: 'stats' });
  t.is(stats.store!.memtableEntries + stats.store!.blockEntries, 2000);
  await system.stop();
  const stored = await storedSeqs(dir);
  t.is(stored.size, 2000);
});

test('a full disk holds writes back (E_DISK_FULL to the waiting sender) and loses nothing; writes resume when space returns', async (t) => {
  const dir = join(tempDir(t), 'shard-0');
  const faults = new SharedArrayBuffer(4);
  const flag = new Int32Array(faults);
  const { system } = await startSystem(t, { workers: 1 });
  const shard = await system.spawn({ name: 'shard-0', behaviour: shardModule, args: { dir, faults } });
  await system.whenAcked(shard, await system.send(shard, batch('src', 0, 100)));
  Atomics.store(flag, 0, 1);
  const held = await system.send(shard, batch('src', 100, 100));
  const err = await t.throwsAsync(system.whenAcked(shard, held, { timeoutMs: 10_000 }));
  t.true(isTributaryError(err, 'E_DISK_FULL'), String(err));
  t.is(system.stats(shard).health, 'E_DISK_FULL');
  Atomics.store(flag, 0, 0);
  await waitUntil('the shard wrote again', () => system.stats(shard).health === undefined);
  await system.whenAcked(shard, held, { timeoutMs: 10_000 });
  await system.stop();
  t.is((await storedSeqs(dir)).size, 200, 'the batch held during the outage was stored once space returned');
});

test("the primary's thread killed mid-ingest: it recovers from its WAL and the replica's tail; every acknowledged entry is stored once", async (t) => {
  const dir = join(tempDir(t), 'shard-0');
  const { system } = await startSystem(t, { workers: 2, supervisor: { backoff: { initialMs: 1, maxMs: 5, jitter: 0 } } });
  const shard = await system.spawn({ name: 'shard-0', behaviour: shardModule, args: { dir, sealEntries: 3000 }, replicas: 1 });
  const acked: number[] = [];
  const pending: Promise<void>[] = [];
  for (let b = 0; b < 100; b++) {
    const seq = await system.send(shard, batch('src', b * 100, 100));
    pending.push(system.whenAcked(shard, seq, { replicas: 1, timeoutMs: 20_000 }).then(() => void acked.push(b)));
    if (b === 50) {
      const back = nextEvent(system, '@actor.restarted', (e) => e.actor.id === shard.id);
      await system.killThread(system.threadOf(shard));
      await back;
    }
  }
  await Promise.all(pending);
  t.is(acked.length, 100);
  await system.stop();
  const stored = await storedSeqs(dir);
  t.is(stored.size, 10_000);
  t.true([...stored.values()].every((c) => c === 1));
});

test('shards added and removed while ingest runs: every written entry is stored exactly once, somewhere', async (t) => {
  const base = tempDir(t);
  const { system } = await startSystem(t, { workers: 2 });
  const { ShardedWriter } = await import('../../src/shard/sharded-writer.js');
  const spawnShard = (name: string) => system.spawn({ name, behaviour: shardModule, args: { dir: join(base, name) } });
  const writer = ShardedWriter.overActors(system, { s0: await spawnShard('s0'), s1: await spawnShard('s1') });
  const total = 40;
  let n = 0;
  const entriesOf = (k: number): LogEntry[] =>
    Array.from({ length: 250 }, (_, i) => {
      const s = k * 250 + i;
      return { ts: BigInt(s), level: (s % 4) as Level, service: `svc-${s % 13}`, server: `srv-${s % 211}`, region: 'eu', message: `m${s}` };
    });
  for (let k = 0; k < total; k++) {
    if (k === 10) writer.addShard('s2', await spawnShard('s2'));
    if (k === 25) writer.removeShard('s0');
    await writer.write(entriesOf(k));
    n += 250;
  }
  await system.stop();
  const seen = new Map<string, number>();
  for (const name of ['s0', 's1', 's2']) {
    const { store } = ShardStore.open({ dir: join(base, name) });
    for (const e of store.entries()) seen.set(e.message, (seen.get(e.message) ?? 0) + 1);
    await store.close();
  }
  t.is(seen.size, n);
  t.true([...seen.values()].every((c) => c === 1));
});
