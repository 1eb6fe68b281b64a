import type { BinaryOp, CompareOp, LineFilter, MatchOp, RangeOp, VectorMatching, VectorOp } from './ast.js';

// The grammar's node names for operators and functions, and how literals are written.

export const RANGE_OPS: Record<string, RangeOp> = {
  CountOverTime: 'count_over_time',
  Rate: 'rate',
  RateCounter: 'rate_counter',
  BytesOverTime: 'bytes_over_time',
  BytesRate: 'bytes_rate',
  AvgOverTime: 'avg_over_time',
  SumOverTime: 'sum_over_time',
  MinOverTime: 'min_over_time',
  MaxOverTime: 'max_over_time',
  StddevOverTime: 'stddev_over_time',
  StdvarOverTime: 'stdvar_over_time',
  QuantileOverTime: 'quantile_over_time',
  FirstOverTime: 'first_over_time',
  LastOverTime: 'last_over_time',
  AbsentOverTime: 'absent_over_time',
};
export const VECTOR_OPS: Record<string, VectorOp> = {
  Sum: 'sum',
  Avg: 'avg',
  Count: 'count',
  Max: 'max',
  Min: 'min',
  Stddev: 'stddev',
  Stdvar: 'stdvar',
  Bottomk: 'bottomk',
  Topk: 'topk',
  Sort: 'sort',
  Sort_Desc: 'sort_desc',
};
export const BINARY_OPS: Record<string, BinaryOp> = {
  Or: 'or',
  And: 'and',
  Unless: 'unless',
  Add: '+',
  Sub: '-',
  Mul: '*',
  Div: '/',
  Mod: '%',
  Pow: '^',
  Eql: '==',
  Neq: '!=',
  Gtr: '>',
  Gte: '>=',
  Lss: '<',
  Lte: '<=',
};
export interface Operator {
  readonly op: BinaryOp;
  readonly bool: boolean;
  readonly matching?: VectorMatching;
}
export const PRECEDENCE: Record<BinaryOp, number> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '>': 3,
  '>=': 3,
  '<': 3,
  '<=': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  '^': 6,
};
export const MATCH_OPS: Record<string, MatchOp> = { Eq: '=', Neq: '!=', Re: '=~', Nre: '!~' };
export const COMPARE_OPS: Record<string, CompareOp> = { Eql: '==', Eq: '==', Neq: '!=', Gtr: '>', Gte: '>=', Lss: '<', Lte: '<=' };
/** The comparison operators as functions (label filters and binary operators share them). */
export const COMPARE_FNS: Record<CompareOp, (a: number, b: number) => boolean> = {
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
};
export const LINE_OPS: Record<string, LineFilter['op']> = { PipeExact: '|=', Neq: '!=', PipeMatch: '|~', Nre: '!~', PipePattern: '|>', Npa: '!>' };

export const DURATION_UNITS: Record<string, number> = { y: 365 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
export const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  eb: 1e18,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
  eib: 2 ** 60,
};

/** A LogQL string: "double-quoted" with Go's escapes (those JSON has, and \a \b \f \v), 'single-quoted', or `raw`. Null if malformed. */
export function decodeString(t: string): string | null {
  if (t.startsWith('`')) return t.length >= 2 && t.endsWith('`') ? t.slice(1, -1) : null;
  const body = t.startsWith("'") ? `"${t.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"` : t;
  try {
    // Escapes are consumed in pairs, so an escaped backslash before an a stays one.
    return JSON.parse(body.replace(/\\(.)/gs, (m, c: string) => (c === 'a' ? '\\u0007' : c === 'v' ? '\\u000b' : m))) as string;
  } catch {
    return null;
  }
}

/** A number: decimal, with an exponent, or 0x hexadecimal. */
export function decodeNumber(t: string): number | null {
  const v = t.startsWith('0x') ? Number.parseInt(t.slice(2), 16) : Number(t);
  return Number.isFinite(v) ? v : null;
}

/** A duration in seconds: units y, w, d, h, m, s, ms, us, ns, several in a row (1h30m). */
export function decodeSeconds(t: string): number | null {
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|y|w|d|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t) return null;
  return parts.reduce((a, p) => a + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
}

/** A size in bytes: kB is 1000, KiB 1024 (humanize's rule, which Loki uses), any case. */
export function decodeBytes(t: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([a-zA-Z]+)$/.exec(t);
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Number(m[1]) * unit : null;
}

/** A position as line:column (1-based), as errors name it. */
export function lineColumn(source: string, pos: number): string {
  const before = source.slice(0, pos).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}
