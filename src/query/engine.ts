import type { ActorRef } from '../actors/behaviour.js';
import type { ActorSystem } from '../actors/system.js';
import type { ArrivalSignal } from '../mailbox/arrivals.js';
import type { IdentifiedEntry } from '../model/entry.js';
import {
  DEFAULT_BUDGET_MS,
  DEFAULT_MAX_RESULT_BYTES,
  comparePositions,
  planQuery,
  type LogQuery,
  type PlannedQuery,
  type QueryResult,
  type QueryStats,
} from './model.js';
import { emptyStats } from './scan.js';
import { encodeRows } from './answer-rows.js';
import { mergedAnswer, mergeRowAnswers, type RowsAnswer } from './merge-rows.js';
import { mergeCounts, type CountResult } from './aggregate.js';
import type { MetricQuery } from './logql.js';
import { TributaryError, redactPaths } from '../errors.js';
import { seriesKey, type PipedResult, type SampleRequest, type SampleResult, type SampleSeries, type Selection } from './select.js';

/** What answers queries: one daemon's shards (QueryEngine) or a cluster's members (ClusterQueryEngine). */
export interface QueryService {
  /** Where the engine's stores announce new entries, when it can tell (live tails wait on it instead of polling). */
  readonly arrivals?: ArrivalSignal;
  /** Told of every query answered or failed (the metrics' hook). */
  observer: ((kind: 'log' | 'metric', seconds: number, outcome: 'complete' | 'partial' | 'error') => void) | undefined;
  query(query: LogQuery, options?: QueryOptions): Promise<QueryResult>;
  metric(query: MetricQuery, from: bigint, to: bigint, options?: QueryOptions): Promise<CountResult>;
  /** Lines after a LogQL pipeline (run where the entries are), merged in the query's order up to its limit. */
  pipe(selection: Selection, options?: QueryOptions): Promise<PipedResult>;
  /** One sample per entry that passes a pipeline, per series (a metric query's raw material). */
  samples(request: SampleRequest, options?: QueryOptions): Promise<SampleResult>;
}

/** Merges piped answers as log answers are merged: by position, once each, up to the limit. */
export function mergePipedAnswers(selection: Selection, answers: readonly PipedResult[]): PipedResult {
  const q = planQuery(selection.query);
  const merged = mergeLogAnswers(q, answers as readonly QueryResult[]);
  return {
    entries: merged.entries as PipedResult['entries'],
    ...(merged.nextCursor ? { nextCursor: merged.nextCursor } : {}),
    ...(merged.partial ? { partial: merged.partial } : {}),
    stats: merged.stats,
  };
}

/** Merges sample answers: a series two answers both have (a pipeline that dropped the labels telling them apart) is one, its samples in time order. */
export function mergeSampleAnswers(answers: readonly SampleResult[]): SampleResult {
  const bySeries = new Map<string, SampleSeries[]>();
  for (const a of answers)
    for (const s of a.series) {
      const key = seriesKey(s.labels);
      const list = bySeries.get(key);
      if (list) list.push(s);
      else bySeries.set(key, [s]);
    }
  const series: SampleSeries[] = [];
  for (const parts of bySeries.values()) {
    if (parts.length === 1) {
      series.push(parts[0]!);
      continue;
    }
    const n = parts.reduce((a, p) => a + p.offsets.length, 0);
    const order: [number, number][] = [];
    for (let p = 0; p < parts.length; p++) for (let i = 0; i < parts[p]!.offsets.length; i++) order.push([p, i]);
    order.sort((a, b) => parts[a[0]]!.offsets[a[1]]! - parts[b[0]]!.offsets[b[1]]!);
    const offsets = new Float64Array(n);
    const values = new Float64Array(n);
    order.forEach(([p, i], k) => {
      offsets[k] = parts[p]!.offsets[i]!;
      values[k] = parts[p]!.values[i]!;
    });
    series.push({ labels: parts[0]!.labels, offsets, values });
  }
  const reasons = answers.flatMap((a) => a.partial?.reasons ?? []);
  const stats: QueryStats = emptyStats();
  for (const a of answers) for (const k of Object.keys(stats) as (keyof QueryStats)[]) stats[k] += a.stats[k];
  return { series, ...(reasons.length > 0 ? { partial: { reasons } } : {}), stats };
}

/**
 * Merges answers to one query (from shards, or from cluster members) in the
 * query's order up to its limit. An entry that two answers both hold (the
 * same position: timestamp, source and seq) is kept once: after a shard
 * moved between members mid-batch, both may have stored it.
 */
export function mergeLogAnswers(q: PlannedQuery, answers: readonly QueryResult[]): QueryResult {
  const sign = q.backward ? -1 : 1;
  // Each answer is sorted already: a k-way merge (k is the number of shards or members) up to the limit.
  const heads = answers.map(() => 0);
  const unique: IdentifiedEntry[] = [];
  while (unique.length < q.limit) {
    let best = -1;
    for (let a = 0; a < answers.length; a++) {
      const e = answers[a]!.entries[heads[a]!];
      if (e !== undefined && (best < 0 || sign * comparePositions(e, answers[best]!.entries[heads[best]!]!) < 0)) best = a;
    }
    if (best < 0) break;
    const e = answers[best]!.entries[heads[best]!++]!;
    const prev = unique.at(-1);
    if (prev && comparePositions(prev, e) === 0) continue;
    unique.push(e);
  }
  return mergedAnswer(q, unique, answers);
}

/** Runs `answer`, telling `observer` its kind, its time in seconds and whether it was complete, partial or failed. */
export async function observeQuery<T extends { partial?: unknown }>(
  observer: QueryService['observer'],
  kind: 'log' | 'metric',
  answer: () => Promise<T>,
): Promise<T> {
  if (!observer) return answer();
  const started = performance.now();
  try {
    const result = await answer();
    observer(kind, (performance.now() - started) / 1000, result.partial ? 'partial' : 'complete');
    return result;
  } catch (err) {
    observer(kind, (performance.now() - started) / 1000, 'error');
    throw err;
  }
}

export interface QueryOptions {
  /** Whole-query time budget; a shard that has not answered by then is left out, and the answer says so. */
  readonly timeoutMs?: number;
  /** Bound on the message bytes one query may gather, per shard and in total. */
  readonly maxBytes?: number;
}

/**
 * Answers queries over every shard: the query goes to all of them in
 * parallel (each scans its own store, its limit applied locally), and the
 * sorted answers are merged by (ts, source, seq) up to the limit. Adding or
 * removing a shard needs no data moved: every shard is asked.
 */
export class QueryEngine implements QueryService {
  /** Told of every query answered or failed: its kind, its time in seconds, whether it was partial (the metrics' hook). */
  observer: ((kind: 'log' | 'metric', seconds: number, outcome: 'complete' | 'partial' | 'error') => void) | undefined;

  /**
   * Evaluates a metric query (count_over_time by labels, optionally topk)
   * over [from, to) on every shard, and adds the shards' counts together.
   */
  metric(query: MetricQuery, from: bigint, to: bigint, options: QueryOptions = {}): Promise<CountResult> {
    return this.observed('metric', () => this.evaluateMetric(query, from, to, options));
  }

  async query(query: LogQuery, options: QueryOptions = {}): Promise<QueryResult> {
    return this.observed('log', () => this.evaluate(query, options));
  }

  pipe(selection: Selection, options: QueryOptions = {}): Promise<PipedResult> {
    return this.observed('log', async () => {
      planQuery(selection.query);
      const answers = await this.askAll<PipedResult>(
        options,
        (budgetMs, maxBytes) => ({ op: 'pipe', selection, budgetMs, maxBytes }),
        (reason) => ({
          entries: [],
          partial: { reasons: [reason] },
          stats: emptyStats(),
        }),
      );
      return mergePipedAnswers(selection, answers);
    });
  }

  samples(request: SampleRequest, options: QueryOptions = {}): Promise<SampleResult> {
    return this.observed('metric', async () => {
      planQuery(request.query);
      const answers = await this.askAll<SampleResult>(
        options,
        (budgetMs) => ({ op: 'samples', request, budgetMs }),
        (reason) => ({
          series: [],
          partial: { reasons: [reason] },
          stats: emptyStats(),
        }),
      );
      return mergeSampleAnswers(answers);
    });
  }

  /** Asks every shard; one that fails with anything but a bad query answers `missing` (the answer is partial, never silently short). */
  private async askAll<T>(options: QueryOptions, request: (budgetMs: number, maxBytes: number) => unknown, missing: (reason: string) => T): Promise<T[]> {
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs ?? DEFAULT_BUDGET_MS;
    const maxBytes = Math.min(options.maxBytes ?? Infinity, this.defaults.maxBytes ?? DEFAULT_MAX_RESULT_BYTES);
    const started = performance.now();
    return Promise.all(
      this.shards().map(async (ref) => {
        try {
          const budgetMs = Math.max(1, timeoutMs * 0.8 - (performance.now() - started));
          return await this.system.ask<T>(ref, request(budgetMs, maxBytes), { timeoutMs });
        } catch (err) {
          if (err instanceof TributaryError && err.code === 'E_QUERY_INVALID') throw err;
          if ((err as { code?: string }).code === 'E_QUERY_INVALID') throw new TributaryError('E_QUERY_INVALID', (err as Error).message, { field: 'query' });
          return missing(`shard ${ref.name} did not answer: ${redactPaths((err as Error).message)}`);
        }
      }),
    );
  }

  private observed<T extends { partial?: unknown }>(kind: 'log' | 'metric', answer: () => Promise<T>): Promise<T> {
    return observeQuery(this.observer, kind, answer);
  }

  private async evaluateMetric(query: MetricQuery, from: bigint, to: bigint, options: QueryOptions): Promise<CountResult> {
    const select = { ...query.select, from, to };
    const q = planQuery(select);
    const timeoutMs = options.timeoutMs ?? DEFAULT_BUDGET_MS;
    if (query.range <= 0n) throw new TributaryError('E_QUERY_INVALID', 'the range of count_over_time must be positive', { field: 'range' });
    if ((to - from) / query.range > 11_000n) {
      throw new TributaryError('E_QUERY_INVALID', `too many buckets: ${(to - from) / query.range} (at most 11000); use a longer range`, { field: 'range' });
    }
    const answers = await Promise.all(
      this.shards().map(async (ref) => {
        try {
          return await this.system.ask<CountResult>(
            ref,
            { op: 'count', query: select, step: query.range, by: [...query.by], budgetMs: timeoutMs * 0.8, window: query.window },
            { timeoutMs },
          );
        } catch (err) {
          const empty: CountResult = { from: q.from, step: query.range, buckets: Number((to - from + query.range - 1n) / query.range), series: [] };
          return { ...empty, partial: { reasons: [`shard ${ref.name} did not answer: ${redactPaths((err as Error).message)}`] } };
        }
      }),
    );
    if (answers.length === 0) return { from, step: query.range, buckets: Number((to - from + query.range - 1n) / query.range), series: [] };
    return mergeCounts(answers, query.by, query.topk);
  }

  constructor(
    private readonly system: ActorSystem,
    private readonly shards: () => readonly ActorRef[],
    /** Defaults for every query; the daemon sets maxBytes from its memory plan. */
    readonly defaults: QueryOptions = {},
    readonly arrivals?: ArrivalSignal,
  ) {}

  private async evaluate(query: LogQuery, options: QueryOptions): Promise<QueryResult> {
    const q = planQuery(query); // reject a bad query here, before any shard sees it
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs ?? DEFAULT_BUDGET_MS;
    const maxBytes = Math.min(options.maxBytes ?? Infinity, this.defaults.maxBytes ?? DEFAULT_MAX_RESULT_BYTES);
    const started = performance.now();
    const shards = this.shards();
    const answers = await Promise.all(
      shards.map(async (ref) => {
        try {
          // Shards scan with a little less time than the whole query, so their partial answers arrive.
          const budgetMs = Math.max(1, timeoutMs * 0.8 - (performance.now() - started));
          return await this.system.ask<RowsAnswer>(ref, { op: 'query', query, budgetMs, maxBytes }, { timeoutMs });
        } catch (err) {
          return {
            rows: encodeRows([]),
            partial: { reasons: [`shard ${ref.name} did not answer: ${redactPaths((err as Error).message)}`] },
            stats: emptyStats(),
          } satisfies RowsAnswer;
        }
      }),
    );
    return mergeRowAnswers(q, answers);
  }
}
