import { TributaryError } from '../../errors.js';
import { labelAlias } from '../logql.js';
import type { BinaryOp, Grouping, VectorMatching, VectorOp } from './ast.js';
import { variance } from './range-functions.js';
import { COMPARE_FNS } from './tokens.js';

/**
 * Vector aggregations and binary operators, step by step, with
 * Prometheus' semantics (which Loki keeps): grouping by or without labels,
 * one-to-one and group_left / group_right matching on or ignoring labels,
 * comparisons that filter unless `bool`, and/or/unless as set operations.
 */
export type Labels = Readonly<Record<string, string>>;

export interface Series {
  readonly labels: Labels;
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

export type Value = { readonly kind: 'scalar'; readonly values: Float64Array } | { readonly kind: 'vector'; readonly series: Series[] };

function bad(message: string): TributaryError {
  return new TributaryError('E_QUERY_INVALID', message, { field: 'query' });
}

export function keyOf(labels: Labels): string {
  let key = '';
  for (const k of Object.keys(labels).sort()) key += `${k}\u0000${labels[k]}\u0001`;
  return key;
}

/** A label's value in a series, reading service_name as service and the other aliases as their columns. */
function valueOf(labels: Labels, name: string): string | undefined {
  const v = labels[name];
  if (v !== undefined) return v;
  const alias = labelAlias(name);
  return alias !== undefined && alias !== name ? labels[alias] : undefined;
}

/** The labels a grouping keeps: by (the names as written, empty values left out) or without. */
export function groupLabels(labels: Labels, g: Grouping | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (g === undefined) return out;
  if (!g.without) {
    for (const n of g.labels) {
      const v = valueOf(labels, n);
      if (v !== undefined && v !== '') out[n] = v;
    }
    return out;
  }
  for (const [k, v] of Object.entries(labels)) if (!g.labels.includes(k)) out[k] = v;
  return out;
}

export function aggregate(op: VectorOp, param: number | undefined, input: readonly Series[], g: Grouping | undefined, points: number): Series[] {
  if (op === 'sort' || op === 'sort_desc') {
    // Order matters only for an instant query (one point); the series themselves are unchanged.
    const sign = op === 'sort' ? 1 : -1;
    return [...input].sort((a, b) => sign * ((a.present[0] ? a.values[0]! : NaN) - (b.present[0] ? b.values[0]! : NaN)) || 0);
  }
  const groups = new Map<string, { labels: Record<string, string>; members: Series[] }>();
  for (const s of input) {
    const labels = groupLabels(s.labels, g);
    const key = keyOf(labels);
    const group = groups.get(key);
    if (group) group.members.push(s);
    else groups.set(key, { labels, members: [s] });
  }
  if (op === 'topk' || op === 'bottomk') {
    const k = Math.floor(param ?? 0);
    if (k < 1) return [];
    const out = input.map((s) => ({ labels: s.labels, values: new Float64Array(points), present: new Uint8Array(points) }));
    // Each series' place and its labels' key, once: ties are broken by the key, so the choice is the same every time.
    const index = new Map(input.map((s, i) => [s, i]));
    const keys = new Map(input.map((s) => [s, keyOf(s.labels)]));
    const sign = op === 'topk' ? -1 : 1;
    for (const { members } of groups.values()) {
      for (let p = 0; p < points; p++) {
        const here = members.filter((s) => s.present[p]);
        here.sort((a, b) => sign * (a.values[p]! - b.values[p]!) || (keys.get(a)! < keys.get(b)! ? -1 : 1));
        for (const s of here.slice(0, k)) {
          const o = out[index.get(s)!]!;
          o.values[p] = s.values[p]!;
          o.present[p] = 1;
        }
      }
    }
    return out.filter((s) => s.present.some((x) => x === 1));
  }
  const result: Series[] = [];
  for (const { labels, members } of groups.values()) {
    const values = new Float64Array(points);
    const present = new Uint8Array(points);
    const xs: number[] = [];
    for (let p = 0; p < points; p++) {
      xs.length = 0;
      for (const s of members) if (s.present[p]) xs.push(s.values[p]!);
      if (xs.length === 0) continue;
      let v: number;
      switch (op) {
        case 'sum':
          v = xs.reduce((a, b) => a + b, 0);
          break;
        case 'avg':
          v = xs.reduce((a, b) => a + b, 0) / xs.length;
          break;
        case 'count':
          v = xs.length;
          break;
        case 'min':
          v = xs.reduce((a, b) => (b < a || Number.isNaN(a) ? b : a));
          break;
        case 'max':
          v = xs.reduce((a, b) => (b > a || Number.isNaN(a) ? b : a));
          break;
        case 'stdvar':
          v = variance(xs);
          break;
        case 'stddev':
          v = Math.sqrt(variance(xs));
          break;
        default:
          throw bad(`unknown vector aggregation ${op}`);
      }
      values[p] = v;
      present[p] = 1;
    }
    result.push({ labels, values, present });
  }
  return result;
}

const ARITHMETIC: Partial<Record<BinaryOp, (a: number, b: number) => number>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
  '^': (a, b) => a ** b,
};
const COMPARISON: Partial<Record<BinaryOp, (a: number, b: number) => boolean>> = COMPARE_FNS;

/** The labels two series are matched on. */
function signature(labels: Labels, m: VectorMatching | undefined): string {
  if (m === undefined) return keyOf(labels);
  const out: Record<string, string> = {};
  if (m.on) {
    for (const n of m.labels) if (labels[n] !== undefined && labels[n] !== '') out[n] = labels[n]!;
  } else for (const [k, v] of Object.entries(labels)) if (!m.labels.includes(k)) out[k] = v;
  return keyOf(out);
}

/** Prometheus' resultMetric: one-to-one keeps the on() labels, or drops the ignoring() ones; group_x copies the included labels from the one side. */
function resultLabels(many: Labels, one: Labels, m: VectorMatching | undefined): Record<string, string> {
  let out: Record<string, string> = { ...many };
  if (m !== undefined && m.group === undefined) {
    if (m.on) {
      out = {};
      for (const n of m.labels) if (many[n] !== undefined) out[n] = many[n]!;
    } else for (const n of m.labels) delete out[n];
  }
  if (m?.group !== undefined) {
    for (const n of m.group.labels) {
      if (one[n] !== undefined && one[n] !== '') out[n] = one[n]!;
      else delete out[n];
    }
  }
  return out;
}

function scalarBinary(op: BinaryOp, bool: boolean, a: Float64Array, b: Float64Array): Float64Array {
  const cmp = COMPARISON[op];
  if (cmp && !bool) throw bad('comparisons between scalars must use the bool modifier');
  const out = new Float64Array(a.length);
  for (let p = 0; p < a.length; p++) out[p] = cmp ? (cmp(a[p]!, b[p]!) ? 1 : 0) : ARITHMETIC[op]!(a[p]!, b[p]!);
  return out;
}

export function binary(op: BinaryOp, bool: boolean, m: VectorMatching | undefined, left: Value, right: Value, points: number): Value {
  if (left.kind === 'scalar' && right.kind === 'scalar') {
    if (op === 'and' || op === 'or' || op === 'unless') throw bad(`set operator ${op} is not allowed between scalars`);
    return { kind: 'scalar', values: scalarBinary(op, bool, left.values, right.values) };
  }
  if (left.kind === 'scalar' || right.kind === 'scalar') {
    if (op === 'and' || op === 'or' || op === 'unless') throw bad(`set operator ${op} is not allowed between a vector and a scalar`);
    const vectorLeft = left.kind === 'vector';
    const vec = (vectorLeft ? left : right) as Extract<Value, { kind: 'vector' }>;
    const sc = (vectorLeft ? right : left) as Extract<Value, { kind: 'scalar' }>;
    const cmp = COMPARISON[op];
    const series = vec.series.map((s) => {
      const values = new Float64Array(points);
      const present = new Uint8Array(points);
      for (let p = 0; p < points; p++) {
        if (!s.present[p]) continue;
        const a = vectorLeft ? s.values[p]! : sc.values[p]!;
        const b = vectorLeft ? sc.values[p]! : s.values[p]!;
        if (cmp) {
          const ok = cmp(a, b);
          if (bool) {
            values[p] = ok ? 1 : 0;
            present[p] = 1;
          } else if (ok) {
            values[p] = s.values[p]!;
            present[p] = 1;
          }
        } else {
          values[p] = ARITHMETIC[op]!(a, b);
          present[p] = 1;
        }
      }
      return { labels: s.labels, values, present };
    });
    return { kind: 'vector', series: series.filter((s) => s.present.some((x) => x === 1)) };
  }
  return { kind: 'vector', series: vectorBinary(op, bool, m, left.series, right.series, points) };
}

function vectorBinary(op: BinaryOp, bool: boolean, m: VectorMatching | undefined, lhs: readonly Series[], rhs: readonly Series[], points: number): Series[] {
  const out = new Map<string, { labels: Labels; values: Float64Array; present: Uint8Array }>();
  const put = (labels: Labels, p: number, v: number) => {
    const key = keyOf(labels);
    let s = out.get(key);
    if (!s) out.set(key, (s = { labels, values: new Float64Array(points), present: new Uint8Array(points) }));
    if (s.present[p]) throw bad('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
    s.values[p] = v;
    s.present[p] = 1;
  };
  const lsig = lhs.map((s) => signature(s.labels, m));
  const rsig = rhs.map((s) => signature(s.labels, m));
  if (op === 'and' || op === 'or' || op === 'unless') {
    for (let p = 0; p < points; p++) {
      const right = new Set<string>();
      rhs.forEach((s, i) => s.present[p] && right.add(rsig[i]!));
      const leftSigs = new Set<string>();
      lhs.forEach((s, i) => {
        if (!s.present[p]) return;
        leftSigs.add(lsig[i]!);
        const keep = op === 'or' || (op === 'and' ? right.has(lsig[i]!) : !right.has(lsig[i]!));
        if (keep) put(s.labels, p, s.values[p]!);
      });
      if (op === 'or') rhs.forEach((s, i) => s.present[p] && !leftSigs.has(rsig[i]!) && put(s.labels, p, s.values[p]!));
    }
    return [...out.values()];
  }
  const cmp = COMPARISON[op];
  const arith = ARITHMETIC[op];
  const groupRight = m?.group?.side === 'right';
  const [many, one, manySig, oneSig] = groupRight ? [rhs, lhs, rsig, lsig] : [lhs, rhs, lsig, rsig];
  for (let p = 0; p < points; p++) {
    const ones = new Map<string, Series>();
    one.forEach((s, i) => {
      if (!s.present[p]) return;
      if (ones.has(oneSig[i]!))
        throw bad(
          `found duplicate series for the match group on the ${groupRight ? 'left' : 'right'} hand-side of the operation: many-to-many matching is not allowed`,
        );
      ones.set(oneSig[i]!, s);
    });
    const seen = new Set<string>();
    many.forEach((s, i) => {
      if (!s.present[p]) return;
      const o = ones.get(manySig[i]!);
      if (o === undefined) return;
      if (m?.group === undefined) {
        if (seen.has(manySig[i]!)) throw bad('found duplicate series for the match group on the left hand-side of the operation: use group_left/group_right');
        seen.add(manySig[i]!);
      }
      const a = groupRight ? o.values[p]! : s.values[p]!;
      const b = groupRight ? s.values[p]! : o.values[p]!;
      const labels = resultLabels(s.labels, o.labels, m);
      if (cmp) {
        const ok = cmp(a, b);
        if (bool) put(labels, p, ok ? 1 : 0);
        else if (ok) put(labels, p, groupRight ? b : a);
      } else put(labels, p, arith!(a, b));
    });
  }
  return [...out.values()];
}

/** label_replace: when src matches the (anchored) regex, dst becomes the replacement, $1 and ${name} expanded; an empty result removes dst. */
export function labelReplace(input: readonly Series[], dst: string, replacement: string, src: string, regex: string): Series[] {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${regex.replace(/\(\?P</g, '(?<')})$`, 's');
  } catch (err) {
    throw bad(`label_replace: bad regular expression ${JSON.stringify(regex)}: ${(err as Error).message}`);
  }
  const js = replacement.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n: string) => (/^\d+$/.test(n) ? `$${n}` : `$<${n}>`));
  return input.map((s) => {
    const v = s.labels[src] ?? '';
    if (!re.test(v)) return s;
    const out: Record<string, string> = { ...s.labels };
    const value = v.replace(re, js);
    if (value === '') delete out[dst];
    else out[dst] = value;
    return { ...s, labels: out };
  });
}
