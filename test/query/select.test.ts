import test from 'ava';
import { encodeBatch } from '../../src/batch/encode.js';
import { isTributaryError } from '../../src/errors.js';
import { ShardStore } from '../../src/index/store.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';
import { parseLogQLTree } from '../../src/query/logql/parse.js';
import { pipeView, sampleView } from '../../src/query/select.js';
import { tempDir } from '../helpers/system.js';

const S = 1_000_000_000n;
const T0 = 1_763_758_800n * S;

/** 200 logfmt entries, one a second, the first half sealed into a block and the rest in the memtable. */
async function store(t: Parameters<typeof tempDir>[0]) {
  const { store } = ShardStore.open({ dir: tempDir(t), sealInBackground: false });
  t.teardown(() => store.close());
  const entries: LogEntry[] = Array.from({ length: 200 }, (_, i) => ({
    ts: T0 + BigInt(i) * S,
    level: Level.INFO,
    service: 'api',
    server: `s${i % 5}`,
    region: 'eu',
    message: `status=${200 + (i % 3)} took=${i}ms id=${i}`,
  }));
  store.append(encodeBatch(entries.slice(0, 100), { sourceId: 'a', firstSeq: 0n }));
  await store.seal();
  store.append(encodeBatch(entries.slice(100), { sourceId: 'a', firstSeq: 100n }));
  return store.readView();
}

const stages = (q: string) => {
  const e = parseLogQLTree(q);
  if (e.kind !== 'log') throw new Error('not a log query');
  return e.pipeline;
};
const query = { labels: [{ name: 'service', op: '=' as const, value: 'api' }], from: T0, to: T0 + 200n * S };

test('samples are bounded: past maxSamples or maxSeries a query is refused naming the bound, bucketed sums hold one per bucket', async (t) => {
  const view = await store(t);
  const far = performance.now() + 60_000;
  const one = { query, stages: stages('{service="api"} | logfmt'), value: { kind: 'count' as const }, grouping: { without: false, labels: [] } };
  t.is(sampleView(view, one, far).series[0]!.offsets.length, 200, 'one sample per entry');
  const tooMany = t.throws(() => sampleView(view, { ...one, maxSamples: 150 }, far));
  t.true(isTributaryError(tooMany, 'E_QUERY_INVALID'));
  t.regex(tooMany!.message, /more than 150 samples/);
  // Bucketed by 50 s: four buckets, whatever the number of entries in them.
  const buckets = sampleView(view, { ...one, maxSamples: 150, bucketNs: 50e9 }, far).series[0]!;
  t.deepEqual([...buckets.values], [50, 50, 50, 50]);
  // Every entry its own series (id is unique): the series bound refuses it.
  const series = t.throws(() => sampleView(view, { query, stages: stages('{service="api"} | logfmt'), value: { kind: 'count' }, maxSeries: 100 }, far));
  t.regex(series!.message, /maximum of series \(100\)/);
});

test('a piped log query pages by cursor through blocks and memtable, every entry once, in order', async (t) => {
  const view = await store(t);
  const seen: bigint[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = pipeView(
      view,
      { query: { ...query, limit: 7, direction: 'backward', cursor }, stages: stages('{service="api"} | logfmt | status != 201') },
      { deadline: performance.now() + 60_000, maxBytes: 1 << 20 },
    );
    seen.push(...r.entries.map((e) => e.ts));
    for (const e of r.entries) t.not(e.stream.status, '201');
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  const want = Array.from({ length: 200 }, (_, i) => i)
    .filter((i) => i % 3 !== 1)
    .map((i) => T0 + BigInt(i) * S)
    .reverse();
  t.deepEqual(seen, want);
});
