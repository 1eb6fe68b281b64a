import test, { type ExecutionContext } from 'ava';
import { WebSocket } from 'ws';
import type { LogEntry } from '../../src/model/entry.js';
import { LEVEL_NAMES, type Level } from '../../src/model/level.js';
import { startDaemon } from '../helpers/daemon.js';

const S = 1_000_000_000n;
const T0 = 1_763_758_800n * S; // a whole minute

async function daemon(t: ExecutionContext) {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  // 3000 entries, one every 1.3 s, so windows and steps cut through minutes.
  const entries: LogEntry[] = Array.from({ length: 3000 }, (_, i) => ({
    ts: T0 + BigInt(i) * 1_300_000_000n,
    level: (i % 4) as Level,
    service: ['api', 'db', 'auth'][i % 3]!,
    server: `web-${i % 7}`,
    region: i % 5 === 0 ? 'eu-1' : 'us-1',
    message: `request ${i} ${i % 10 === 0 ? 'timeout upstream' : 'ok'}`,
  }));
  await d.writer.write(entries);
  const get = async (path: string, params: Record<string, string | string[]>) => {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) search.append(k, x);
    const res = await fetch(`${d.url}${path}?${search}`);
    return { status: res.status, body: (await res.json()) as any };
  };
  return { d, entries, get };
}

const END = T0 + 3000n * 1_300_000_000n + S;

test('query_range with a log query answers streams in Loki format, newest first, limited', async (t) => {
  const { get, entries } = await daemon(t);
  const r = await get('/loki/api/v1/query_range', {
    query: '{service="api", region="eu-1"} |= "timeout" | level >= WARN',
    start: T0.toString(),
    end: END.toString(),
    limit: '1000',
  });
  t.is(r.status, 200);
  t.is(r.body.status, 'success');
  t.is(r.body.data.resultType, 'streams');
  const want = entries.filter((e) => e.service === 'api' && e.region === 'eu-1' && e.message.includes('timeout') && e.level >= 2);
  t.true(want.length > 0);
  const got = r.body.data.result.flatMap((s: any) => s.values.map(([ts, line]: [string, string]) => ({ ts, line, stream: s.stream })));
  t.is(got.length, want.length);
  for (const g of got) {
    const e = want.find((w) => w.ts.toString() === g.ts)!;
    t.is(g.line, e.message);
    t.deepEqual(g.stream, { service: e.service, server: e.server, region: e.region, level: LEVEL_NAMES[e.level]!.toLowerCase() });
  }
  for (const s of r.body.data.result) {
    const ts = s.values.map((v: [string, string]) => BigInt(v[0]));
    t.deepEqual(
      ts,
      [...ts].sort((a: bigint, b: bigint) => (a > b ? -1 : 1)),
      'backward by default',
    );
  }
  // Seconds with a fraction and RFC 3339 are read as Loki reads them; limit applies across streams.
  const limited = await get('/loki/api/v1/query_range', {
    query: '{}',
    start: `${T0 / S}.000000000`,
    end: new Date(Number(END / 1_000_000n)).toISOString(),
    limit: '50',
    direction: 'FORWARD',
  });
  const first = limited.body.data.result.flatMap((s: any) => s.values.map((v: [string, string]) => BigInt(v[0])));
  t.deepEqual(
    first.sort((a: bigint, b: bigint) => (a < b ? -1 : 1)),
    entries.slice(0, 50).map((e) => e.ts),
  );
});

/** Loki's evaluation by brute force: at each step t from start to end, entries in [t - range, t). */
function reference(entries: LogEntry[], keep: (e: LogEntry) => boolean, key: (e: LogEntry) => string, start: bigint, end: bigint, step: bigint, range: bigint) {
  const out = new Map<string, Map<number, number>>();
  for (let t = start; t <= end; t += step) {
    for (const e of entries) {
      if (!keep(e) || e.ts <= t - range || e.ts > t) continue; // Loki's window: (t - range, t]
      const k = key(e);
      if (!out.has(k)) out.set(k, new Map());
      const m = out.get(k)!;
      const at = Number(t) / 1e9;
      m.set(at, (m.get(at) ?? 0) + 1);
    }
  }
  return out;
}

test('query_range with a metric query answers a matrix equal to a brute-force evaluation, for steps equal to and unlike the range', async (t) => {
  const { get, entries } = await daemon(t);
  const start = T0 + 90n * S;
  const end = T0 + 3000n * S;
  for (const [step, range] of [
    [60n, 60n],
    [30n, 120n],
    [45n, 60n],
    // A step longer than the range: disjoint windows, one bucket per point.
    [120n, 60n],
    [300n, 90n],
  ] as const) {
    const r = await get('/loki/api/v1/query_range', {
      query: `sum by (level) (count_over_time({service="db"} |= "timeout" [${range}s]))`,
      start: start.toString(),
      end: end.toString(),
      step: `${step}s`,
    });
    t.is(r.status, 200, JSON.stringify(r.body));
    t.is(r.body.data.resultType, 'matrix');
    const want = reference(
      entries,
      (e) => e.service === 'db' && e.message.includes('timeout'),
      (e) => LEVEL_NAMES[e.level]!.toLowerCase(),
      start,
      end,
      step * S,
      range * S,
    );
    const got = new Map<string, Map<number, number>>();
    for (const s of r.body.data.result) got.set(s.metric.level, new Map(s.values.map(([at, v]: [number, string]) => [at, Number(v)])));
    // Compared as sorted lists: a Map's order is part of its deep equality.
    const flat = (m: Map<string, Map<number, number>>) => [...m].flatMap(([k, points]) => [...points].map(([at, v]) => `${k}@${at}=${v}`)).sort();
    t.true(want.size > 0);
    t.deepEqual(flat(got), flat(want), `step ${step}s range ${range}s`);
  }
});

test('a bare count_over_time is per stream; topk keeps the k largest at each point; instant queries answer a vector', async (t) => {
  const { get, entries } = await daemon(t);
  const start = T0 + 600n * S;
  const perStream = await get('/loki/api/v1/query_range', {
    query: 'count_over_time({region="eu-1"}[10m])',
    start: start.toString(),
    end: start.toString(),
  });
  const streams = new Set(
    entries.filter((e) => e.region === 'eu-1' && e.ts < start && e.ts >= start - 600n * S).map((e) => `${e.service}/${e.server}/${e.level}`),
  );
  t.is(perStream.body.data.result.length, streams.size);
  t.deepEqual(Object.keys(perStream.body.data.result[0].metric).sort(), ['level', 'region', 'server', 'service']);

  const top = await get('/loki/api/v1/query', { query: 'topk(2, sum by (server) (count_over_time({}[10m])))', time: start.toString() });
  t.is(top.body.data.resultType, 'vector');
  const counts = new Map<string, number>();
  for (const e of entries) if (e.ts >= start - 600n * S && e.ts < start) counts.set(e.server, (counts.get(e.server) ?? 0) + 1);
  const best = [...counts.values()].sort((a, b) => b - a).slice(0, 2);
  t.deepEqual(
    top.body.data.result.map((s: any) => Number(s.value[1])).sort((a: number, b: number) => b - a),
    best,
  );
  t.is(top.body.data.result[0].value[0], Number(start) / 1e9);
});

test('labels, label values (with aliases), and series', async (t) => {
  const { get, entries } = await daemon(t);
  const range = { start: T0.toString(), end: END.toString() };
  t.deepEqual((await get('/loki/api/v1/labels', range)).body.data, ['level', 'region', 'server', 'service']);
  t.deepEqual((await get('/loki/api/v1/label/service_name/values', range)).body.data, ['api', 'auth', 'db']);
  t.deepEqual((await get('/loki/api/v1/label/level/values', range)).body.data, ['debug', 'info', 'warn', 'error']);
  t.deepEqual((await get('/loki/api/v1/label/nope/values', range)).body.data, []);
  // query= narrows the values to the streams of the selector (Grafana's label browser).
  const narrowed = (name: string, query: string) => get(`/loki/api/v1/label/${name}/values`, { ...range, query }).then((r) => r.body.data);
  t.deepEqual(await narrowed('region', '{service="db"} |= "timeout"'), ['eu-1'], 'every db timeout is in eu-1; other entries are in us-1 too');
  t.deepEqual(
    await narrowed('level', '{server="web-3"} |= "timeout"'),
    [...new Set(entries.filter((e) => e.server === 'web-3' && e.message.includes('timeout')).map((e) => LEVEL_NAMES[e.level]!.toLowerCase()))].sort(),
  );
  const series = await get('/loki/api/v1/series', { 'match[]': ['{service="api", region="eu-1"}', '{server="web-0", level="error"}'], ...range });
  t.is(series.status, 200);
  const want = new Set(
    entries
      .filter((e) => (e.service === 'api' && e.region === 'eu-1') || (e.server === 'web-0' && e.level === 3))
      .map((e) => JSON.stringify({ service: e.service, server: e.server, region: e.region, level: LEVEL_NAMES[e.level]!.toLowerCase() })),
  );
  const got = new Set(
    series.body.data.map((l: Record<string, string>) => JSON.stringify({ service: l.service, server: l.server, region: l.region, level: l.level })),
  );
  t.deepEqual([...got].sort(), [...want].sort());
});

test('a bad query is a 400 with the position, in Loki error format; a log query is refused as an instant query', async (t) => {
  const { get } = await daemon(t);
  const r = await get('/loki/api/v1/query_range', { query: '{service="api"', start: T0.toString(), end: END.toString() });
  t.is(r.status, 400);
  t.is(r.body.status, 'error');
  t.is(r.body.code, 400);
  t.regex(r.body.message, /1:15/);
  const instant = await get('/loki/api/v1/query', { query: '{service="api"}' });
  t.is(instant.status, 400);
  t.regex(instant.body.message, /instant query/);
  t.is((await get('/loki/api/v1/series', {})).status, 400);
});

test("POST forms on query and query_range answer as GET does; /ready and status/buildinfo answer as Loki's do", async (t) => {
  const { d, get } = await daemon(t);
  const params = { query: 'sum by (level) (count_over_time({service="db"}[1m]))', start: T0.toString(), end: END.toString(), step: '60s' };
  const viaGet = await get('/loki/api/v1/query_range', params);
  const viaPost = await fetch(`${d.url}/loki/api/v1/query_range`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  t.is(viaPost.status, 200);
  t.deepEqual(((await viaPost.json()) as any).data.result, viaGet.body.data.result);
  const instant = await fetch(`${d.url}/loki/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'query=vector(1)%2Bvector(1)&time=4',
  });
  t.deepEqual(((await instant.json()) as any).data.result, [{ metric: {}, value: [4, '2'] }]);
  const formatted = await get('/loki/api/v1/format_query', { query: 'sum   by(host)(rate( {job="mysql"}|="error"  [1m] ))' });
  t.deepEqual(formatted.body, { status: 'success', data: 'sum by (host) (rate({job="mysql"} |= "error" [1m]))' });
  t.is((await get('/loki/api/v1/format_query', { query: 'sum(' })).status, 400);
  const ready = await fetch(`${d.url}/ready`);
  t.deepEqual([ready.status, await ready.text()], [200, 'ready\n']);
  const info = await get('/loki/api/v1/status/buildinfo', {});
  t.is(info.status, 200);
  t.deepEqual(Object.keys(info.body).sort(), ['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version']);
  t.regex(info.body.version, /^\d+\.\d+\.\d+/);
});

test("Explore's log-volume query answers, its series labelled as the query names them", async (t) => {
  const { get, entries } = await daemon(t);
  // Grafana's Explore sends this beside every log query (public/app/plugins/datasource/loki: its logs-volume query).
  const r = await get('/loki/api/v1/query_range', {
    query: 'sum by (level, detected_level) (count_over_time({service="api"} | drop __error__ [1m]))',
    start: T0.toString(),
    end: END.toString(),
    step: '60s',
  });
  t.is(r.status, 200, JSON.stringify(r.body));
  const byLevel = new Map<string, number>();
  for (const s of r.body.data.result) {
    t.is(s.metric.level, s.metric.detected_level);
    t.deepEqual(Object.keys(s.metric).sort(), ['detected_level', 'level']);
    byLevel.set(
      s.metric.level,
      s.values.reduce((a: number, [, v]: [number, string]) => a + Number(v), 0),
    );
  }
  const want = reference(
    entries,
    (e) => e.service === 'api',
    (e) => LEVEL_NAMES[e.level]!.toLowerCase(),
    T0,
    END,
    60n * S,
    60n * S,
  );
  t.deepEqual([...byLevel].sort(), [...want].map(([k, m]) => [k, [...m.values()].reduce((a, b) => a + b, 0)] as [string, number]).sort());
  const named = await get('/loki/api/v1/query', { query: 'sum by (service_name) (count_over_time({service="api"}[1h]))', time: END.toString() });
  t.deepEqual(
    named.body.data.result.map((s: any) => s.metric),
    [{ service_name: 'api' }],
  );
});

test('the point limit counts points: 1,441 points over 30 days with a 1-minute range answer (gcd buckets would be 43,200)', async (t) => {
  const { get, entries } = await daemon(t);
  const end = END;
  const start = end - 30n * 86_400n * S;
  const r = await get('/loki/api/v1/query_range', {
    query: 'sum(count_over_time({service="api"}[1m]))',
    start: start.toString(),
    end: end.toString(),
    step: '30m',
  });
  t.is(r.status, 200, JSON.stringify(r.body).slice(0, 300));
  const want = reference(
    entries,
    (e) => e.service === 'api',
    () => '',
    start,
    end,
    1800n * S,
    60n * S,
  );
  t.deepEqual(
    r.body.data.result.flatMap((s: any) => s.values.map(([at, v]: [number, string]) => `${at}=${v}`)).sort(),
    [...(want.get('') ?? new Map())].map(([at, v]) => `${at}=${v}`).sort(),
  );
  t.is(
    (await get('/loki/api/v1/query_range', { query: 'sum(count_over_time({service="api"}[1m]))', start: start.toString(), end: end.toString(), step: '60s' }))
      .status,
    400,
    '43,201 points are too many',
  );
});

test("windows are Loki's (t - range, t]: an entry exactly at a step's time counts there, not in the next step", async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const M = 60n * S;
  // Entries exactly on minutes 1, 2 and 3, and one just after minute 2.
  const entries: LogEntry[] = [M, 2n * M, 2n * M + 1n, 3n * M].map((d, i) => ({
    ts: T0 + d,
    level: 1 as Level,
    service: 'edge',
    server: 'h',
    region: 'r',
    message: `e ${i}`,
  }));
  await d.writer.write(entries);
  const res = await fetch(
    `${d.url}/loki/api/v1/query_range?${new URLSearchParams({ query: 'count_over_time({service="edge"}[1m])', start: String(T0 + M), end: String(T0 + 5n * M), step: '60s' })}`,
  );
  const body = (await res.json()) as any;
  const want = reference(
    entries,
    () => true,
    () => 'edge',
    T0 + M,
    T0 + 5n * M,
    M,
    M,
  );
  t.deepEqual(
    body.data.result[0].values.map(([at, v]: [number, string]) => [at, Number(v)]),
    [...want.get('edge')!],
  );
  t.deepEqual(
    [...want.get('edge')!],
    [
      [Number(T0 + M) / 1e9, 1],
      [Number(T0 + 2n * M) / 1e9, 1],
      [Number(T0 + 3n * M) / 1e9, 2],
    ],
    'an entry on a step counts at that step, one just after it at the next',
  );
  const instant = await fetch(
    `${d.url}/loki/api/v1/query?${new URLSearchParams({ query: 'count_over_time({service="edge"}[1m])', time: String(T0 + 3n * M) })}`,
  );
  t.is(((await instant.json()) as any).data.result[0].value[1], '2', '(2m, 3m] holds 2m + 1 ns and 3m');
});

test("Grafana's data source check (vector(1)+vector(1), as it sends it) answers 2; constants answer over a range; a bad pipeline is a 400 naming what is wrong", async (t) => {
  const { get } = await daemon(t);
  // pkg/tsdb/loki: an instant query for the health check's range [1 s, 4 s], time = its end in ns. Loki reads
  // an integer of 10 digits or fewer as seconds, so this is 4,000,000,000 s; Grafana checks only the value.
  const check = await get('/loki/api/v1/query', { direction: 'backward', query: 'vector(1)+vector(1)', time: '4000000000' });
  t.is(check.status, 200);
  t.is(check.body.data.resultType, 'vector');
  t.deepEqual(check.body.data.result, [{ metric: {}, value: [4_000_000_000, '2'] }]);
  const scalar = await get('/loki/api/v1/query', { query: '2 * 3 - 1', time: '10' });
  t.deepEqual([scalar.body.data.resultType, scalar.body.data.result], ['scalar', [10, '5']]);
  const filtered = await get('/loki/api/v1/query', { query: 'vector(1) > 2', time: '10' });
  t.deepEqual(filtered.body.data.result, [], 'a comparison without bool filters the sample out');
  const range = await get('/loki/api/v1/query_range', { query: 'sum(vector(3)) / 2', start: '1', end: '4', step: '1s' });
  t.deepEqual(range.body.data.result, [
    {
      metric: {},
      values: [
        [1, '1.5'],
        [2, '1.5'],
        [3, '1.5'],
        [4, '1.5'],
      ],
    },
  ]);
  const rate = await get('/loki/api/v1/query_range', { query: 'sum by (service) (rate({service="api"}[1m]))', start: T0.toString(), end: END.toString() });
  const count = await get('/loki/api/v1/query_range', {
    query: 'sum by (service) (count_over_time({service="api"}[1m]))',
    start: T0.toString(),
    end: END.toString(),
  });
  t.is(rate.status, 200);
  t.deepEqual(
    rate.body.data.result[0].values,
    count.body.data.result[0].values.map(([ts, v]: [number, string]) => [ts, String(Number(v) / 60)]),
    'rate is the count per second of the range',
  );
  const template = await get('/loki/api/v1/query_range', {
    query: '{service="api"} | line_format "{{ .x | nosuch }}"',
    start: T0.toString(),
    end: END.toString(),
  });
  t.is(template.status, 400);
  t.regex(template.body.message, /function "nosuch" is not supported/);
  const regex = await get('/loki/api/v1/query_range', { query: '{service="api"} | regexp "(?P<a>["', start: T0.toString(), end: END.toString() });
  t.is(regex.status, 400);
  t.regex(regex.body.message, /^regexp/);
});

function messages(ws: WebSocket): { next(): Promise<any> } {
  const queue: any[] = [];
  const waiters: ((m: any) => void)[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return { next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))) };
}

test('tail over WebSocket sends the newest entries, then every new one in order, exactly once', async (t) => {
  const { d, entries } = await daemon(t);
  const url = `${d.url.replace('http', 'ws')}/loki/api/v1/tail?${new URLSearchParams({ query: '{service="db"}', start: T0.toString(), limit: '5' })}`;
  const ws = new WebSocket(url);
  t.teardown(() => ws.close());
  const inbox = messages(ws);
  const received: bigint[] = [];
  const take = async (n: number) => {
    while (received.length < n) {
      const m = await inbox.next();
      t.is(m.dropped_entries, null);
      for (const s of m.streams) {
        t.is(s.stream.service, 'db');
        for (const [ts] of s.values) received.push(BigInt(ts));
      }
    }
  };
  await take(5);
  const db = entries.filter((e) => e.service === 'db').map((e) => e.ts);
  t.deepEqual(
    received.sort((a, b) => (a < b ? -1 : 1)),
    db.slice(-5),
  );
  // Entries written while the tail is open arrive, oldest first, none twice.
  const fresh: LogEntry[] = Array.from({ length: 40 }, (_, i) => ({
    ts: END + BigInt(i) * S,
    level: 1 as Level,
    service: i % 2 === 0 ? 'db' : 'api',
    server: 'web-9',
    region: 'us-1',
    message: `live ${i}`,
  }));
  await d.writer.write(fresh);
  await take(25);
  t.deepEqual(
    received.slice(5),
    fresh.filter((e) => e.service === 'db').map((e) => e.ts),
  );
});

test('tail with a bad query answers the error and closes', async (t) => {
  const { d } = await daemon(t);
  const ws = new WebSocket(`${d.url.replace('http', 'ws')}/loki/api/v1/tail?query=${encodeURIComponent('{service=')}`);
  const inbox = messages(ws);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const m = await inbox.next();
  t.is(m.status, 'error');
  t.regex(m.message, /expected/);
  t.is(await closed, 1008);
});
