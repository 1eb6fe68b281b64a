import test from 'ava';
import { cpSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { encodeBatch } from '../../src/batch/encode.js';
import { ShardStore } from '../../src/index/store.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { StagedFiles } from '../../src/shard/shard-files.js';
import type { RecoveryReport } from '../../src/index/store.js';
import { AnswerRows } from '../../src/query/answer-rows.js';
import type { RowsAnswer } from '../../src/query/merge-rows.js';
import { startSystem, tempDir } from '../helpers/system.js';

/**
 * What a cluster member asks of a shard for the archive: `checkpoint` seals
 * what the memtable holds and stages every block and the label log as hard
 * links (so a compaction deleting a block does not take it from an upload),
 * and `adopt` takes a restored directory in place of the shard's own.
 */

const shardModule = { module: new URL('../../src/shard/shard-actor.js', import.meta.url), export: 'shardActor' };

function batch(source: string, first: number, n: number, prefix = 'entry'): Uint8Array {
  const es: LogEntry[] = Array.from({ length: n }, (_, i) => ({
    ts: 1_700_000_000_000_000_000n + BigInt(first + i),
    level: 1,
    service: `svc-${(first + i) % 3}`,
    server: `srv-${(first + i) % 7}`,
    region: 'eu',
    message: `${prefix} ${first + i}`,
  }));
  return encodeBatch(es, { sourceId: source, firstSeq: BigInt(first) });
}

async function messages(dir: string): Promise<string[]> {
  const { store } = ShardStore.open({ dir });
  const out = [...store.entries()].map((e) => e.message).sort();
  await store.close();
  return out;
}

test('checkpoint seals what the shard holds and stages its blocks and label log; the staged copy opens as the same shard', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'shard-0');
  const { system } = await startSystem(t, { workers: 1 });
  const shard = await system.spawn({ name: 'shard-0', behaviour: shardModule, args: { dir } });
  for (let b = 0; b < 3; b++) await system.whenAcked(shard, await system.send(shard, batch('src', b * 100, 100)));
  const first = await system.ask<StagedFiles>(shard, { op: 'checkpoint', to: join(root, 'staged') });
  t.deepEqual(
    first.files.map((f) => f.path.split('/')[0]),
    ['blocks', 'labels'],
    'one block (the memtable, sealed) and the label log',
  );
  for (const f of first.files) t.is(statSync(join(first.dir, f.path)).size, f.bytes);
  // More entries, another checkpoint: two blocks now, and the label log has grown (new servers' names).
  await system.whenAcked(shard, await system.send(shard, batch('src', 300, 100, 'later')));
  const second = await system.ask<StagedFiles>(shard, { op: 'checkpoint', to: join(root, 'staged') });
  t.is(second.files.filter((f) => f.path.startsWith('blocks/')).length, 2);
  // The staged files are links: deleting the shard's own (as a compaction does) leaves them readable.
  const block = second.files.find((f) => f.path.startsWith('blocks/'))!;
  const bytes = readFileSync(join(second.dir, block.path));
  await system.stop();
  rmSync(join(dir, block.path));
  t.deepEqual(readFileSync(join(second.dir, block.path)), bytes);
  // A directory of just the staged files is the shard: every entry, nothing else.
  const copy = join(root, 'copy');
  cpSync(second.dir, copy, { recursive: true });
  const all = await messages(copy);
  t.is(all.length, 400);
  t.deepEqual(all.filter((m) => m.startsWith('later ')).length, 100);
});

test('adopt replaces the shard with a restored directory: its entries are answered, the old ones are gone, and appends go on into it', async (t) => {
  const root = tempDir(t);
  // The "archive": another shard's files, made by a shard that stored 'theirs' entries.
  const other = join(root, 'other');
  {
    const { store } = ShardStore.open({ dir: other });
    store.append(batch('them', 0, 50, 'theirs'));
    await store.sync();
    await store.seal();
    await store.close();
  }
  const dir = join(root, 'shard-0');
  const { system } = await startSystem(t, { workers: 1 });
  const shard = await system.spawn({ name: 'shard-0', behaviour: shardModule, args: { dir } });
  await system.whenAcked(shard, await system.send(shard, batch('src', 0, 30, 'mine')));
  const incoming = join(root, '.restoring-shard-0');
  cpSync(other, incoming, { recursive: true });
  const report = await system.ask<RecoveryReport>(shard, { op: 'adopt', from: incoming });
  t.is(report.blockEntries, 50);
  t.false(existsSync(incoming), 'the restored directory became the shard');
  const answer = await system.ask<RowsAnswer>(shard, {
    op: 'query',
    query: { from: 0n, to: 1n << 62n, limit: 1000 },
    budgetMs: 5000,
    maxBytes: 1 << 20,
  });
  t.deepEqual(
    AnswerRows.open(answer.rows)
      .entries()
      .map((e) => e.message.split(' ')[0])
      .filter((w, i, a) => a.indexOf(w) === i),
    ['theirs'],
  );
  // A resend of what the archive holds is a duplicate; new entries are stored.
  await system.whenAcked(shard, await system.send(shard, batch('them', 0, 50, 'theirs')));
  await system.whenAcked(shard, await system.send(shard, batch('src', 100, 10, 'after')));
  await system.stop();
  const all = await messages(dir);
  t.is(all.length, 60);
  t.is(all.filter((m) => m.startsWith('mine ')).length, 0);
});
