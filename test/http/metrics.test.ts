import test from 'ava';
import { post, startDaemon } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

/** The value of one series in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const set = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (want.every((w) => set.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const scrape = async (url: string) => {
  const res = await fetch(`${url}/metrics`);
  return { type: res.headers.get('content-type') ?? '', text: await res.text() };
};

test('GET /metrics counts what the doors took, what the shards hold, the actors and the queries', async (t) => {
  const d = await startDaemon(t);
  const lines = Array.from({ length: 120 }, (_, i) => JSON.stringify({ ts: String(Date.now() * 1e6 + i), level: 'info', service: 'api', msg: `m${i}` }));
  const res = await post(d, '/api/v1/ingest', [...lines, '{not json'].join('\n'), { 'content-type': 'application/x-ndjson' });
  t.like(await res.json(), { status: 'partial', accepted: 120 }); // the bad line is refused, its neighbours stored
  const q = await fetch(`${d.url}/api/v1/query?${new URLSearchParams({ query: '{service="api"}', limit: '10' })}`);
  t.is(q.status, 200);

  const { type, text } = await scrape(d.url);
  t.regex(type, /text\/plain/);
  t.is(sample(text, 'tributary_ingest_entries_total', { door: 'http-ndjson', outcome: 'accepted' }), 120);
  t.is(sample(text, 'tributary_ingest_entries_total', { door: 'http-ndjson', outcome: 'rejected' }), 1);
  t.is(sample(text, 'tributary_ingest_requests_total', { door: 'http-ndjson' }), 1);
  const held = d.shards.map(
    (s) =>
      (sample(text, 'tributary_shard_entries', { shard: s.name, tier: 'memtable' }) ?? 0) +
      (sample(text, 'tributary_shard_entries', { shard: s.name, tier: 'blocks' }) ?? 0),
  );
  t.is(
    held.reduce((a, b) => a + b, 0),
    120,
  );
  // Every acknowledged write waited for a WAL fsync: each shard that took entries counts at least one.
  const syncs = d.shards.map((s) => sample(text, 'tributary_wal_fsync_seconds_count', { shard: s.name }) ?? 0);
  t.true(
    syncs.every((n, i) => n >= (held[i]! > 0 ? 1 : 0)),
    String(syncs),
  );
  t.is(sample(text, 'tributary_wal_fsync_seconds_bucket', { shard: 'shard-0', le: '+Inf' }), syncs[0]);
  t.is(sample(text, 'tributary_actor_up', { actor: 'shard-0', role: 'primary' }), 1);
  t.is(sample(text, 'tributary_actor_restarts_total', { actor: 'shard-0', role: 'primary' }), 0);
  t.is(sample(text, 'tributary_query_duration_seconds_count', { kind: 'log', outcome: 'complete' }), 1);
  t.true((sample(text, 'tributary_process_resident_memory_bytes') ?? 0) > 0, 'the process metrics are there, prefixed');
});

test('/healthz answers while the process runs; /readyz is 503 with the reason while a shard holds writes back for a full disk', async (t) => {
  const faults = new SharedArrayBuffer(4);
  const flag = new Int32Array(faults);
  const d = await startDaemon(t, { shards: 1, shard: { faults } });
  t.deepEqual(await (await fetch(`${d.url}/healthz`)).json(), { status: 'ok' });
  t.is((await fetch(`${d.url}/readyz`)).status, 200);

  Atomics.store(flag, 0, 1); // every write fails with ENOSPC
  const write = post(d, '/api/v1/ingest', JSON.stringify({ service: 'api', msg: 'waits for space' }), { 'content-type': 'application/x-ndjson' });
  await waitUntil('not ready', async () => (await fetch(`${d.url}/readyz`)).status === 503, 10_000);
  const body = (await (await fetch(`${d.url}/readyz`)).json()) as { reasons: string[] };
  t.regex(body.reasons.join(' '), /shard-0 holds writes back: E_DISK_FULL/);
  t.deepEqual(await (await fetch(`${d.url}/healthz`)).json(), { status: 'ok' }, 'alive all the same');

  Atomics.store(flag, 0, 0);
  t.true((await write).ok, 'the held write lands once space returns');
  await waitUntil('ready again', async () => (await fetch(`${d.url}/readyz`)).status === 200, 10_000);
  t.pass();
});
