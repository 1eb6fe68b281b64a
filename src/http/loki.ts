import type { FastifyInstance, FastifyReply } from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { publicError } from '../errors.js';
import type { IdentifiedEntry } from '../model/entry.js';
import { LEVEL_NAMES } from '../model/level.js';
import { isLabelName } from '../model/labels.js';
import type { QueryService } from '../query/engine.js';
import { startTail } from '../query/tail.js';
import { LABEL_NAMES_QUERY } from '../query/labels.js';
import { STREAM_LABELS, labelAlias, type GroupLabel, type MetricQuery } from '../query/logql.js';
import { compileLogQL, type Compiled } from '../query/logql/compile.js';
import { MAX_POINTS, countPoints, evaluateMetric, pointsOf } from '../query/logql/evaluate.js';
import { pipeEntries } from '../query/select.js';
import { keyOf, type Series as MSeries } from '../query/logql/vector-ops.js';
import { formatLogQL } from '../query/logql/format.js';
import { parseLogQLTree } from '../query/logql/parse.js';
import { formatSample, type Constant } from '../query/logql/constant.js';
import { MAX_LIMIT, type LogQuery } from '../query/model.js';
import { nowNs, parseTime } from '../query/time.js';
import { VERSION } from '../version.js';
import { int, statusOf, type Query } from './common.js';
import { registerLokiDiscovery } from './loki-discovery.js';
import { HOUR, SECOND, bad, labelSetsIn, lokiDirection, lokiRange, lokiStep, type Labels } from './loki-params.js';

/**
 * The Loki HTTP query API over the same engine, so Grafana's Loki data
 * source and logcli work unchanged: query_range (streams or matrix), query
 * (vector), labels, label values, series, and tail over WebSocket. Answers
 * in Loki's response format; errors as Loki's JSON ({ code, status,
 * message }), a bad query a 400.
 *
 * Streams are (service, server, region, level): `level` in lower case, as
 * Loki's detected_level, which Grafana colours by.
 */
export interface LokiDeps {
  readonly engine: QueryService;
  labelValues(name: string, from?: bigint, to?: bigint): Promise<string[]>;
  /** Live tail: at most this many sockets (default 32; more are closed with 1013, try again later). */
  readonly maxTails?: number;
  /** How often a tail looks for new entries (default 250 ms). */
  readonly tailPollMs?: number;
  /** Where an internal error's details go (the answer says only that there was one). */
  readonly log?: (level: 'error', message: string) => void;
}

/**
 * An entry's labels as Loki answers them: its stream labels as sent, the
 * column labels, `level` in lower case, and its structured metadata (Loki
 * merges metadata into the labels of the streams it returns unless asked to
 * categorize them).
 */
function streamLabels(e: IdentifiedEntry & { stream?: Labels }): Labels {
  if (e.stream !== undefined) return e.stream;
  return { ...e.labels, ...e.metadata, service: e.service, server: e.server, region: e.region, level: LEVEL_NAMES[e.level]!.toLowerCase() };
}

/** Entries grouped into Loki streams, each stream's values in the order given. */
export function toStreams(entries: readonly (IdentifiedEntry & { stream?: Labels })[]): { stream: Labels; values: [string, string][] }[] {
  const streams = new Map<string, { stream: Labels; values: [string, string][] }>();
  for (const e of entries) {
    let key: string;
    if (e.stream !== undefined) key = keyOf(e.stream);
    else {
      key = `${e.service}\u0000${e.server}\u0000${e.region}\u0000${e.level}`;
      if (e.labels !== undefined || e.metadata !== undefined) key += `\u0001${JSON.stringify(e.labels ?? {})}\u0001${JSON.stringify(e.metadata ?? {})}`;
    }
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { stream: streamLabels(e), values: [] }));
    s.values.push([e.ts.toString(), e.message]);
  }
  return [...streams.values()];
}

/** A matrix or vector answer's series, in Loki's shape; series with no points left out, sorted by their labels. */
function matrixOf(series: readonly MSeries[], start: bigint, step: bigint) {
  return series
    .map((s) => ({
      key: keyOf(s.labels),
      labels: s.labels,
      values: [...s.values].flatMap((v, k) => (s.present[k] ? [[Number(start + BigInt(k) * step) / 1e9, formatSample(v)] as [number, string]] : [])),
    }))
    .filter((s) => s.values.length > 0)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((s) => ({ metric: s.labels, values: s.values }));
}

/** A query in Tributary's own metric syntax (count_over_time by, sum, topk), counted as Loki counts: a point per step over (t - range, t]. */
async function evaluateRange(engine: QueryService, m: MetricQuery, start: bigint, end: bigint, step: bigint, timeoutMs: number) {
  const points = pointsOf({ start, end, step });
  const counts = await countPoints(engine, m, start, end, step, points, timeoutMs);
  const series = counts.series.map((s) => ({ labels: s.labels, values: s.values, present: s.values.map((v) => (v > 0 ? 1 : 0)) as unknown as Uint8Array }));
  if (m.topk !== undefined) {
    // topk per point, as in Loki.
    for (let k = 0; k < points; k++) {
      const ranked = series.filter((s) => s.values[k]! > 0).sort((a, b) => b.values[k]! - a.values[k]!);
      for (const s of ranked.slice(m.topk)) s.present[k] = 0;
    }
  }
  return { series, partial: counts.partial, lines: counts.lines };
}

/** An instant query is one point: a step longer than any range makes it one window of one bucket. */
const INSTANT_STEP = 366n * 86_400n * SECOND;

/** A metric query's series over the grid: Tributary's own count syntax, or any LogQL metric expression. */
async function metricSeries(engine: QueryService, compiled: Compiled, start: bigint, end: bigint, step: bigint, timeoutMs: number) {
  if (compiled.type === 'metric') return evaluateRange(engine, compiled.query, start, end, step, timeoutMs);
  if (compiled.type !== 'expr') throw bad('not a metric query', 'query');
  const { value, partial, lines } = await evaluateMetric(compiled.expr, engine, { start, end, step }, timeoutMs);
  const series: MSeries[] =
    value.kind === 'vector' ? value.series : [{ labels: {}, values: value.values, present: new Uint8Array(value.values.length).fill(1) }];
  return { series, partial, lines };
}

function compile(q: Query) {
  if (!q.query) throw bad('missing query parameter "query"', 'query');
  return compileLogQL(q.query);
}

const seconds = (t: bigint): number => Number(t) / 1e9;

/** A constant expression at one instant, as Loki answers it: a scalar, or a vector of at most one sample. */
function constantAt(c: Constant, t: bigint) {
  if (c.type === 'scalar') return { resultType: 'scalar', result: [seconds(t), formatSample(c.value)] };
  return { resultType: 'vector', result: c.sample ? [{ metric: c.sample.labels, value: [seconds(t), formatSample(c.sample.value)] }] : [] };
}

/** A constant expression over [from, to] at each step: one series (or none), its value at every point. */
function constantOver(c: Constant, from: bigint, to: bigint, step: bigint) {
  const points = (to - from) / step + 1n;
  if (points > BigInt(MAX_POINTS)) throw bad(`exceeded maximum resolution of ${MAX_POINTS} points per timeseries: try a larger step`, 'step');
  const sample = c.type === 'scalar' ? { labels: {}, value: c.value } : c.sample;
  if (sample === null) return { resultType: 'matrix', result: [] };
  const values: [number, string][] = [];
  for (let t = from; t <= to; t += step) values.push([seconds(t), formatSample(sample.value)]);
  return { resultType: 'matrix', result: [{ metric: sample.labels, values }] };
}

function warnings(partial: { reasons: string[] } | undefined): { warnings?: string[] } {
  return partial ? { warnings: partial.reasons.map((r) => `partial result: ${r}`) } : {};
}

export async function registerLokiApi(app: FastifyInstance, deps: LokiDeps): Promise<void> {
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const slots: TailSlots = { open: 0 };
  await app.register(async (loki) => {
    loki.setErrorHandler((err, _req, reply: FastifyReply) => {
      const code = statusOf(err);
      const error = publicError(err);
      if (code >= 500) deps.log?.('error', `loki api: ${(err as Error).stack ?? String(err)}`);
      void reply.status(code).send({ code, status: 'error', message: error.message, error });
    });

    // Loki takes query and query_range by POST too, the parameters as a form (logcli and Grafana's POST mode).
    loki.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1 << 20 }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    const params = (req: { query: unknown; body?: unknown }): Query => ({ ...(req.query as Query), ...((req.body ?? {}) as Query) });

    const queryRange = async (q: Query) => {
      const compiled = compile(q);
      const { from, to } = lokiRange(q);
      const timeoutMs = int(q.timeout_ms, 'timeout_ms', 10_000);
      const started = performance.now();
      if (compiled.type === 'constant')
        return { status: 'success', data: { ...constantOver(compiled.value, from, to, lokiStep(q, from, to)), stats: summary(started, 0) } };
      if (compiled.type === 'metric' || compiled.type === 'expr') {
        const step = lokiStep(q, from, to);
        const { series, partial, lines } = await metricSeries(deps.engine, compiled, from, to, step, timeoutMs);
        return {
          status: 'success',
          ...warnings(partial),
          data: { resultType: 'matrix', result: matrixOf(series, from, step), stats: summary(started, 0, lines) },
        };
      }
      const limit = Math.min(MAX_LIMIT, int(q.limit, 'limit', 100));
      if (to === from) return { status: 'success', data: { resultType: 'streams', result: [], stats: summary(started, 0) } };
      const direction = lokiDirection(q);
      // interval: only entries at least this far apart in the query's direction (Loki applies it before the limit).
      const interval = q.interval !== undefined && q.interval !== '' ? lokiStep({ step: q.interval }, from, to) : 0n;
      const entries: (IdentifiedEntry & { stream?: Labels })[] = [];
      const reasons: string[] = [];
      let lines = 0;
      let cursor: string | undefined;
      for (let page = 0; page < (interval > 0n ? 20 : 1); page++) {
        const query = { ...compiled.query, from, to, direction, limit, cursor };
        const r =
          compiled.type === 'pipeline'
            ? await deps.engine.pipe({ query, stages: compiled.stages }, { timeoutMs })
            : await deps.engine.query(query, { timeoutMs });
        lines += r.stats.entriesExamined;
        reasons.push(...(r.partial?.reasons ?? []));
        for (const e of r.entries) {
          const last = entries.at(-1);
          if (entries.length < limit && (interval === 0n || !last || (direction === 'forward' ? e.ts - last.ts : last.ts - e.ts) >= interval)) entries.push(e);
        }
        cursor = r.nextCursor;
        if (entries.length >= limit || cursor === undefined) break;
      }
      return {
        status: 'success',
        ...warnings(reasons.length > 0 ? { reasons } : undefined),
        data: { resultType: 'streams', result: toStreams(entries), stats: summary(started, entries.length, lines, entries) },
      };
    };
    loki.get('/loki/api/v1/query_range', (req) => queryRange(params(req)));
    loki.post('/loki/api/v1/query_range', (req) => queryRange(params(req)));

    const instant = async (q: Query) => {
      const compiled = compile(q);
      const t = q.time !== undefined ? parseTime(q.time, 'time') : nowNs();
      if (compiled.type === 'constant') return { status: 'success', data: { ...constantAt(compiled.value, t), stats: summary(performance.now(), 0) } };
      if (compiled.type !== 'metric' && compiled.type !== 'expr') {
        throw bad('log queries are not supported as an instant query type, please change your query to a range query type', 'query');
      }
      const started = performance.now();
      const { series, partial, lines } = await metricSeries(deps.engine, compiled, t, t, INSTANT_STEP, int(q.timeout_ms, 'timeout_ms', 10_000));
      // An instant vector keeps the expression's order (sort and sort_desc decide it), series without a point left out.
      const result = series.filter((s) => s.present[0]).map((s) => ({ metric: s.labels, value: [seconds(t), formatSample(s.values[0]!)] as [number, string] }));
      return { status: 'success', ...warnings(partial), data: { resultType: 'vector', result, stats: summary(started, 0, lines) } };
    };
    loki.get('/loki/api/v1/query', (req) => instant(params(req)));
    loki.post('/loki/api/v1/query', (req) => instant(params(req)));

    // Grafana's "Format query": the query in one canonical form (Loki's grammar; Tributary's own spellings such as {} are not in it).
    const formatQuery = async (q: Query) => {
      if (!q.query) throw bad('missing query parameter "query"', 'query');
      return { status: 'success', data: formatLogQL(parseLogQLTree(q.query)) };
    };
    loki.get('/loki/api/v1/format_query', (req) => formatQuery(params(req)));
    loki.post('/loki/api/v1/format_query', (req) => formatQuery(params(req)));

    // Loki's build information, which Grafana reads to learn what it talks to: this is Tributary, at its own version.
    loki.get('/loki/api/v1/status/buildinfo', async () => ({
      version: VERSION,
      revision: '',
      branch: '',
      buildUser: '',
      buildDate: '',
      goVersion: '',
    }));

    loki.get('/loki/api/v1/labels', async (req) => {
      const { from, to } = lokiRange(req.query as Query);
      const others = await deps.labelValues(LABEL_NAMES_QUERY, from, to);
      return { status: 'success', data: [...new Set(['level', 'region', 'server', 'service', ...others])].sort() };
    });

    loki.get<{ Params: { name: string } }>('/loki/api/v1/label/:name/values', async (req) => {
      const label = labelAlias(req.params.name) ?? req.params.name;
      // Loki answers a label that is not a label name, or that nothing has, with no values.
      if (!isLabelName(label)) return { status: 'success', data: [] };
      const q = req.query as Query;
      const { from, to } = lokiRange(q);
      // With query= (Grafana's label browser narrows by the selector typed so far): the values among its streams.
      // Column labels come from counts; another label's from the selected entries, grouped by it on the shards.
      const column = (STREAM_LABELS as readonly string[]).includes(label);
      const timeoutMs = int(q.timeout_ms, 'timeout_ms', 10_000);
      if (q.query !== undefined && q.query !== '' && column) {
        const sets = await labelSetsIn(deps.engine, q.query, 'query', [label as GroupLabel], from, to, timeoutMs);
        return { status: 'success', data: [...new Set(sets.map((l) => l[label]!))].sort() };
      }
      if (q.query !== undefined && q.query !== '' && to > from) {
        const compiled = compileLogQL(q.query);
        if (compiled.type !== 'log') throw bad(`query takes a stream selector, not ${JSON.stringify(q.query)}`, 'query');
        const r = await deps.engine.samples(
          {
            query: { ...compiled.query, from, to },
            stages: [],
            value: { kind: 'count' },
            grouping: { without: false, labels: [label] },
            bucketNs: Number(to - from),
            streamsOnly: true,
          },
          { timeoutMs },
        );
        return { status: 'success', data: [...new Set(r.series.map((s) => s.labels[label]).filter((v): v is string => v !== undefined))].sort() };
      }
      if (label === 'level') return { status: 'success', data: LEVEL_NAMES.map((l) => l.toLowerCase()) };
      return { status: 'success', data: await deps.labelValues(label, from, to) };
    });

    // The streams (label sets) a selector matches in the range. Without stream labels beyond the columns (the
    // usual case) the counts answer; with them, the selected entries are grouped by their stream labels on the shards.
    const series = async (q: Record<string, string | string[] | undefined>) => {
      const raw = q['match[]'] ?? q.match;
      const selectors = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      if (selectors.length === 0) throw bad('missing match[]: at least one stream selector', 'match[]');
      const { from, to } = lokiRange(q as Query);
      const timeoutMs = int(q.timeout_ms as string | undefined, 'timeout_ms', 10_000);
      const others = to > from ? await deps.labelValues(LABEL_NAMES_QUERY, from, to) : [];
      const seen = new Map<string, Labels>();
      for (const selector of selectors) {
        if (others.length === 0) {
          for (const labels of await labelSetsIn(deps.engine, selector, 'match[]', STREAM_LABELS, from, to, timeoutMs)) seen.set(keyOf(labels), labels);
          continue;
        }
        const compiled = compileLogQL(selector);
        if (compiled.type !== 'log') throw bad(`match[] takes stream selectors, not ${JSON.stringify(selector)}`, 'match[]');
        const r = await deps.engine.samples(
          { query: { ...compiled.query, from, to }, stages: [], value: { kind: 'count' }, bucketNs: Number(to - from), streamsOnly: true },
          { timeoutMs },
        );
        for (const s of r.series) seen.set(keyOf(s.labels), s.labels);
      }
      return { status: 'success', data: [...seen.values()] };
    };
    loki.get('/loki/api/v1/series', (req) => series(req.query as Record<string, string | string[] | undefined>));
    loki.post('/loki/api/v1/series', (req) => series({ ...(req.query as Record<string, string>), ...((req.body ?? {}) as Record<string, string>) }));

    registerLokiDiscovery(loki, deps);

    loki.get('/loki/api/v1/tail', { websocket: true }, (socket, req) => {
      tail(deps, slots, socket, req.query as Query);
    });
  });
}

/**
 * Loki's `stats.summary`: time, entries returned, lines read (entries the
 * storage examined one by one; counts from roll-ups read none), and bytes
 * processed, estimated from the returned lines' mean size when there are any.
 */
function summary(startedMs: number, returned: number, lines = 0, sample: readonly IdentifiedEntry[] = []) {
  const execTime = (performance.now() - startedMs) / 1000;
  const mean = sample.length > 0 ? sample.reduce((a, e) => a + Buffer.byteLength(e.message, 'utf8'), 0) / sample.length : 0;
  const bytes = Math.round(lines * mean);
  const perSecond = (n: number) => (execTime > 0 ? Math.round(n / execTime) : 0);
  return {
    summary: {
      bytesProcessedPerSecond: perSecond(bytes),
      linesProcessedPerSecond: perSecond(lines),
      totalBytesProcessed: bytes,
      totalLinesProcessed: lines,
      execTime,
      queueTime: 0,
      subqueries: 0,
      totalEntriesReturned: returned,
      splits: 0,
      shards: 0,
      totalPostFilterLines: returned,
      totalStructuredMetadataBytesProcessed: 0,
    },
  };
}

/** Live tails open on one server (a count per server, not per process: several daemons may share one). */
interface TailSlots {
  open: number;
}

/**
 * A live tail: first the newest `limit` entries since `start` (default an
 * hour ago), then every new entry as it is stored, oldest first, each poll's
 * entries in one message { streams, dropped_entries }. `delay_for` (seconds,
 * at most 5) holds entries back that long, so slightly late arrivals are
 * still sent in order; an entry arriving later than that with an older
 * timestamp than one already sent is not tailed (it is stored and
 * queryable). A slow reader makes the tail lag, never buffer without bound.
 */
function tail(deps: LokiDeps, slots: TailSlots, socket: WebSocket, q: Query): void {
  const fail = (err: unknown) => {
    socket.send(JSON.stringify({ code: 400, status: 'error', message: (err as Error).message }));
    socket.close(1008, 'bad query');
  };
  if (slots.open >= (deps.maxTails ?? 32)) {
    socket.close(1013, 'too many live tails: try again later');
    return;
  }
  let select: Omit<LogQuery, 'from' | 'to'>;
  let pipeline: ((entries: IdentifiedEntry[]) => IdentifiedEntry[]) | undefined;
  let from: bigint;
  let delay: bigint;
  let limit: number;
  try {
    const compiled = compile(q);
    if (compiled.type !== 'log' && compiled.type !== 'pipeline') throw bad('tail takes a log query, not a metric query', 'query');
    select = compiled.query;
    // A pipeline's stages run here, on each tailed entry (a tail's entries are few, and already read).
    if (compiled.type === 'pipeline') pipeline = pipeEntries(compiled.stages);
    from = q.start !== undefined ? parseTime(q.start, 'start') : nowNs() - HOUR;
    const delayFor = int(q.delay_for, 'delay_for', 0);
    if (delayFor < 0 || delayFor > 5) throw bad('delay_for must be 0-5 seconds', 'delay_for');
    delay = BigInt(delayFor) * SECOND;
    limit = Math.min(MAX_LIMIT, Math.max(1, int(q.limit, 'limit', 100)));
  } catch (err) {
    fail(err);
    return;
  }
  slots.open++;
  const stop = startTail(
    deps.engine,
    select,
    { from, delay, limit, pollMs: deps.tailPollMs },
    {
      send: (entries) => socket.send(JSON.stringify({ streams: toStreams(pipeline ? pipeline(entries) : entries), dropped_entries: null })),
      error: (err) => socket.send(JSON.stringify({ code: 500, status: 'error', message: err.message })),
      backlog: () => socket.bufferedAmount,
    },
  );
  socket.on('close', () => {
    slots.open--;
    stop();
  });
  socket.on('error', () => socket.terminate());
}
