import test from 'ava';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { isTributaryError } from '../../src/errors.js';
import { DATA_FORMAT } from '../../src/daemon/data-format.js';
import { BLOCK_VERSION } from '../../src/index/block-format.js';
import { readRollup } from '../../src/index/block-reader.js';
import { nodeFs } from '../../src/index/fs.js';
import { ShardStore } from '../../src/index/store.js';
import { post, storedEntries } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';

// A data directory written by the release before the open label model (format 1): two shards,
// each with one sealed block and a WAL tail, 110 entries in all (test/fixtures/v1/datadir).
const FIXTURE = new URL('../../../test/fixtures/v1/datadir', import.meta.url);
const T0 = 1_767_225_600_000_000_000n;

// One written by the release before blocks v3 (format 2): two shards, each with a sealed block of
// 60 entries and a WAL tail of 15, with other labels on every second entry and metadata on every
// third (test/fixtures/v2/datadir, made with test/fixtures/scripts/make-datadir.mjs). The same from
// the release before blocks v4 (format 3, whole messages against a dictionary): test/fixtures/v3/datadir.
const FIXTURE_V2 = new URL('../../../test/fixtures/v2/datadir', import.meta.url);
const FIXTURE_V3 = new URL('../../../test/fixtures/v3/datadir', import.meta.url);
const FIXTURES = [
  [2, FIXTURE_V2],
  [3, FIXTURE_V3],
] as const;

function copyFixture(t: Parameters<typeof tempDir>[0], from = FIXTURE): string {
  const dir = tempDir(t);
  cpSync(from, dir, { recursive: true });
  return dir;
}

/** Starts a daemon on a copy of a fixture directory, checking that the start said it read format `format` in place. */
async function startOnCopy(t: Parameters<typeof tempDir>[0], from: URL, format: number) {
  const dir = copyFixture(t, from);
  const lines: string[] = [];
  const d = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: false, workers: 2, shards: 2, log: (_l, m) => lines.push(m) });
  t.teardown(() => d.stop());
  t.true(
    lines.some((l) => l.includes(`storage format: data directory of format ${format} read in place`)),
    lines.join('\n'),
  );
  return { d, dir };
}

for (const [format, fixture] of FIXTURES)
  test(`a data directory of format ${format} opens in place, with its labels and metadata`, async (t) => {
    const { d } = await startOnCopy(t, fixture, format);
    const all = await storedEntries(d, '{}', T0 - 1n, T0 + 10n ** 12n);
    t.is(all.length, 150);
    const first = all.find((e) => e.message === `v${format} entry 0 shard 0 user=u0 took 0 ms`)!;
    t.deepEqual([first.labels, first.metadata], [{ env: 'prod', team: 't0' }, { trace_id: 'trace-0' }]);
    t.is((await storedEntries(d, '{env="prod"}', T0 - 1n, T0 + 10n ** 12n)).length, 2 * 19, 'entries 0, 4, 8, ... of 75, per shard');
    t.is((await storedEntries(d, '{} | trace_id="trace-3"', T0 - 1n, T0 + 10n ** 12n)).length, 2);
    t.is((await storedEntries(d, '{} |= "took 9 ms"', T0 - 1n, T0 + 10n ** 12n)).length, 2, 'a line filter reads the old blocks');
  });

test('a data directory of format 1 opens in place, says so, and keeps every entry; new entries get the new format', async (t) => {
  const { d, dir } = await startOnCopy(t, FIXTURE, 1);
  t.is(readFileSync(join(dir, 'FORMAT'), 'utf8'), `tributary-data-format ${DATA_FORMAT}\n`);
  const old = await storedEntries(d, '{}', T0 - 1n, T0 + 10n ** 12n);
  t.is(old.length, 110);
  t.deepEqual(
    old.slice(0, 3).map((e) => [e.ts, e.service, e.server, e.region, e.level, e.message, e.labels]),
    [
      [T0.toString(), 'svc-0', 'web-0', 'us-1', 'DEBUG', 'old entry 0', undefined],
      [(T0 + 1_000_000n).toString(), 'svc-1', 'web-1', 'eu-1', 'INFO', 'old entry 1', undefined],
      [(T0 + 2_000_000n).toString(), 'svc-2', 'web-2', 'us-1', 'WARN', 'old entry 2', undefined],
    ],
  );
  // Old entries have no other labels: a matcher on one sees "".
  t.is((await storedEntries(d, '{env=""}', T0 - 1n, T0 + 10n ** 12n)).length, 110);
  const res = await post(
    d,
    '/loki/api/v1/push',
    JSON.stringify({ streams: [{ stream: { app: 'svc-0', env: 'prod' }, values: [[(T0 + 500_000_000n).toString(), 'new entry']] }] }),
    {
      'content-type': 'application/json',
    },
  );
  t.is(res.status, 204);
  t.deepEqual(
    (await storedEntries(d, '{env="prod"}', T0 - 1n, T0 + 10n ** 12n)).map((e) => e.message),
    ['new entry'],
  );
});

test('a data directory in a format newer than this build is refused with a clear error, and left as it was', async (t) => {
  const dir = copyFixture(t);
  writeFileSync(join(dir, 'FORMAT'), 'tributary-data-format 99\n');
  const err = await t.throwsAsync(Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: false, workers: 1 }));
  t.true(isTributaryError(err, 'E_FORMAT_TOO_NEW'));
  t.true(err!.message.includes(`format 99, newer than this build reads (up to ${DATA_FORMAT})`), err!.message);
  t.is(readFileSync(join(dir, 'FORMAT'), 'utf8'), 'tributary-data-format 99\n');
  t.true(existsSync(join(dir, 'clean-stop')), "the newer release's clean-stop mark is untouched");
});

test('a block in a newer format stops the shard from opening rather than being quarantined as damage', (t) => {
  const dir = copyFixture(t);
  const shard = join(dir, 'shards', 'shard-0');
  const block = join(shard, 'blocks', '000000000001.blk');
  const bytes = readFileSync(block);
  bytes.writeUInt16LE(99, 4); // the version field
  writeFileSync(block, bytes);
  const err = t.throws(() => ShardStore.open({ dir: shard, sealInBackground: false }));
  t.true(isTributaryError(err, 'E_FORMAT_TOO_NEW'));
  t.true(existsSync(block), 'still in place');
});

for (const [format, fixture] of FIXTURES)
  test(`a compaction merges a format-${format} block with new ones into one block of the current version, every entry, label and metadata kept`, async (t) => {
    const dir = copyFixture(t, fixture);
    const shard = join(dir, 'shards', 'shard-0');
    const { store } = ShardStore.open({ dir: shard, sealInBackground: false });
    t.teardown(() => store.close());
    const plain = () =>
      [...store.entries()]
        .map((e) => JSON.stringify([e.ts.toString(), e.source, e.seq.toString(), e.level, e.service, e.server, e.region, e.message, e.labels, e.metadata]))
        .sort();
    const before = plain();
    t.is(before.length, 75);
    t.deepEqual(
      store.blocks.map((b) => b.version),
      [format],
    );
    // Its roll-ups (the old Float64 layout) still count every entry.
    const old = readRollup(nodeFs, store.blocks[0]!);
    t.is(old && old.count.reduce((a, b) => a + b, 0), store.blocks[0]!.entries);
    await store.seal(); // the WAL tail becomes a block of the current version
    const merged = await store.compact({ smallBytes: 1 << 20, targetBytes: 1 << 22 });
    t.truthy(merged);
    t.deepEqual(
      store.blocks.map((b) => [b.version, b.entries]),
      [[BLOCK_VERSION, 75]],
    );
    t.deepEqual(plain(), before);
    const rolled = readRollup(nodeFs, store.blocks[0]!);
    t.is(rolled && rolled.count.reduce((a, b) => a + b, 0), 75, 'the new roll-up layout counts them too');
  });
