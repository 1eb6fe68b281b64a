import test, { type ExecutionContext } from 'ava';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { startDaemon } from '../helpers/daemon.js';

const T0 = 1_763_758_800_000_000_000n;

async function daemon(t: ExecutionContext) {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const entries: LogEntry[] = Array.from({ length: 3000 }, (_, i) => ({
    ts: T0 + BigInt(i) * 1_000_000_000n, // one per second
    level: (i % 4) as Level,
    service: ['api', 'db', 'auth'][i % 3]!,
    server: `web-${i % 7}`,
    region: i % 5 === 0 ? 'eu-1' : 'us-1',
    message: `request ${i} ${i % 10 === 0 ? 'timeout upstream' : 'ok'}`,
  }));
  await d.writer.write(entries);
  const get = async (path: string, params: Record<string, string>) => {
    const res = await fetch(`${d.url}${path}?${new URLSearchParams(params)}`);
    return { status: res.status, body: (await res.json()) as { status: string; data: any; error?: any } };
  };
  return { d, entries, get };
}

test('GET /api/v1/query answers a LogQL query with entries newest first, nanosecond timestamps as strings', async (t) => {
  const { get, entries } = await daemon(t);
  const r = await get('/api/v1/query', {
    query: '{service="api", region="eu-1"} |= "timeout" | level >= WARN',
    from: T0.toString(),
    to: (T0 + 3_000_000_000_000n).toString(),
    limit: '1000',
  });
  t.is(r.status, 200);
  const want = entries.filter((e) => e.service === 'api' && e.region === 'eu-1' && e.message.includes('timeout') && e.level >= 2);
  t.is(r.body.data.entries.length, want.length);
  t.true(want.length > 0);
  t.is(r.body.data.entries[0].ts, want.at(-1)!.ts.toString(), 'newest first by default');
  t.is(r.body.data.entries[0].time, '2025-11-21T21:' + r.body.data.entries[0].time.slice(14));
  t.is(r.body.data.partial, undefined);
});

test('paging through the HTTP API with cursors returns everything once', async (t) => {
  const { get } = await daemon(t);
  const seen = new Set<string>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await get('/api/v1/query', {
      query: '{}',
      from: T0.toString(),
      to: (T0 + 10_000_000_000_000n).toString(),
      limit: '700',
      direction: 'forward',
      ...(cursor ? { cursor } : {}),
    });
    for (const e of r.body.data.entries) seen.add(`${e.source}/${e.seq}`);
    cursor = r.body.data.nextCursor;
    pages++;
  } while (cursor && pages < 20);
  t.is(seen.size, 3000);
});

test('GET /api/v1/query_range counts per bucket; label values are listed', async (t) => {
  const { get } = await daemon(t);
  const r = await get('/api/v1/query_range', {
    query: 'count_over_time({service="db"}[10m]) by (level)',
    from: T0.toString(),
    to: (T0 + 3_000_000_000_000n).toString(),
  });
  t.is(r.status, 200);
  const total = r.body.data.series.reduce((a: number, s: { points: [string, number][] }) => a + s.points.reduce((b, p) => b + p[1], 0), 0);
  t.is(total, 1000);
  t.is(r.body.data.series.length, 4);
  const services = await get('/api/v1/label/service/values', {});
  t.deepEqual(services.body.data, ['api', 'auth', 'db']);
});

test('a bad query is a 400 with the parse position, never a 500', async (t) => {
  const { get } = await daemon(t);
  const bad = await get('/api/v1/query', { query: '{service=="api"}' });
  t.is(bad.status, 400);
  t.is(bad.body.error.code, 'E_QUERY_INVALID');
  t.regex(bad.body.error.message, /1:10: expected a string/);
  t.is((await get('/api/v1/query', { query: '{}', from: 'yesterday' })).status, 400);
  t.is((await get('/api/v1/query', {})).status, 400);
  t.is((await get('/api/v1/label/colour%20x/values', {})).status, 400);
  t.deepEqual((await get('/api/v1/label/colour/values', {})).body.data, []);
});
