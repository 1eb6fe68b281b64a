import type { Expr, Grouping, LabelFilter, LogExpr, Matcher, MetricExpr, Stage, VectorMatching } from './ast.js';
import { PRECEDENCE } from './tokens.js';

/**
 * LogQL written back from its tree, in one canonical form (Loki's
 * `format_query`, Grafana's "Format query"): spacing normalised, strings
 * double-quoted, parentheses only where precedence needs them. What it
 * prints parses back to the same tree (a property test checks it).
 */
export function formatLogQL(e: Expr): string {
  return e.kind === 'log' ? log(e) : metric(e, 0);
}

const quote = (s: string) => JSON.stringify(s);

function matcher(m: Matcher): string {
  return `${m.name}${m.op}${quote(m.value)}`;
}

function selector(e: LogExpr): string {
  return `{${e.selector.matchers.map(matcher).join(', ')}}`;
}

function pipeline(e: LogExpr): string {
  return e.pipeline.map((s) => ` ${stage(s)}`).join('');
}

function log(e: LogExpr): string {
  return selector(e) + pipeline(e);
}

function stage(s: Stage): string {
  switch (s.kind) {
    case 'line':
      return `${s.op} ${s.values.map((v) => (v.ip ? `ip(${quote(v.value)})` : quote(v.value))).join(' or ')}`;
    case 'json':
    case 'logfmt': {
      const parts = [s.kind, ...s.flags, s.extract.map((x) => (x.expression === undefined ? x.label : `${x.label}=${quote(x.expression)}`)).join(', ')];
      return `| ${parts.filter((p) => p !== '').join(' ')}`;
    }
    case 'unpack':
    case 'decolorize':
      return `| ${s.kind}`;
    case 'pattern':
    case 'regexp':
      return `| ${s.kind} ${quote(s.expression)}`;
    case 'labelFilter':
      return `| ${labelFilter(s.filter, false)}`;
    case 'lineFormat':
      return `| line_format ${quote(s.template)}`;
    case 'labelFormat':
      return `| label_format ${s.items.map((i) => (i.rename !== undefined ? `${i.label}=${i.rename}` : `${i.label}=${quote(i.template ?? '')}`)).join(', ')}`;
    case 'drop':
    case 'keep':
      return `| ${s.kind} ${s.labels.map((l) => (l.matcher ? matcher(l.matcher) : l.name)).join(', ')}`;
  }
}

/**
 * `nested`: inside an and, where an or keeps its parentheses. Both
 * operators group to the left, so a right operand of the same operator
 * keeps its parentheses too (the tree would otherwise come back regrouped).
 */
function labelFilter(f: LabelFilter, nested: boolean): string {
  switch (f.kind) {
    case 'and': {
      const right = f.right.kind === 'and' ? `(${labelFilter(f.right, true)})` : labelFilter(f.right, true);
      return `${labelFilter(f.left, true)} and ${right}`;
    }
    case 'or': {
      const right = f.right.kind === 'or' ? `(${labelFilter(f.right, false)})` : labelFilter(f.right, false);
      const text = `${labelFilter(f.left, false)} or ${right}`;
      return nested ? `(${text})` : text;
    }
    case 'match':
      return matcher(f.matcher);
    case 'number':
      return `${f.name} ${f.op} ${f.value}`;
    case 'duration':
      return `${f.name} ${f.op} ${duration(f.seconds)}`;
    case 'bytes':
      return `${f.name} ${f.op} ${f.bytes}B`;
    case 'ip':
      return `${f.name} ${f.op} ip(${quote(f.pattern)})`;
  }
}

/** Seconds as a LogQL duration: whole units where they divide, else milliseconds. */
function duration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0 && ms !== 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function nsDuration(ns: bigint): string {
  return duration(Number(ns) / 1e9);
}

function grouping(g: Grouping | undefined): string {
  return g === undefined ? '' : ` ${g.without ? 'without' : 'by'} (${g.labels.join(', ')})`;
}

function matching(m: VectorMatching | undefined): string {
  if (m === undefined) return '';
  const group = m.group ? ` group_${m.group.side} (${m.group.labels.join(', ')})` : '';
  return ` ${m.on ? 'on' : 'ignoring'} (${m.labels.join(', ')})${group}`;
}

/** `min`: the precedence of the operator this expression is an operand of (0 at the top). */
function metric(e: MetricExpr, min: number): string {
  switch (e.kind) {
    case 'range': {
      const param = e.param !== undefined ? `${e.param}, ` : '';
      const unwrap = e.unwrap
        ? ` | unwrap ${e.unwrap.conversion ? `${e.unwrap.conversion}(${e.unwrap.label})` : e.unwrap.label}${e.unwrap.filters.map((f) => ` | ${labelFilter(f, false)}`).join('')}`
        : '';
      // The grammar takes an offset right after the range, the pipeline after it.
      const body =
        e.offset !== undefined
          ? `${selector(e.log)} [${nsDuration(e.range)}] offset ${nsDuration(e.offset)}${pipeline(e.log)}${unwrap}`
          : `${log(e.log)}${unwrap} [${nsDuration(e.range)}]`;
      return `${e.op}(${param}${body})${grouping(e.grouping)}`;
    }
    case 'vector': {
      const param = e.param !== undefined ? `${e.param}, ` : '';
      return `${e.op}${grouping(e.grouping)} (${param}${metric(e.inner, 0)})`;
    }
    case 'binary': {
      const p = PRECEDENCE[e.op]!;
      // Left-associative but ^: an operand of equal precedence needs parentheses on the other side.
      const left = metric(e.left, e.op === '^' ? p + 1 : p);
      const right = metric(e.right, e.op === '^' ? p : p + 1);
      const text = `${left} ${e.op}${e.bool ? ' bool' : ''}${matching(e.matching)} ${right}`;
      return p < min ? `(${text})` : text;
    }
    case 'literal':
      return String(e.value);
    case 'vectorLiteral':
      return `vector(${e.value})`;
    case 'labelReplace':
      return `label_replace(${metric(e.inner, 0)}, ${[e.dst, e.replacement, e.src, e.regex].map(quote).join(', ')})`;
  }
}
