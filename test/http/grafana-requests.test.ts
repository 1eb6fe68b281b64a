import test, { type ExecutionContext } from 'ava';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { startDaemon } from '../helpers/daemon.js';

/**
 * Requests as Grafana's Loki data source (pkg/tsdb/loki: Explore, dashboards,
 * alert rules; the query editor's label browser and stats) and Logs
 * Drilldown send them, and as logcli sends them, with their parameters
 * spelled as those clients spell them (Go durations for step, nanosecond
 * start and end, upper-case direction from logcli), answered in Loki's
 * response shapes.
 */
const S = 1_000_000_000n;
const T0 = 1_763_758_800n * S;
const N = 1200;
const END = T0 + BigInt(N) * S;

async function daemon(t: ExecutionContext) {
  const d = await startDaemon(t);
  const entries: LogEntry[] = Array.from({ length: N }, (_, i) => ({
    ts: T0 + BigInt(i) * S,
    level: (i % 4) as Level,
    service: ['api', 'db'][i % 2]!,
    server: `web-${i % 3}`,
    region: 'eu-1',
    message:
      i % 3 === 0
        ? `{"status":${i % 7 === 0 ? 500 : 200},"took":"${i % 90}ms","user":{"id":"u${i % 4}"}}`
        : `method=GET status=${200 + (i % 5)} duration=${i % 40}ms path=/item/${i}`,
    ...(i % 2 === 0 ? { labels: { cluster: `c${i % 4}` } } : {}),
  }));
  await d.writer.write(entries);
  const get = async (path: string, params: Record<string, string>) => {
    const res = await fetch(`${d.url}${path}?${new URLSearchParams(params)}`);
    return { status: res.status, body: (await res.json()) as any };
  };
  return { d, entries, get };
}

const range = { start: T0.toString(), end: END.toString() };

test("Explore: a log query with Grafana's parameters, its log volume, and a logfmt query with a label filter", async (t) => {
  const { get, entries } = await daemon(t);
  // pkg/tsdb/loki/api.go: direction, limit, query, start and end in ns, step as Go prints a duration.
  const logs = await get('/loki/api/v1/query_range', {
    direction: 'backward',
    limit: '1000',
    query: '{service_name="api"} | logfmt | status >= 203',
    ...range,
    step: '1m0s',
  });
  t.is(logs.status, 200);
  t.is(logs.body.data.resultType, 'streams');
  const lines = logs.body.data.result.flatMap((s: any) => s.values.map((v: [string, string]) => ({ ...s.stream, line: v[1] })));
  const want = entries.filter((e) => e.service === 'api' && /status=(\d+)/.test(e.message) && Number(/status=(\d+)/.exec(e.message)![1]) >= 203);
  t.is(lines.length, want.length);
  for (const l of lines) {
    t.true(Number(l.status) >= 203);
    t.is(l.method, 'GET', 'the parsed labels are in the stream');
  }
  // The log volume histogram (Grafana's supplementary query), by level and detected_level, per step.
  const volume = await get('/loki/api/v1/query_range', {
    query: 'sum by (level, detected_level) (count_over_time({service_name="api"} | drop __error__[1m]))',
    ...range,
    step: '60000ms',
  });
  t.is(volume.status, 200);
  t.is(volume.body.data.resultType, 'matrix');
  for (const s of volume.body.data.result) t.deepEqual(Object.keys(s.metric).sort(), ['detected_level', 'level']);
  const total = volume.body.data.result.reduce((a: number, s: any) => a + s.values.reduce((x: number, v: [number, string]) => x + Number(v[1]), 0), 0);
  t.is(total, entries.filter((e) => e.service === 'api').length, 'every api entry counted once over the disjoint minutes');
});

test('dashboards and alert rules: rate, unwrap with a duration, topk, and a threshold instant query', async (t) => {
  const { get } = await daemon(t);
  const rate = await get('/loki/api/v1/query_range', { query: 'sum by (service_name) (rate({service_name=~"api|db"}[5m]))', ...range, step: '5m0s' });
  t.is(rate.status, 200);
  t.deepEqual(rate.body.data.result.map((s: any) => s.metric.service_name).sort(), ['api', 'db']);
  const p95 = await get('/loki/api/v1/query_range', {
    query: 'quantile_over_time(0.95, {service="db"} | logfmt | unwrap duration(duration) | __error__="" [5m]) by (path)',
    ...range,
    step: '300s',
  });
  t.is(p95.status, 200);
  t.true(p95.body.data.result.length > 0);
  const top = await get('/loki/api/v1/query', { query: 'topk(1, sum by (server) (count_over_time({service="api"}[20m])))', time: END.toString() });
  t.is(top.body.data.resultType, 'vector');
  t.is(top.body.data.result.length, 1);
  // An alert rule's condition through the data source: an instant query, time in ns.
  const alert = await get('/loki/api/v1/query', { query: 'sum(count_over_time({service="api"} | json | status >= 500 [1h])) > 0', time: END.toString() });
  t.is(alert.status, 400, 'json over logfmt lines is a pipeline error, as in Loki');
  t.regex(alert.body.message, /JSONParserErr/);
  const fixed = await get('/loki/api/v1/query', {
    query: 'sum(count_over_time({service="api"} | json | __error__="" | status >= 500 [1h])) > 0',
    time: END.toString(),
  });
  t.is(fixed.status, 200);
  t.is(fixed.body.data.result.length, 1);
});

test('the query editor: labels, values narrowed by the selector (any label), series, index/stats and format_query', async (t) => {
  const { get, d } = await daemon(t);
  const labels = await get('/loki/api/v1/labels', range);
  t.true(labels.body.data.includes('cluster'));
  const clusters = await get('/loki/api/v1/label/cluster/values', { ...range, query: '{service="api"}' });
  t.deepEqual(clusters.body.data, ['c0', 'c2'], 'api entries are the even ones: clusters c0 and c2 only');
  const none = await get('/loki/api/v1/label/cluster/values', { ...range, query: '{service="db"}' });
  t.deepEqual(none.body.data, []);
  const series = await get('/loki/api/v1/series', { 'match[]': '{service="db"}', ...range });
  t.is(series.body.data.length, 6, 'db entries are the odd ones: three servers by two levels');
  // Streams with labels beyond the columns are listed with them (POST form, as Grafana sends a long match[]).
  const res = await fetch(`${d.url}/loki/api/v1/series`, { method: 'POST', body: new URLSearchParams({ 'match[]': '{service="api"}', ...range }) });
  const withLabels = ((await res.json()) as any).data;
  t.is(withLabels.length, 6);
  t.true(withLabels.every((s: any) => (s.cluster === 'c0' && s.level === 'debug') || (s.cluster === 'c2' && s.level === 'warn')));
  const stats = await get('/loki/api/v1/index/stats', { query: '{service="api"}', ...range });
  t.deepEqual(Object.keys(stats.body).sort(), ['bytes', 'chunks', 'entries', 'streams']);
  t.is(stats.body.entries, N / 2);
  t.true(stats.body.bytes > 0);
  const formatted = await get('/loki/api/v1/format_query', { query: '{service="api"}|logfmt|status>=500' });
  t.is(formatted.body.data, '{service="api"} | logfmt | status >= 500');
});

test('Logs Drilldown: drilldown-limits, volume by service, detected_labels, detected_fields and patterns', async (t) => {
  const { get } = await daemon(t);
  const limits = await get('/loki/api/v1/drilldown-limits', {});
  t.is(limits.status, 200);
  t.true(limits.body.limits.volume_enabled);
  t.is(typeof limits.body.version, 'string');
  const volume = await get('/loki/api/v1/index/volume', {
    query: '{service_name=~".+"}',
    ...range,
    limit: '5000',
    targetLabels: 'service_name',
    aggregateBy: 'series',
  });
  t.is(volume.body.data.resultType, 'vector');
  t.deepEqual(volume.body.data.result.map((r: any) => r.metric.service_name).sort(), ['api', 'db']);
  for (const r of volume.body.data.result) t.true(Number(r.value[1]) > 0);
  const ranged = await get('/loki/api/v1/index/volume_range', { query: '{service_name=~".+"}', ...range, step: '600', targetLabels: 'service_name' });
  t.is(ranged.body.data.resultType, 'matrix');
  t.is(ranged.body.data.result.length, 2);
  const detected = await get('/loki/api/v1/detected_labels', { query: '{service_name="api"}', ...range });
  const byName = Object.fromEntries(detected.body.detectedLabels.map((l: any) => [l.label, l.cardinality]));
  t.is(byName.server, 3);
  t.is(byName.cluster, 2);
  const fields = await get('/loki/api/v1/detected_fields', { query: '{service_name="api"}', ...range, line_limit: '1000' });
  const field = Object.fromEntries(fields.body.fields.map((f: any) => [f.label, f]));
  t.deepEqual([field.status.type, field.status.parsers.sort()], ['int', ['json', 'logfmt']]);
  t.deepEqual([field.duration.type, field.duration.parsers], ['duration', ['logfmt']]);
  t.deepEqual(field.user_id.jsonPath, ['user', 'id']);
  const values = await get('/loki/api/v1/detected_field/method/values', { query: '{service_name="api"}', ...range });
  t.deepEqual(values.body.values, ['GET']);
  const patterns = await get('/loki/api/v1/patterns', { query: '{service_name="api"}', ...range, step: '600s' });
  t.is(patterns.body.status, 'success');
  const all = patterns.body.data.reduce((a: number, p: any) => a + p.samples.reduce((x: number, s: [number, number]) => x + s[1], 0), 0);
  t.is(all, N / 2, 'every line counted under one pattern');
  t.true(patterns.body.data.some((p: any) => p.pattern === 'method=GET status=<_> duration=<_> path=<_>'));
});

test('logcli: query with upper-case direction, a limit, interval and stats; instant-query and series as logcli asks', async (t) => {
  const { get, entries } = await daemon(t);
  // logcli query '{service="db"}' --limit 30 --forward: direction FORWARD, start and end in ns.
  const q = await get('/loki/api/v1/query_range', { query: '{service="db"}', limit: '30', ...range, direction: 'FORWARD' });
  const got = q.body.data.result.flatMap((s: any) => s.values.map((v: [string, string]) => BigInt(v[0]))).sort((a: bigint, b: bigint) => (a < b ? -1 : 1));
  t.deepEqual(
    got,
    entries
      .filter((e) => e.service === 'db')
      .slice(0, 30)
      .map((e) => e.ts),
  );
  t.is(q.body.data.stats.summary.totalEntriesReturned, 30, "Loki's stats summary");
  t.true(q.body.data.stats.summary.totalLinesProcessed >= 30);
  // interval: entries at least 10 s apart, the limit counting those kept.
  const spaced = await get('/loki/api/v1/query_range', { query: '{service="db"}', limit: '5', ...range, direction: 'forward', interval: '10s' });
  const kept = spaced.body.data.result
    .flatMap((s: any) => s.values.map((v: [string, string]) => BigInt(v[0])))
    .sort((a: bigint, b: bigint) => (a < b ? -1 : 1));
  t.deepEqual(
    kept,
    [0n, 10n, 20n, 30n, 40n].map((k) => T0 + S + k * S),
  );
  const instant = await get('/loki/api/v1/query', { query: 'count_over_time({service="db"}[1h])', limit: '30', time: END.toString(), direction: 'BACKWARD' });
  t.is(instant.body.data.resultType, 'vector');
  const series = await get('/loki/api/v1/series', { match: '{service="api"}', ...range });
  t.true(series.body.data.every((s: any) => s.service === 'api'));
});
