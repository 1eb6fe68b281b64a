import type { FastifyInstance } from 'fastify';
import type { IdentifiedEntry } from '../model/entry.js';
import type { QueryService } from '../query/engine.js';
import { STREAM_LABELS, labelAlias, type GroupLabel } from '../query/logql.js';
import { compileLogQL } from '../query/logql/compile.js';
import { evaluateMetric } from '../query/logql/evaluate.js';
import { parseLogQLTree } from '../query/logql/parse.js';
import { parseLogfmt } from '../query/logql/parsers.js';
import { decodeBytes, decodeSeconds } from '../query/logql/tokens.js';
import type { LogQuery } from '../query/model.js';
import { MAX_SERIES, PATTERN } from '../query/select.js';
import { VERSION } from '../version.js';
import { int, type Query } from './common.js';
import { bad, labelSetsIn, lokiRange, lokiStep, type Labels } from './loki-params.js';

/**
 * The discovery side of Loki's API, which Grafana's Logs Drilldown and the
 * query editor call: index/stats, index/volume and volume_range,
 * detected_labels, detected_fields (and one field's values), patterns and
 * drilldown-limits. Where Loki answers from its index, Tributary counts
 * from its counts and roll-ups; bytes are estimated from a sample of the
 * lines (Loki's are approximations too), and fields and labels beyond the
 * column labels are detected over a sample of the newest lines.
 */
export interface DiscoveryDeps {
  readonly engine: QueryService;
}

const TIMEOUT_MS = 10_000;
/** Lines read to estimate bytes and to detect fields and labels. */
const SAMPLE_LINES = 1000;

function selectorOf(q: Query, field = 'query'): Omit<LogQuery, 'from' | 'to'> {
  const text = q[field];
  if (!text) throw bad(`missing query parameter "${field}"`, field);
  const compiled = compileLogQL(text);
  if (compiled.type === 'log') return compiled.query;
  throw bad(`${field} takes a stream selector (with line filters), not ${JSON.stringify(text)}`, field);
}

/** The newest lines of a log query (pipeline stages allowed), at most `limit`. */
async function newest(engine: QueryService, text: string, from: bigint, to: bigint, limit: number): Promise<IdentifiedEntry[]> {
  const compiled = compileLogQL(text);
  if (to <= from) return [];
  const query = { from, to, limit, direction: 'backward' as const };
  if (compiled.type === 'log') return (await engine.query({ ...compiled.query, ...query }, { timeoutMs: TIMEOUT_MS })).entries;
  if (compiled.type === 'pipeline')
    return (await engine.pipe({ query: { ...compiled.query, ...query }, stages: compiled.stages }, { timeoutMs: TIMEOUT_MS })).entries;
  throw bad(`query takes a log query, not ${JSON.stringify(text)}`, 'query');
}

/** Mean UTF-8 bytes of a line of the selection, from its newest lines (0 when it has none). */
async function meanBytes(engine: QueryService, select: Omit<LogQuery, 'from' | 'to'>, from: bigint, to: bigint): Promise<number> {
  if (to <= from) return 0;
  const r = await engine.query({ ...select, from, to, limit: SAMPLE_LINES, direction: 'backward' }, { timeoutMs: TIMEOUT_MS });
  if (r.entries.length === 0) return 0;
  return r.entries.reduce((a, e) => a + Buffer.byteLength(e.message, 'utf8'), 0) / r.entries.length;
}

/** The labels a volume groups by: targetLabels, or the names the selector matches on, as written. */
function volumeLabels(q: Query): string[] {
  if (q.targetLabels)
    return q.targetLabels
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  let names: string[] = [];
  try {
    const tree = parseLogQLTree(q.query ?? '');
    if (tree.kind === 'log') names = tree.selector.matchers.map((m) => m.name);
  } catch {
    // Tributary's own spellings ({} and the like) match on no label: one series for everything.
  }
  return [...new Set(names)];
}

/** A field's type as Loki's detected_fields names it: the narrowest that every value fits. */
function typeOf(values: readonly string[]): string {
  const all = (test: (v: string) => boolean) => values.length > 0 && values.every(test);
  if (all((v) => /^-?\d+$/.test(v))) return 'int';
  if (all((v) => v.trim() !== '' && Number.isFinite(Number(v)))) return 'float';
  if (all((v) => v === 'true' || v === 'false')) return 'boolean';
  if (all((v) => decodeSeconds(v.replace(/^-/, '')) !== null)) return 'duration';
  if (all((v) => decodeBytes(v.replace(/\s+/g, '')) !== null)) return 'bytes';
  return 'string';
}

interface Field {
  values: Set<string>;
  parsers: Set<string>;
  jsonPath?: string[];
}

/** The fields of lines: JSON objects' (flattened, with their paths), logfmt pairs', and structured metadata. */
function detectFields(entries: readonly IdentifiedEntry[]): Map<string, Field> {
  const fields = new Map<string, Field>();
  const add = (name: string, value: string, parser: string | null, path?: string[]) => {
    let f = fields.get(name);
    if (!f) fields.set(name, (f = { values: new Set(), parsers: new Set(), ...(path ? { jsonPath: path } : {}) }));
    f.values.add(value);
    if (parser !== null) f.parsers.add(parser);
  };
  for (const e of entries) {
    const line = e.message.trimStart();
    let json = false;
    if (line.startsWith('{')) {
      try {
        const doc = JSON.parse(line) as unknown;
        if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
          json = true;
          const walk = (o: Record<string, unknown>, path: string[]) => {
            for (const [k, v] of Object.entries(o)) {
              if (Array.isArray(v)) continue;
              if (v !== null && typeof v === 'object') walk(v as Record<string, unknown>, [...path, k]);
              else add([...path, k].join('_').replace(/[^a-zA-Z0-9_]/g, '_'), v === null ? '' : String(v), 'json', [...path, k]);
            }
          };
          walk(doc as Record<string, unknown>, []);
        }
      } catch {
        // not JSON: logfmt may still read it
      }
    }
    if (!json) parseLogfmt(e.message, (name, value) => add(name, value, 'logfmt'), false, false);
    for (const [k, v] of Object.entries(e.metadata ?? {})) add(k, v, null);
  }
  return fields;
}

export function registerLokiDiscovery(loki: FastifyInstance, deps: DiscoveryDeps): void {
  const params = (req: { query: unknown; body?: unknown }): Query => ({ ...(req.query as Query), ...((req.body ?? {}) as Query) });

  // index/stats: streams, entries and bytes a selector resolves to (Tributary has no chunks: each stream counts as one).
  const stats = async (q: Query) => {
    const select = selectorOf(q);
    const { from, to } = lokiRange(q);
    // One count by stream over the whole range gives both: the streams that have entries, and the entries.
    const end = to > from ? to : from + 1n;
    const counts = await deps.engine.metric({ kind: 'count_over_time', select, range: end - from, by: STREAM_LABELS }, from, end, { timeoutMs: TIMEOUT_MS });
    const perStream = counts.series.map((s) => s.counts.reduce((x, y) => x + y, 0)).filter((n) => n > 0);
    const entries = perStream.reduce((a, n) => a + n, 0);
    const bytes = Math.round(entries * (await meanBytes(deps.engine, select, from, to)));
    return { streams: perStream.length, chunks: perStream.length, entries, bytes };
  };
  loki.get('/loki/api/v1/index/stats', (req) => stats(params(req)));
  loki.post('/loki/api/v1/index/stats', (req) => stats(params(req)));

  /** Bytes per group of the volume's labels, over each step (one step: the whole range). */
  const volumeSeries = async (q: Query, from: bigint, to: bigint, step: bigint) => {
    selectorOf(q);
    const names = volumeLabels(q);
    const byLabels = q.aggregateBy === 'labels';
    const columns = names.every((n) => labelAlias(n) !== undefined);
    const grouping = byLabels ? '' : `by (${names.join(', ')}) `;
    // Column labels come from counts (roll-ups) times the mean line size; others are summed from the lines' bytes.
    const range = `[${(step + 999_999n) / 1_000_000n}ms]`;
    const compiled = compileLogQL(`sum ${grouping}(${columns ? 'count_over_time' : 'bytes_over_time'}(${q.query} ${range}))`);
    if (compiled.type !== 'expr') throw bad('query takes a stream selector', 'query');
    const { value, partial } = await evaluateMetric(compiled.expr, deps.engine, { start: from + step, end: to, step }, TIMEOUT_MS);
    const scale = columns ? await meanBytes(deps.engine, selectorOf(q), from, to) : 1;
    const series = value.kind === 'vector' ? value.series : [];
    const limit = int(q.limit, 'limit', 100);
    const totals = series.map((s) => ({ s, total: s.values.reduce((a, v, i) => a + (s.present[i] ? v : 0), 0) }));
    totals.sort((a, b) => b.total - a.total);
    return {
      partial,
      series: totals.slice(0, limit).map(({ s }) => ({
        metric: byLabels ? Object.fromEntries(names.map((n) => [n, ''])) : s.labels,
        values: s.values,
        present: s.present,
        scale,
      })),
    };
  };

  const volume = async (q: Query) => {
    const { from, to } = lokiRange(q);
    if (to <= from) return { status: 'success', data: { resultType: 'vector', result: [] } };
    const { series } = await volumeSeries(q, from, to, to - from);
    return {
      status: 'success',
      data: {
        resultType: 'vector',
        result: series.filter((s) => s.present[0]).map((s) => ({ metric: s.metric, value: [Number(to) / 1e9, String(Math.round(s.values[0]! * s.scale))] })),
      },
    };
  };
  loki.get('/loki/api/v1/index/volume', (req) => volume(params(req)));
  loki.post('/loki/api/v1/index/volume', (req) => volume(params(req)));

  const volumeRange = async (q: Query) => {
    const { from, to } = lokiRange(q);
    const step = lokiStep(q, from, to);
    if (to <= from) return { status: 'success', data: { resultType: 'matrix', result: [] } };
    const { series } = await volumeSeries(q, from, to, step);
    return {
      status: 'success',
      data: {
        resultType: 'matrix',
        result: series.map((s) => ({
          metric: s.metric,
          values: [...s.values].flatMap((v, k) => (s.present[k] ? [[Number(from + step + BigInt(k) * step) / 1e9, String(Math.round(v * s.scale))]] : [])),
        })),
      },
    };
  };
  loki.get('/loki/api/v1/index/volume_range', (req) => volumeRange(params(req)));
  loki.post('/loki/api/v1/index/volume_range', (req) => volumeRange(params(req)));

  // detected_labels: the selected streams' labels and how many values each has (column labels counted exactly).
  loki.get('/loki/api/v1/detected_labels', async (req) => {
    const q = req.query as Query;
    const { from, to } = lokiRange(q);
    const selector = q.query && q.query !== '' ? q.query : '{}';
    const sets = await labelSetsIn(deps.engine, selector, 'query', STREAM_LABELS as GroupLabel[], from, to, TIMEOUT_MS);
    const values = new Map<string, Set<string>>();
    const add = (labels: Labels) => {
      for (const [k, v] of Object.entries(labels)) {
        if (!values.has(k)) values.set(k, new Set());
        values.get(k)!.add(v);
      }
    };
    sets.forEach(add);
    for (const e of await newest(deps.engine, selector, from, to, SAMPLE_LINES)) if (e.labels) add(e.labels);
    return {
      detectedLabels: [...values].map(([label, v]) => ({ label, cardinality: v.size })).sort((a, b) => (a.label < b.label ? -1 : 1)),
    };
  });

  const fieldsOf = async (q: Query) => {
    if (!q.query) throw bad('missing query parameter "query"', 'query');
    const { from, to } = lokiRange(q);
    const lines = Math.min(int(q.line_limit, 'line_limit', SAMPLE_LINES), 5000);
    return detectFields(await newest(deps.engine, q.query, from, to, Math.max(1, lines)));
  };
  loki.get('/loki/api/v1/detected_fields', async (req) => {
    const q = req.query as Query;
    const limit = int(q.field_limit ?? q.limit, 'field_limit', 1000);
    const fields = await fieldsOf(q);
    return {
      fields: [...fields].slice(0, limit).map(([label, f]) => ({
        label,
        type: typeOf([...f.values]),
        cardinality: f.values.size,
        parsers: f.parsers.size > 0 ? [...f.parsers].sort() : null,
        ...(f.jsonPath ? { jsonPath: f.jsonPath } : {}),
      })),
      limit,
    };
  });
  loki.get<{ Params: { name: string } }>('/loki/api/v1/detected_field/:name/values', async (req) => {
    const fields = await fieldsOf(req.query as Query);
    return { values: [...(fields.get(req.params.name)?.values ?? [])].sort() };
  });

  // patterns: lines grouped by their pattern (patterns.ts), counted per step on the shards.
  loki.get('/loki/api/v1/patterns', async (req) => {
    const q = req.query as Query;
    const select = selectorOf(q);
    const { from, to } = lokiRange(q);
    const step = lokiStep(q, from, to);
    if (to <= from) return { status: 'success', data: [] };
    const r = await deps.engine.samples(
      {
        query: { ...select, from, to },
        stages: [],
        value: { kind: 'count' },
        grouping: { without: false, labels: [PATTERN] },
        bucketNs: Number(step),
        patterns: true,
      },
      { timeoutMs: TIMEOUT_MS },
    );
    const patterns = r.series
      .map((s) => ({
        pattern: s.labels[PATTERN] ?? '',
        samples: [...s.offsets].map((o, i) => [Number(from + BigInt(o + 1) - step) / 1e9, s.values[i]!] as [number, number]),
        total: s.values.reduce((a, b) => a + b, 0),
      }))
      .sort((a, b) => b.total - a.total)
      .slice(0, int(q.limit, 'limit', 300));
    return { status: 'success', data: patterns.map(({ pattern, samples }) => ({ pattern, samples })) };
  });

  // drilldown-limits: what Logs Drilldown reads at start to learn the server's limits and features.
  loki.get('/loki/api/v1/drilldown-limits', async () => ({
    limits: {
      discover_log_levels: true,
      discover_service_name: ['service', 'app', 'application', 'job'],
      log_level_fields: ['level', 'LEVEL', 'Level', 'severity', 'SEVERITY', 'lvl', 'LVL', 'Lvl'],
      max_entries_limit_per_query: 100_000,
      max_query_series: MAX_SERIES,
      max_line_size_truncate: false,
      metric_aggregation_enabled: false,
      pattern_persistence_enabled: false,
      volume_enabled: true,
      volume_max_series: 1000,
      query_timeout: '10s',
    },
    pattern_ingester_enabled: true,
    version: VERSION,
  }));
}
