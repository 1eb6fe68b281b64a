import test from 'ava';
import fc from 'fast-check';
import { Daemon } from '../../src/daemon/daemon.js';
import { MemoryGovernor } from '../../src/daemon/memory-governor.js';
import { isTributaryError } from '../../src/errors.js';
import { ContentDedup } from '../../src/ingest/content-dedup.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import type { Parser } from '../../src/ingest/parse-pool.js';
import type { ParseResult } from '../../src/ingest/sink.js';
import { ShardedWriter } from '../../src/shard/sharded-writer.js';
import { SimulatedClock } from '../../src/supervisor/clock.js';
import { tempDir } from '../helpers/system.js';

const MiB = 2 ** 20;

function governor(readings: number[], clock = new SimulatedClock()) {
  let i = 0;
  const g = new MemoryGovernor({ budgetBytes: 100 * MiB, readRss: () => readings[Math.min(i++, readings.length - 1)]! * MiB, clock, everyMs: 100 });
  return { g, clock };
}

test('pressure starts at 90 % of the budget and ends below 80 %, sampled on the clock, with its episodes and time counted', (t) => {
  const { g, clock } = governor([50, 89, 90, 85, 81, 79, 95]);
  const changes: boolean[] = [];
  g.onChange((high) => changes.push(high));
  g.start(); // reads 50
  t.false(g.high);
  clock.advance(100); // 89
  t.false(g.high);
  clock.advance(100); // 90
  t.true(g.high);
  clock.advance(200); // 85, 81: still high, the gap keeps it from flapping
  t.true(g.high);
  clock.advance(100); // 79
  t.false(g.high);
  t.like(g.stats(), { high: false, pressureEpisodes: 1, pressureMs: 300, residentBytes: 79 * MiB, peakResidentBytes: 90 * MiB, budgetBytes: 100 * MiB });
  clock.advance(100); // 95
  t.deepEqual(changes, [true, false, true]);
  clock.advance(250);
  t.like(g.stats(), { high: true, pressureEpisodes: 2, pressureMs: 300 + 250 });
  g.stop();
  t.is(clock.pending, 0);
});

test('whatever the readings, pressure is on at or above 90 % and off below 80 % (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 130 }), { minLength: 1, maxLength: 60 }), (readings) => {
      const { g } = governor(readings);
      for (const r of readings) {
        g.sample();
        if (r >= 90 && !g.high) return false;
        if (r < 80 && g.high) return false;
      }
      return true;
    }),
  );
  t.pass();
});

test('under memory pressure ingest admits one request at a time: the next is E_OVERLOADED (429) until the first is done, and then admitted', async (t) => {
  const releases: ((r: ParseResult) => void)[] = [];
  const slow: Parser = { parse: () => new Promise<ParseResult>((r) => releases.push(r)), close: async () => {} };
  const writer = ShardedWriter.overActors(undefined as never, { 'shard-0': { id: 1, name: 'shard-0' } });
  let rss = 10;
  const g = new MemoryGovernor({ budgetBytes: 100 * MiB, readRss: () => rss * MiB, clock: new SimulatedClock() });
  const ingestor = new Ingestor(writer, slow, new ContentDedup(), {}, g);
  const empty: ParseResult = { batches: [], accepted: 0, rejected: {}, errors: [] };

  // Within the budget: requests run side by side.
  const a = ingestor.push('test', 'ndjson', Buffer.from('{}'));
  const b = ingestor.push('test', 'ndjson', Buffer.from('{}'));
  t.is(releases.length, 2);
  rss = 95;
  g.sample();
  const refused = await ingestor.push('test', 'ndjson', Buffer.from('{}')).catch((e: unknown) => e);
  t.true(isTributaryError(refused, 'E_OVERLOADED'), String(refused));
  t.regex((refused as Error).message, /memory budget/);
  releases[0]!(empty);
  releases[1]!(empty);
  await Promise.all([a, b]);
  // Nothing in flight: one request is admitted even under pressure, so ingest slows down and never stops.
  const c = ingestor.push('test', 'ndjson', Buffer.from('{}'));
  t.is(releases.length, 3);
  t.true(isTributaryError(await ingestor.push('test', 'ndjson', Buffer.from('{}')).catch((e: unknown) => e), 'E_OVERLOADED'));
  rss = 70;
  g.sample();
  const d = ingestor.push('test', 'ndjson', Buffer.from('{}'));
  t.is(releases.length, 4);
  releases[2]!(empty);
  releases[3]!(empty);
  await Promise.all([c, d]);
  t.like(ingestor.stats().test, { requests: 6, overloaded: 2 });
});

test('the daemon reports resident memory against its budget in /metrics and the status API, and keeps storing under pressure', async (t) => {
  let rss = 100 * MiB;
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: false, anomaly: false, workers: 1, residentMemory: () => rss });
  t.teardown(() => d.stop());
  rss = 500 * MiB; // past 90 % of the default 512 MiB
  d.memory.sample();
  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.regex(metrics, /^tributary_memory_pressure 1$/m);
  t.regex(metrics, new RegExp(`^tributary_memory_bytes\\{kind="resident"\\} ${500 * MiB}$`, 'm'));
  t.regex(metrics, new RegExp(`^tributary_memory_bytes\\{kind="budget"\\} ${512 * MiB}$`, 'm'));
  t.regex(metrics, /^tributary_memory_pressure_episodes_total 1$/m);
  const status = (await (await fetch(`${d.url}/api/v1/status`)).json()) as { data: { memory: { high: boolean; budgetBytes: number } } };
  t.like(status.data.memory, { high: true, budgetBytes: 512 * MiB });

  // One at a time, every push is stored and every query answered.
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let k = 0; k < 3; k++) {
    const body = Array.from({ length: 10 }, (_, i) => JSON.stringify({ ts: String(now + BigInt(k * 10 + i)), service: 'pressed', msg: `m ${k} ${i}` })).join(
      '\n',
    );
    const res = await fetch(`${d.url}/api/v1/ingest`, { method: 'POST', body });
    t.is(res.status, 200, await res.text());
  }
  const q = new URLSearchParams({ query: '{service="pressed"}', start: String(now - 1n), end: String(now + 100n), limit: '100' });
  const answer = (await (await fetch(`${d.url}/loki/api/v1/query_range?${q}`)).json()) as { data: { result: { values: unknown[] }[] } };
  t.is(
    answer.data.result.reduce((n, s) => n + s.values.length, 0),
    30,
  );
});
