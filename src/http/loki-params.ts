import { TributaryError } from '../errors.js';
import type { QueryService } from '../query/engine.js';
import { parseLogQL, type GroupLabel, type MetricQuery } from '../query/logql.js';
import { countLabels } from '../query/logql/evaluate.js';
import { nowNs, parseDuration, parseTime } from '../query/time.js';
import type { Query } from './common.js';

// The parameters of Loki's query API as Loki reads them, shared by its routes.

export const SECOND = 1_000_000_000n;
export const HOUR = 3600n * SECOND;

export type Labels = Record<string, string>;

export function bad(message: string, field: string): TributaryError {
  return new TributaryError('E_QUERY_INVALID', message, { field });
}

/** start/end as Loki reads them (nanoseconds, seconds with a fraction, RFC 3339; also now-15m), default the last hour. */
export function lokiRange(q: Query): { from: bigint; to: bigint } {
  const now = nowNs();
  const to = q.end !== undefined ? parseTime(q.end, 'end', now) : now;
  const from = q.start !== undefined ? parseTime(q.start, 'start', now) : q.since !== undefined ? to - parseDuration(q.since, 'since') : to - HOUR;
  if (to < from) throw bad(`end (${to}) must not be before start (${from})`, 'end');
  return { from, to };
}

/** Loki's step: a duration ("15s") or seconds ("15", "0.5"); default the range over 250 points, at least 1 s. */
export function lokiStep(q: Query, from: bigint, to: bigint): bigint {
  if (q.step === undefined || q.step === '') {
    const s = (to - from) / 250n / SECOND;
    return (s > 1n ? s : 1n) * SECOND;
  }
  const secs = /^(\d+)(?:\.(\d{1,9}))?$/.exec(q.step);
  const step = secs ? BigInt(secs[1]!) * SECOND + BigInt((secs[2] ?? '').padEnd(9, '0')) : parseDuration(q.step, 'step');
  if (step <= 0n) throw bad('step must be positive', 'step');
  return step;
}

export function lokiDirection(q: Query): 'forward' | 'backward' {
  const d = (q.direction ?? 'backward').toLowerCase();
  if (d !== 'forward' && d !== 'backward') throw bad(`direction must be forward or backward, got ${q.direction}`, 'direction');
  return d;
}

/** The label sets (of the labels `by`) that entries of a stream selector have in [from, to): one count over the whole range. */
export async function labelSetsIn(
  engine: QueryService,
  selector: string,
  field: string,
  by: readonly GroupLabel[],
  from: bigint,
  to: bigint,
  timeoutMs: number,
): Promise<Labels[]> {
  const compiled = parseLogQL(selector);
  if (compiled.type !== 'log') throw bad(`${field} takes stream selectors, not ${JSON.stringify(selector)}`, field);
  const end = to > from ? to : from + 1n;
  const m: MetricQuery = { kind: 'count_over_time', select: compiled.query, range: end - from, by };
  const counts = await engine.metric(m, from, end, { timeoutMs });
  return counts.series.filter((x) => x.counts.some((c) => c > 0)).map((x) => countLabels(x.labels));
}
