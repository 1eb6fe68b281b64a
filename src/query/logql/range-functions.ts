import type { RangeOp } from './ast.js';

/**
 * Range aggregations over one series' samples, at every step: Loki's
 * windows (t - range, t], a point only where the window holds a sample
 * (absent_over_time is the exception, evaluated over all series at once).
 */
export interface Grid {
  /** Window ends, as ns offsets from the samples' origin: ends[k] = start + k*step - offset - origin. */
  readonly first: number;
  readonly step: number;
  readonly points: number;
  /** The range, ns. */
  readonly range: number;
}

export interface Points {
  readonly values: Float64Array;
  /** 1 where there is a point. */
  readonly present: Uint8Array;
}

/** Prometheus' quantile: linear interpolation between the closest ranks (φ outside [0, 1] gives ∓Inf). */
export function quantile(phi: number, sorted: Float64Array | number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (phi < 0) return -Infinity;
  if (phi > 1) return Infinity;
  const rank = phi * (n - 1);
  const lo = Math.max(0, Math.floor(rank));
  const hi = Math.min(n - 1, lo + 1);
  const w = rank - Math.floor(rank);
  return sorted[lo]! * (1 - w) + sorted[hi]! * w;
}

/** Population variance, two passes (the mean first), as Loki's stdvar_over_time. */
export function variance(xs: ArrayLike<number>, from = 0, to = xs.length): number {
  const n = to - from;
  let mean = 0;
  for (let i = from; i < to; i++) mean += xs[i]!;
  mean /= n;
  let sq = 0;
  for (let i = from; i < to; i++) sq += (xs[i]! - mean) ** 2;
  return sq / n;
}

/**
 * Prometheus' extrapolated counter rate, which rate_counter uses: the
 * increase between the first and last samples, corrected for counter
 * resets, extrapolated to the window's edges (by at most half a sampling
 * interval past the samples, and not below zero), per second.
 */
function counterRate(
  offsets: Float64Array,
  values: Float64Array,
  i: number,
  j: number,
  windowStart: number,
  windowEnd: number,
  rangeSeconds: number,
): number | null {
  const n = j - i;
  if (n < 2) return null;
  let result = values[j - 1]! - values[i]!;
  for (let k = i + 1; k < j; k++) if (values[k]! < values[k - 1]!) result += values[k - 1]!;
  let toStart = (offsets[i]! - windowStart) / 1e9;
  const toEnd = (windowEnd - offsets[j - 1]!) / 1e9;
  const sampled = (offsets[j - 1]! - offsets[i]!) / 1e9;
  if (sampled === 0) return null;
  const average = sampled / (n - 1);
  if (result > 0 && values[i]! >= 0) {
    const toZero = sampled * (values[i]! / result);
    if (toZero < toStart) toStart = toZero;
  }
  const threshold = average * 1.1;
  let interval = sampled;
  interval += toStart < threshold ? toStart : average / 2;
  interval += toEnd < threshold ? toEnd : average / 2;
  return (result * (interval / sampled)) / rangeSeconds;
}

/** One series' samples (offsets ascending) aggregated over each window of the grid. */
export function aggregateRange(op: RangeOp, param: number | undefined, offsets: Float64Array, values: Float64Array, grid: Grid): Points {
  const out = new Float64Array(grid.points);
  const present = new Uint8Array(grid.points);
  const seconds = grid.range / 1e9;
  let i = 0;
  let j = 0;
  const n = offsets.length;
  for (let k = 0; k < grid.points; k++) {
    const end = grid.first + k * grid.step;
    const start = end - grid.range;
    while (i < n && offsets[i]! <= start) i++;
    if (j < i) j = i;
    while (j < n && offsets[j]! <= end) j++;
    const m = j - i;
    if (m === 0) continue;
    let v: number | null;
    switch (op) {
      case 'count_over_time':
        v = m;
        break;
      case 'rate':
      case 'bytes_rate':
      case 'bytes_over_time':
      case 'sum_over_time':
      case 'avg_over_time': {
        let s = 0;
        for (let x = i; x < j; x++) s += values[x]!;
        v = op === 'avg_over_time' ? s / m : op === 'rate' || op === 'bytes_rate' ? s / seconds : s;
        break;
      }
      case 'min_over_time':
      case 'max_over_time': {
        let best = values[i]!;
        for (let x = i + 1; x < j; x++) {
          const y = values[x]!;
          if (op === 'min_over_time' ? y < best || Number.isNaN(best) : y > best || Number.isNaN(best)) best = y;
        }
        v = best;
        break;
      }
      case 'stdvar_over_time':
        v = variance(values, i, j);
        break;
      case 'stddev_over_time':
        v = Math.sqrt(variance(values, i, j));
        break;
      case 'quantile_over_time':
        v = quantile(param ?? 0, values.slice(i, j).sort());
        break;
      case 'first_over_time':
        v = values[i]!;
        break;
      case 'last_over_time':
        v = values[j - 1]!;
        break;
      case 'rate_counter':
        v = counterRate(offsets, values, i, j, start, end, seconds);
        break;
      case 'absent_over_time':
        v = null;
        break;
    }
    if (v === null) continue;
    out[k] = v;
    present[k] = 1;
  }
  return { values: out, present };
}

/** absent_over_time: 1 at each step whose window holds no sample of any series. */
export function absentOver(series: readonly { readonly offsets: Float64Array }[], grid: Grid): Points {
  const out = new Float64Array(grid.points);
  const present = new Uint8Array(grid.points);
  for (let k = 0; k < grid.points; k++) {
    const end = grid.first + k * grid.step;
    const start = end - grid.range;
    const any = series.some((s) => {
      // The first sample after the window's start: present when it is not after the end.
      let lo = 0;
      let hi = s.offsets.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (s.offsets[mid]! <= start) lo = mid + 1;
        else hi = mid;
      }
      return lo < s.offsets.length && s.offsets[lo]! <= end;
    });
    if (!any) {
      out[k] = 1;
      present[k] = 1;
    }
  }
  return { values: out, present };
}
