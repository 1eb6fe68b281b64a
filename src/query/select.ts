import { TributaryError } from '../errors.js';
import type { StoreView } from '../index/store.js';
import type { IdentifiedEntry } from '../model/entry.js';
import { LEVEL_NAMES } from '../model/level.js';
import type { Grouping, Stage, Unwrap } from './logql/ast.js';
import { compileLabelFilter, compilePipeline, convertValue, labelOf, labelsNeeded, ERROR, ERROR_DETAILS, type PipelineEntry } from './logql/pipeline.js';
import { encodeCursor, planQuery, type LogQuery, type Position, type QueryStats } from './model.js';
import { patternOf } from './patterns.js';
import { emptyStats, forEachEntry, queryView } from './scan.js';

/**
 * A LogQL pipeline evaluated where the entries are (on each shard): the
 * storage filters what the selector and the leading line filters allow
 * (`query`), and `stages` run on every entry that passes, so only what the
 * whole pipeline keeps crosses threads: log lines with their labels, or
 * one sample per entry for a metric query.
 */
export interface Selection {
  /** What the storage filters, with the time range ([from, to)); for lines also direction and limit. */
  readonly query: LogQuery;
  readonly stages: readonly Stage[];
}

/** A line as the pipeline left it, with every label it has. */
export interface PipedEntry extends IdentifiedEntry {
  readonly stream: Readonly<Record<string, string>>;
}

export interface PipedResult {
  readonly entries: PipedEntry[];
  /** Present when the limit was reached: pass it as the query's `cursor` for the next page. */
  readonly nextCursor?: string;
  readonly partial?: { readonly reasons: string[] };
  readonly stats: QueryStats;
}

/** What each entry that passes contributes to a range aggregation. */
export type SampleValue = { readonly kind: 'count' } | { readonly kind: 'bytes' } | { readonly kind: 'unwrap'; readonly unwrap: Unwrap };

export interface SampleRequest extends Selection {
  readonly value: SampleValue;
  /** A range aggregation's own by/without (applied to each sample's labels). */
  readonly grouping?: Grouping;
  /**
   * Sum the samples per bucket of this many ns (from `query.from`) instead
   * of sending each: for aggregations that only add values up (counts,
   * bytes, sums, rates) over windows made of whole buckets. Each bucket
   * arrives as one sample at its last ns.
   */
  readonly bucketNs?: number;
  /** Label each entry with its line's pattern (patterns.ts) as __pattern__, before grouping. */
  readonly patterns?: boolean;
  /** Series of the stream labels only (structured metadata left out), as Loki's series API lists streams. */
  readonly streamsOnly?: boolean;
  /** Lower bounds than MAX_SAMPLES and MAX_SERIES (never higher). */
  readonly maxSamples?: number;
  readonly maxSeries?: number;
}

/** One series of samples, oldest first: offsets are ns after the request's `from`. */
export interface SampleSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly offsets: Float64Array;
  readonly values: Float64Array;
}

export interface SampleResult {
  readonly series: SampleSeries[];
  readonly partial?: { readonly reasons: string[] };
  readonly stats: QueryStats;
}

/** The label a patterns request groups by. */
export const PATTERN = '__pattern__';

/** Entries read from storage per page: big enough to amortise the scan's setup, small enough to stay bounded. */
const PAGE = 4096;
/**
 * Samples one shard holds for one query: 16 bytes each, copied once to sort
 * and once to answer, so 2 M keep a query near 100 MB at worst, inside the
 * daemon's memory plan; past it the query is refused, not answered wrong.
 */
export const MAX_SAMPLES = 2_000_000;
/** Series of one range aggregation: Loki's max_query_series idea, far above its default of 500. */
export const MAX_SERIES = 50_000;

/** The column labels: the stream labels of an entry with no others. */
const COLUMNS: ReadonlySet<string> = new Set(['service', 'server', 'region', 'level']);
/** Stream label names per label set (entries of one stream share one labels object). */
const baseNames = new WeakMap<object, ReadonlySet<string>>();
const LEVELS = LEVEL_NAMES.map((l) => l.toLowerCase());

/** Loki's labels of an entry: the stream's (service, server, region, level in lower case, the rest as sent) and its structured metadata. */
function entryOf(e: IdentifiedEntry, metadata = true): PipelineEntry {
  const labels = new Map<string, string>();
  let base = COLUMNS;
  if (e.labels !== undefined) {
    for (const k in e.labels) labels.set(k, e.labels[k]!);
    base = baseNames.get(e.labels) ?? new Set([...Object.keys(e.labels), ...COLUMNS]);
    baseNames.set(e.labels, base);
  }
  labels.set('service', e.service);
  labels.set('server', e.server);
  labels.set('region', e.region);
  labels.set('level', LEVELS[e.level]!);
  if (metadata && e.metadata !== undefined) for (const k in e.metadata) if (!labels.has(k)) labels.set(k, e.metadata[k]!);
  return { ts: e.ts, line: e.message, labels, base };
}

/** Runs a pipeline over entries already read: the ones it keeps, as it left them. */
export function pipeEntries(stages: readonly Stage[]): (entries: readonly IdentifiedEntry[]) => PipedEntry[] {
  const pipeline = compilePipeline(stages);
  return (entries) => {
    const out: PipedEntry[] = [];
    for (const e of entries) {
      const p = entryOf(e);
      if (pipeline(p)) out.push(piped(e, p));
    }
    return out;
  };
}

function piped(e: IdentifiedEntry, p: PipelineEntry): PipedEntry {
  const stream: Record<string, string> = {};
  for (const [k, v] of p.labels) stream[k] = v;
  return { ...e, message: p.line, stream };
}

/** Reads every entry of the selection in the query's order, page by page, until `more` says stop or the budget is spent. */
function scan(view: StoreView, query: LogQuery, deadline: number, stats: QueryStats, each: (e: IdentifiedEntry) => boolean): string | undefined {
  const planned = planQuery({ ...query, limit: PAGE });
  let after: Position | null = planned.after;
  for (;;) {
    if (performance.now() > deadline) return 'timeout: the query ran out of time';
    const page = queryView(view, { ...planned, after }, { deadline, maxBytes: Infinity });
    for (const k of Object.keys(stats) as (keyof QueryStats)[]) if (k !== 'blocksTotal') stats[k] += page.stats[k];
    stats.blocksTotal = page.stats.blocksTotal;
    for (const e of page.entries) if (!each(e)) return undefined;
    if (page.partial) return page.partial.reasons[0];
    if (page.entries.length < PAGE) return undefined;
    after = page.entries[page.entries.length - 1]!;
  }
}

/** The lines of a selection after its pipeline, in the query's direction, up to its limit. */
export function pipeView(view: StoreView, sel: Selection, budget: { deadline: number; maxBytes: number }): PipedResult {
  const pipeline = compilePipeline(sel.stages);
  const limit = sel.query.limit ?? 1000;
  const entries: PipedEntry[] = [];
  const stats = emptyStats();
  let bytes = 0;
  let stopped: string | undefined;
  const reason = scan(view, sel.query, budget.deadline, stats, (e) => {
    const p = entryOf(e);
    if (!pipeline(p)) return true;
    entries.push(piped(e, p));
    bytes += 200 + 2 * p.line.length;
    if (bytes > budget.maxBytes) {
      stopped = `memory: the result reached the ${budget.maxBytes}-byte bound`;
      return false;
    }
    return entries.length < limit;
  });
  stopped ??= reason;
  const last = entries.at(-1);
  const more = entries.length >= limit || stopped !== undefined;
  return { entries, ...(more && last ? { nextCursor: encodeCursor(last) } : {}), ...(stopped ? { partial: { reasons: [stopped] } } : {}), stats };
}

/** The sample's labels: by (the names as written), without, or (with unwrap and no by) all but the unwrapped label. */
function grouper(grouping: Grouping | undefined, unwrapped: string | undefined): (labels: Map<string, string>) => Map<string, string> {
  if (grouping !== undefined && !grouping.without) {
    const names = grouping.labels;
    return (labels) => {
      // An entry with an error keeps all its labels, as in Loki, so grouping cannot hide the error.
      if (labels.has(ERROR)) return labels;
      const out = new Map<string, string>();
      for (const n of names) {
        const v = labelOf(labels, n);
        if (v !== undefined && v !== '') out.set(n, v);
      }
      return out;
    };
  }
  const drop = new Set([...(grouping?.labels ?? []), ...(unwrapped !== undefined ? [unwrapped] : [])]);
  if (drop.size === 0) return (labels) => labels;
  return (labels) => {
    if (labels.has(ERROR)) return labels;
    const out = new Map(labels);
    for (const n of drop) out.delete(n);
    if (drop.has(ERROR)) out.delete(ERROR_DETAILS);
    return out;
  };
}

export function seriesKey(labels: ReadonlyMap<string, string> | Readonly<Record<string, string>>): string {
  const pairs = labels instanceof Map ? [...labels] : Object.entries(labels);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let key = '';
  for (const [k, v] of pairs) key += `${k}\u0000${v}\u0001`;
  return key;
}

/** A series growing one sample at a time (typed arrays doubled as needed, off the JavaScript heap). */
class Growing {
  offsets = new Float64Array(16);
  values = new Float64Array(16);
  n = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bucketed: boolean,
  ) {}
  /** The samples in time order (entries come block by block, not in time order); bucketed ones with one sum per bucket. */
  sorted(): SampleSeries {
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    const o = this.offsets;
    order.sort((a, b) => o[a]! - o[b]!);
    const offsets = new Float64Array(this.n);
    const values = new Float64Array(this.n);
    let m = 0;
    for (let k = 0; k < this.n; k++) {
      const i = order[k]!;
      if (this.bucketed && m > 0 && offsets[m - 1] === o[i]) values[m - 1]! += this.values[i]!;
      else {
        offsets[m] = o[i]!;
        values[m++] = this.values[i]!;
      }
    }
    return { labels: this.labels, offsets: offsets.slice(0, m), values: values.slice(0, m) };
  }

  /** Adds a sample; false when it joined the bucket before it (no new sample held). */
  push(offset: number, value: number): boolean {
    // Within a block entries come in time order: the same bucket again adds to its sum.
    if (this.n > 0 && this.offsets[this.n - 1] === offset && this.bucketed) {
      this.values[this.n - 1]! += value;
      return false;
    }
    if (this.n === this.offsets.length) {
      const o = new Float64Array(this.n * 2);
      o.set(this.offsets);
      this.offsets = o;
      const v = new Float64Array(this.n * 2);
      v.set(this.values);
      this.values = v;
    }
    this.offsets[this.n] = offset;
    this.values[this.n++] = value;
    return true;
  }
}

/** One sample per entry that passes the pipeline, per series, oldest first. */
export function sampleView(view: StoreView, req: SampleRequest, deadline: number): SampleResult {
  const unwrap = req.value.kind === 'unwrap' ? req.value.unwrap : undefined;
  const byNames = req.grouping !== undefined && !req.grouping.without ? req.grouping.labels : undefined;
  // Grouped by some labels, the series show only those: parsers need not make the others.
  const needed = byNames !== undefined ? labelsNeeded(req.stages, [...byNames, ...(req.patterns ? [PATTERN] : [])], unwrap) : undefined;
  const pipeline = compilePipeline(req.stages, needed);
  const post = unwrap?.filters.map(compileLabelFilter) ?? [];
  const group = grouper(req.grouping, unwrap?.label);
  const series = new Map<string, Growing>();
  const stats = emptyStats();
  const from = req.query.from;
  const width = req.bucketNs;
  const maxSamples = Math.min(req.maxSamples ?? MAX_SAMPLES, MAX_SAMPLES);
  const maxSeries = Math.min(req.maxSeries ?? MAX_SERIES, MAX_SERIES);
  let samples = 0;
  const planned = planQuery({ ...req.query, direction: 'forward', limit: 1, cursor: undefined });
  const reason = forEachEntry(view, planned, deadline, stats, (e) => {
    const p = entryOf(e, !req.streamsOnly);
    if (!pipeline(p)) return true;
    let value = 1;
    if (req.value.kind === 'bytes') value = Buffer.byteLength(p.line, 'utf8');
    else if (unwrap !== undefined) {
      const text = labelOf(p.labels, unwrap.label) ?? '';
      const kind = unwrap.conversion === undefined ? 'number' : unwrap.conversion === 'bytes' ? 'bytes' : 'duration';
      const v = convertValue(kind, text.trim());
      if (v === null) {
        if (!p.labels.has(ERROR)) {
          p.labels.set(ERROR, 'SampleExtractionErr');
          p.labels.set(
            ERROR_DETAILS,
            `${kind === 'number' ? 'strconv.ParseFloat' : kind === 'bytes' ? 'ParseBytes' : 'time.ParseDuration'}: parsing ${JSON.stringify(text)}: invalid syntax`,
          );
        }
        value = 0;
      } else value = v;
      for (const f of post) if (!f(p)) return true;
    }
    if (req.patterns) p.labels.set(PATTERN, patternOf(p.line));
    // Grouped by some labels, the key is their values (the labels are made once per series); otherwise every label.
    let key: string;
    if (byNames !== undefined && !p.labels.has(ERROR)) {
      key = '\u0002';
      for (const n of byNames) key += `${labelOf(p.labels, n) ?? ''}\u0001`;
    } else key = seriesKey(group(p.labels));
    let s = series.get(key);
    if (s === undefined) {
      const labels = group(p.labels);
      if (series.size >= maxSeries)
        throw new TributaryError('E_QUERY_INVALID', `maximum of series (${maxSeries}) reached for a single query: aggregate, or narrow the selector`, {
          field: 'query',
        });
      const obj: Record<string, string> = {};
      for (const [k, v] of labels) obj[k] = v;
      series.set(key, (s = new Growing(obj, width !== undefined)));
    }
    let offset = Number(e.ts - from);
    if (width !== undefined) offset = Math.floor(offset / width) * width + width - 1;
    // Held samples are bounded: one per entry, or one per bucket when bucketed (a bucket's later entries add to it).
    if (s.push(offset, value) && ++samples > maxSamples)
      throw new TributaryError(
        'E_QUERY_INVALID',
        `the query holds more than ${maxSamples.toLocaleString('en')} samples on one shard: narrow the range or the selector, or aggregate with a larger step`,
        { field: 'query' },
      );
    return true;
  });
  return {
    series: [...series.values()].map((s) => s.sorted()),
    ...(reason ? { partial: { reasons: [reason] } } : {}),
    stats,
  };
}
