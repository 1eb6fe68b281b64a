import { TributaryError } from '../../errors.js';
import type { BinaryOp, Expr, MetricExpr } from './ast.js';

/**
 * A LogQL expression that reads no logs: numbers, vector(), and what
 * operators, aggregations and label_replace make of them, with PromQL's
 * semantics (which LogQL follows for these). Grafana's Loki data source
 * checks a data source with `vector(1)+vector(1)` and expects 2.
 */
export type Constant =
  | { readonly type: 'scalar'; readonly value: number }
  /** A vector of at most one sample (a constant has no streams to make more). */
  | { readonly type: 'vector'; readonly sample: { readonly labels: Readonly<Record<string, string>>; readonly value: number } | null };

/** The expression's value if it reads no logs, else null. A constant that PromQL refuses (a scalar comparison without bool) throws. */
export function evaluateConstant(e: Expr): Constant | null {
  if (e.kind === 'log' || !isConstant(e)) return null;
  return evaluate(e);
}

function isConstant(e: MetricExpr): boolean {
  switch (e.kind) {
    case 'literal':
    case 'vectorLiteral':
      return true;
    case 'binary':
      return isConstant(e.left) && isConstant(e.right);
    case 'vector':
    case 'labelReplace':
      return isConstant(e.inner);
    case 'range':
      return false;
  }
}

function evaluate(e: MetricExpr): Constant {
  switch (e.kind) {
    case 'literal':
      return { type: 'scalar', value: e.value };
    case 'vectorLiteral':
      return { type: 'vector', sample: { labels: {}, value: e.value } };
    case 'binary':
      return binary(e.op, e.bool, evaluate(e.left), evaluate(e.right));
    case 'vector': {
      const inner = evaluate(e.inner);
      const s = inner.type === 'vector' ? inner.sample : { labels: {}, value: inner.value };
      if (s === null) return { type: 'vector', sample: null };
      // One sample in one group (a constant has no labels to group by).
      const kept = e.grouping && !e.grouping.without ? pick(s.labels, e.grouping.labels) : e.grouping?.without ? omit(s.labels, e.grouping.labels) : {};
      switch (e.op) {
        case 'count':
          return { type: 'vector', sample: { labels: kept, value: 1 } };
        case 'stddev':
        case 'stdvar':
          return { type: 'vector', sample: { labels: kept, value: 0 } };
        case 'topk':
        case 'bottomk':
          return { type: 'vector', sample: (e.param ?? 0) >= 1 ? s : null };
        case 'sort':
        case 'sort_desc':
          return { type: 'vector', sample: s };
        default:
          return { type: 'vector', sample: { labels: kept, value: s.value } };
      }
    }
    case 'labelReplace': {
      const inner = evaluate(e.inner);
      if (inner.type !== 'vector' || inner.sample === null) return inner;
      const m = new RegExp(`^(?:${e.regex})$`).exec(inner.sample.labels[e.src] ?? '');
      if (m === null) return inner;
      const value = e.replacement.replace(/\$(\d+)|\$\{(\d+)\}/g, (_x, a: string | undefined, b: string | undefined) => m[Number(a ?? b)] ?? '');
      const labels = { ...inner.sample.labels };
      if (value === '') delete labels[e.dst];
      else labels[e.dst] = value;
      return { type: 'vector', sample: { labels, value: inner.sample.value } };
    }
    case 'range':
      throw new TributaryError('E_INTERNAL', 'not a constant expression');
  }
}

function pick(labels: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => names.includes(k)));
}

function omit(labels: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([k]) => !names.includes(k)));
}

function arithmetic(op: BinaryOp, a: number, b: number): number | boolean | null {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    case '^':
      return a ** b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    default:
      return null; // and, or, unless: set operators
  }
}

function binary(op: BinaryOp, bool: boolean, l: Constant, r: Constant): Constant {
  if (l.type === 'scalar' && r.type === 'scalar') {
    const v = arithmetic(op, l.value, r.value);
    if (typeof v === 'boolean' && !bool) throw new TributaryError('E_QUERY_INVALID', 'comparisons between scalars must use bool', { field: 'query' });
    if (v === null) throw new TributaryError('E_QUERY_INVALID', `set operator ${op} not allowed between scalars`, { field: 'query' });
    return { type: 'scalar', value: typeof v === 'boolean' ? Number(v) : v };
  }
  const ls = l.type === 'vector' ? l.sample : { labels: {}, value: l.value };
  const rs = r.type === 'vector' ? r.sample : { labels: {}, value: r.value };
  if (op === 'and') return { type: 'vector', sample: ls !== null && rs !== null ? ls : null };
  if (op === 'or') return { type: 'vector', sample: ls ?? rs };
  if (op === 'unless') return { type: 'vector', sample: rs === null ? ls : null };
  if (ls === null || rs === null) return { type: 'vector', sample: null };
  const v = arithmetic(op, ls.value, rs.value)!;
  // The result keeps the labels of the vector side (the left one when both are vectors).
  const labels = l.type === 'vector' ? ls.labels : rs.labels;
  if (typeof v === 'boolean') {
    if (bool) return { type: 'vector', sample: { labels, value: Number(v) } };
    return { type: 'vector', sample: v ? { labels, value: l.type === 'vector' ? ls.value : rs.value } : null };
  }
  return { type: 'vector', sample: { labels, value: v } };
}

/** A sample value as Prometheus and Loki write it. */
export function formatSample(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
