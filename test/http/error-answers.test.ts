import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeBatch } from '../../src/batch/encode.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { DATA_FORMAT } from '../../src/daemon/data-format.js';
import { TributaryError, publicError, redactPaths } from '../../src/errors.js';
import { readBlockIndex } from '../../src/index/block-reader.js';
import { nodeFs } from '../../src/index/fs.js';
import { ShardStore } from '../../src/index/store.js';
import { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

const T0 = 1_767_225_600_000_000_000n;

test('an error as an answer carries its code and message with server paths cut, and never a stack', (t) => {
  t.is(redactPaths('corrupt block /var/lib/tributary/shards/shard-0/blocks/000000000001.blk: bad magic'), 'corrupt block .../000000000001.blk: bad magic');
  t.is(redactPaths('path="/tmp/x/y" and a/b stays'), 'path=".../y" and a/b stays');
  const e = publicError(
    new TributaryError('E_BLOCK_CORRUPT', 'corrupt block /data/shards/shard-1/blocks/7.blk: x', { path: '/data/shards/shard-1/blocks/7.blk', page: 3 }),
  );
  t.deepEqual(e, { code: 'E_BLOCK_CORRUPT', message: 'corrupt block .../7.blk: x', context: { path: '.../7.blk', page: 3 } });
  const internal = publicError(new TypeError("Cannot read properties of undefined (reading 'x') at /work/src/a.js:1:2"));
  t.is(internal.code, 'E_INTERNAL');
  t.false(JSON.stringify(internal).includes('/work'));
});

test('no answer carries a stack trace or a server path, even over a damaged block', async (t) => {
  const dir = tempDir(t);
  for (const shard of [0, 1]) {
    const { store } = ShardStore.open({ dir: `${dir}/shards/shard-${shard}`, sealInBackground: false });
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      ts: T0 + BigInt(i) * 1_000_000n,
      level: Level.INFO,
      service: 'api',
      server: `web-${i % 5}`,
      region: 'r',
      message: `request ${i} done`,
    }));
    store.append(encodeBatch(entries, { sourceId: `src-${shard}`, firstSeq: 0n }));
    await store.seal();
    await store.close();
  }
  writeFileSync(`${dir}/FORMAT`, `tributary-data-format ${DATA_FORMAT}\n`);
  // Damage the first frame of shard 0's block: its CRC fails when a query reads it.
  const path = `${dir}/shards/shard-0/blocks/000000000001.blk`;
  const index = readBlockIndex(nodeFs, path, 1);
  const bytes = readFileSync(path);
  bytes[index.pages[0]!.offset + index.pages[0]!.head! + 12]! ^= 0xff;
  writeFileSync(path, bytes);
  const d = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: false, workers: 2, shards: 2 });
  t.teardown(() => d.stop());
  const range = { from: String(T0), to: String(T0 + 10_000_000_000n) };
  const answers = [
    await fetch(`${d.url}/api/v1/query?${new URLSearchParams({ query: '{service="api"}', limit: '5000', ...range })}`),
    await fetch(`${d.url}/loki/api/v1/query_range?${new URLSearchParams({ query: '{service="api"}', limit: '5000', start: range.from, end: range.to })}`),
    await fetch(`${d.url}/api/v1/query?${new URLSearchParams({ query: '{service=="api"}' })}`),
  ];
  const texts = await Promise.all(answers.map((r) => r.text()));
  t.true(texts[0]!.includes('000000000001.blk'), 'the damage is reported, naming the block');
  for (const text of texts) {
    t.false(text.includes(dir), text.slice(0, 300));
    t.false(text.includes('"stack"'));
    t.notRegex(text, /\bat .*\.js:\d+/);
  }
});
