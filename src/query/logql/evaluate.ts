import { TributaryError } from '../../errors.js';
import type { QueryService } from '../engine.js';
import { labelAlias, type GroupLabel, type MetricQuery } from '../logql.js';
import type { Series as CountSeries } from '../aggregate.js';
import type { Grouping, LogExpr, MetricExpr, RangeOp } from './ast.js';
import { splitLog } from './plan.js';
import { absentOver, aggregateRange, type Grid } from './range-functions.js';
import { aggregate, binary, labelReplace, type Series, type Value } from './vector-ops.js';
import { ERROR } from './pipeline.js';

/**
 * Evaluates a LogQL metric expression as Loki does, at every step from
 * start to end: range aggregations over (t - range - offset, t - offset],
 * then vector aggregations and binary operators point by point. Counts
 * that need no pipeline (count_over_time and rate summed by column labels)
 * come from the storage's counts and roll-ups; everything else from one
 * sample per entry that passes the pipeline, gathered on the shards.
 */
export interface EvalGrid {
  readonly start: bigint;
  readonly end: bigint;
  readonly step: bigint;
}

export interface Evaluated {
  readonly value: Value;
  readonly partial?: { readonly reasons: string[] };
  /** Entries read one by one (counts from roll-ups read none). */
  readonly lines: number;
}

/** Prometheus' bound on the points of one series, which Loki keeps. */
export const MAX_POINTS = 11_000;

function bad(message: string, at?: number): TributaryError {
  return new TributaryError('E_QUERY_INVALID', message, { field: 'query', ...(at !== undefined ? { position: at } : {}) });
}

const NEEDS_UNWRAP = new Set<RangeOp>([
  'sum_over_time',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'quantile_over_time',
  'first_over_time',
  'last_over_time',
  'rate_counter',
]);
const NO_UNWRAP = new Set<RangeOp>(['count_over_time', 'bytes_over_time', 'bytes_rate']);
/** Aggregations that only add values up: a sum over them may group first, and shards may add per bucket. */
const ADDITIVE = new Set<RangeOp>(['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time']);
/** Past this many buckets a range query's samples travel one by one. */
const MAX_BUCKETS = 200_000;

export function pointsOf(grid: EvalGrid): number {
  if (grid.step <= 0n) throw bad('step must be positive');
  const points = (grid.end - grid.start) / grid.step + 1n;
  if (points > BigInt(MAX_POINTS)) throw bad(`exceeded maximum resolution of ${MAX_POINTS} points per timeseries: try a larger step`);
  return Number(points);
}

class Evaluator {
  private readonly reasons: string[] = [];
  readonly points: number;
  lines = 0;

  constructor(
    private readonly engine: QueryService,
    private readonly grid: EvalGrid,
    private readonly timeoutMs: number,
  ) {
    this.points = pointsOf(grid);
  }

  get partial() {
    return this.reasons.length > 0 ? { reasons: [...new Set(this.reasons)] } : undefined;
  }

  async eval(e: MetricExpr): Promise<Value> {
    switch (e.kind) {
      case 'literal':
        return { kind: 'scalar', values: new Float64Array(this.points).fill(e.value) };
      case 'vectorLiteral':
        return { kind: 'vector', series: [{ labels: {}, values: new Float64Array(this.points).fill(e.value), present: new Uint8Array(this.points).fill(1) }] };
      case 'range':
        return { kind: 'vector', series: await this.range(e, e.grouping) };
      case 'vector': {
        if ((e.op === 'topk' || e.op === 'bottomk') && (e.param === undefined || !Number.isInteger(e.param)))
          throw bad(`${e.op}: the parameter must be an integer, got ${e.param}`, e.from);
        // sum by (column labels) of a plain count or rate: the storage's counts answer it directly.
        if (e.op === 'sum' && e.inner.kind === 'range' && !e.grouping?.without) {
          const fast = await this.countFast(e.inner, e.grouping?.labels ?? []);
          if (fast !== null) return { kind: 'vector', series: fast };
        }
        // A sum of an additive range aggregation may group before it (the sums are the same), so the
        // shards send one series per group rather than one per label set.
        if (e.op === 'sum' && e.inner.kind === 'range' && ADDITIVE.has(e.inner.op) && e.inner.grouping === undefined) {
          const grouped = await this.range(e.inner, e.grouping ?? { without: false, labels: [] });
          return { kind: 'vector', series: aggregate('sum', undefined, grouped, e.grouping, this.points) };
        }
        const inner = await this.eval(e.inner);
        if (inner.kind !== 'vector') throw bad(`${e.op} takes a vector, not a scalar`, e.from);
        return { kind: 'vector', series: aggregate(e.op, e.param, inner.series, e.grouping, this.points) };
      }
      case 'binary': {
        const [left, right] = await Promise.all([this.eval(e.left), this.eval(e.right)]);
        return binary(e.op, e.bool, e.matching, left, right, this.points);
      }
      case 'labelReplace': {
        const inner = await this.eval(e.inner);
        if (inner.kind !== 'vector') throw bad('label_replace takes a vector', e.from);
        return { kind: 'vector', series: labelReplace(inner.series, e.dst, e.replacement, e.src, e.regex) };
      }
    }
  }

  private check(e: Extract<MetricExpr, { kind: 'range' }>): void {
    if (NEEDS_UNWRAP.has(e.op) && !e.unwrap) throw bad(`invalid aggregation ${e.op} without unwrap`, e.from);
    if (NO_UNWRAP.has(e.op) && e.unwrap) throw bad(`invalid aggregation ${e.op} with unwrap`, e.from);
    if (e.range <= 0n) throw bad('the range must be positive', e.from);
    if (e.op === 'quantile_over_time' && e.param === undefined) throw bad('quantile_over_time needs a quantile', e.from);
  }

  /**
   * count_over_time or rate summed by column labels (or by nothing), with
   * no stage the storage cannot apply: the storage's counts (and roll-ups)
   * answer it. Null when the shape needs the general path.
   */
  private async countFast(e: Extract<MetricExpr, { kind: 'range' }>, by: readonly string[]): Promise<Series[] | null> {
    if ((e.op !== 'count_over_time' && e.op !== 'rate') || e.unwrap || e.grouping) return null;
    const split = splitLog(e.log);
    if (split.stages.length > 0) return null;
    const written: [string, GroupLabel][] = [];
    for (const name of by) {
      const label = labelAlias(name);
      if (label === undefined) return null;
      written.push([name, label]);
    }
    this.check(e);
    const m: MetricQuery = { kind: 'count_over_time', select: split.query, range: e.range, by: [...new Set(written.map(([, l]) => l))], written };
    const offset = e.offset ?? 0n;
    const counts = await countPoints(this.engine, m, this.grid.start - offset, this.grid.end - offset, this.grid.step, this.points, this.timeoutMs);
    if (counts.partial) this.reasons.push(...counts.partial.reasons);
    this.lines += counts.lines;
    const scale = e.op === 'rate' ? 1e9 / Number(e.range) : 1;
    return counts.series.map((s) => {
      const values = new Float64Array(this.points);
      const present = new Uint8Array(this.points);
      for (let k = 0; k < this.points; k++)
        if (s.values[k]! > 0) {
          values[k] = s.values[k]! * scale;
          present[k] = 1;
        }
      return { labels: s.labels, values, present };
    });
  }

  private async range(e: Extract<MetricExpr, { kind: 'range' }>, grouping: Grouping | undefined): Promise<Series[]> {
    this.check(e);
    if (grouping !== undefined && !grouping.without && e.op !== 'absent_over_time') {
      // count_over_time(...) by (column labels) is a sum by them: the fast path answers it too.
      const fast = await this.countFast({ ...e, grouping: undefined }, grouping.labels);
      if (fast !== null) return fast;
    }
    const offset = e.offset ?? 0n;
    const split = splitLog(e.log);
    const from = this.grid.start - offset - e.range + 1n;
    const to = this.grid.end - offset + 1n;
    const value = e.unwrap
      ? { kind: 'unwrap' as const, unwrap: e.unwrap }
      : e.op === 'bytes_over_time' || e.op === 'bytes_rate'
        ? { kind: 'bytes' as const }
        : { kind: 'count' as const };
    // Every window is a union of buckets of gcd(step, range): additive aggregations need only the buckets' sums.
    const width = gcd(this.grid.step, e.range);
    const bucketed = ADDITIVE.has(e.op) && (to - from) / width <= BigInt(MAX_BUCKETS);
    const result = await this.engine.samples(
      {
        query: { ...split.query, from, to },
        stages: split.stages,
        value,
        ...(grouping ? { grouping } : {}),
        ...(bucketed ? { bucketNs: Number(width) } : {}),
      },
      { timeoutMs: this.timeoutMs },
    );
    if (result.partial) this.reasons.push(...result.partial.reasons);
    this.lines += result.stats.entriesExamined;
    const grid: Grid = {
      first: Number(this.grid.start - offset - from),
      step: Number(this.grid.step),
      points: this.points,
      range: Number(e.range),
    };
    if (e.op === 'absent_over_time') {
      const p = absentOver(result.series, grid);
      return p.present.some((x) => x === 1) ? [{ labels: absentLabels(e.log), ...p }] : [];
    }
    const out: Series[] = [];
    for (const s of result.series) {
      if (s.labels[ERROR] !== undefined) {
        const labels = Object.entries(s.labels)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(', ');
        throw bad(
          `pipeline error: '${s.labels[ERROR]}' for series: '{${labels}}'. Use a label filter to intentionally skip this error. (e.g | __error__!="${s.labels[ERROR]}")`,
          e.from,
        );
      }
      // A bucket is one sample holding its entries' sum: counting them is adding them.
      const p = aggregateRange(bucketed && e.op === 'count_over_time' ? 'sum_over_time' : e.op, e.param, s.offsets, s.values, grid);
      if (p.present.some((x) => x === 1)) out.push({ labels: s.labels, ...p });
    }
    return out;
  }
}

/** absent_over_time's series: the selector's equality matchers as labels (a name matched twice is left out), as in Prometheus. */
function absentLabels(log: LogExpr): Record<string, string> {
  const out: Record<string, string> = {};
  const twice = new Set<string>();
  for (const m of log.selector.matchers) {
    if (m.op !== '=') continue;
    if (out[m.name] !== undefined) twice.add(m.name);
    out[m.name] = m.value;
  }
  for (const n of twice) delete out[n];
  return out;
}

export async function evaluateMetric(e: MetricExpr, engine: QueryService, grid: EvalGrid, timeoutMs: number): Promise<Evaluated> {
  const ev = new Evaluator(engine, grid, timeoutMs);
  const value = await ev.eval(e);
  const partial = ev.partial;
  return { value, ...(partial ? { partial } : {}), lines: ev.lines };
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A count series' labels as Loki names them: as the query wrote them, level in lower case. */
export function countLabels(labels: CountSeries['labels'], written?: MetricQuery['written']): Record<string, string> {
  const out: Record<string, string> = {};
  const value = (k: string, v: string) => (k === 'level' ? v.toLowerCase() : v);
  if (written !== undefined) {
    for (const [name, label] of written) if (labels[label] !== undefined) out[name] = value(label, labels[label]!);
    return out;
  }
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) out[k] = value(k, v);
  return out;
}

/**
 * Counts at every step from start to end, each over the `range` before it
 * ((t - range, t]). The engine counts in buckets of gcd(step, range), so
 * every window is a sum of whole buckets and roll-ups answer whole minutes;
 * with a step longer than the range each point is one bucket counting only
 * its window (countView's `window`), so a long span needs as many buckets
 * as points.
 */
export async function countPoints(engine: QueryService, m: MetricQuery, start: bigint, end: bigint, step: bigint, points: number, timeoutMs: number) {
  const disjoint = step > m.range;
  const base = disjoint ? step : gcd(step, m.range);
  const from = start - m.range + 1n;
  const counts = await engine.metric({ ...m, range: base, topk: undefined, ...(disjoint ? { window: m.range } : {}) }, from, end + 1n, { timeoutMs });
  const perStep = Number(step / base);
  const perRange = disjoint ? 1 : Number(m.range / base);
  const series = counts.series.map((s) => {
    const prefix = new Float64Array(s.counts.length + 1);
    for (let i = 0; i < s.counts.length; i++) prefix[i + 1] = prefix[i]! + s.counts[i]!;
    const values = new Float64Array(points);
    for (let k = 0; k < points; k++) {
      const lo = Math.min(k * perStep, s.counts.length);
      const hi = Math.min(k * perStep + perRange, s.counts.length);
      values[k] = prefix[hi]! - prefix[lo]!;
    }
    return { labels: countLabels(s.labels, m.written), values };
  });
  return { series, partial: counts.partial, lines: counts.stats?.entriesScanned ?? 0 };
}
