import { TributaryError } from '../../errors.js';
import { labelAlias } from '../logql.js';
import { toRegExp } from '../model.js';
import type { LabelFilter, Matcher, Stage } from './ast.js';
import {
  compileIpPattern,
  compilePattern,
  goRegExp,
  jsonExtractor,
  lineHasIp,
  matchPattern,
  parseJson,
  parseJsonPath,
  parseLogfmt,
  parseUnpack,
  patternTest,
  regexpExtractor,
} from './parsers.js';
import { compileTemplate } from './template.js';
import { COMPARE_FNS, decodeBytes, decodeSeconds } from './tokens.js';

/**
 * A LogQL pipeline (the stages after the stream selector) compiled into
 * one function of an entry, with Loki's semantics: parsers add labels
 * (a name the stream already has gets _extracted), a failed parse sets
 * __error__ and __error_details__ and the entry goes on, label filters
 * on numbers, durations and bytes let an entry with an error pass (so a
 * later `__error__=""` decides), formats rewrite the line or labels.
 */
export const ERROR = '__error__';
export const ERROR_DETAILS = '__error_details__';

/** One entry going through a pipeline: its line and labels change as the stages run. */
export interface PipelineEntry {
  readonly ts: bigint;
  line: string;
  /** Every label: the stream's, its structured metadata, and what parsers extracted. */
  readonly labels: Map<string, string>;
  /** The stream's own labels (a parser's label of the same name is renamed name_extracted). */
  readonly base: ReadonlySet<string>;
}

type StageFn = (e: PipelineEntry) => boolean;
export type Pipeline = (e: PipelineEntry) => boolean;

function bad(message: string): TributaryError {
  return new TributaryError('E_QUERY_INVALID', message, { field: 'query' });
}

/** A label's value: its own, or for service_name, host and the other aliases, the column it names; undefined when absent. */
export function labelOf(labels: ReadonlyMap<string, string>, name: string): string | undefined {
  const v = labels.get(name);
  if (v !== undefined) return v;
  const alias = labelAlias(name);
  return alias !== undefined && alias !== name ? labels.get(alias) : undefined;
}

function setError(e: PipelineEntry, error: string, details: string): void {
  if (e.labels.has(ERROR)) return; // the first error stays, as in Loki
  e.labels.set(ERROR, error);
  e.labels.set(ERROR_DETAILS, details);
}

/** How a parser sets what it extracts: a name the stream has becomes name_extracted; with `needed`, only those names are kept. */
function extracted(e: PipelineEntry, needed: ReadonlySet<string> | undefined): (name: string, value: string) => void {
  if (needed === undefined) return (name, value) => e.labels.set(e.base.has(name) ? `${name}_extracted` : name, value);
  return (name, value) => {
    const final = e.base.has(name) ? `${name}_extracted` : name;
    if (needed.has(final)) e.labels.set(final, value);
  };
}

function compileMatcher(m: Pick<Matcher, 'op' | 'value'>): (v: string) => boolean {
  let re: RegExp;
  switch (m.op) {
    case '=':
      return (v) => v === m.value;
    case '!=':
      return (v) => v !== m.value;
    default:
      try {
        re = toRegExp(m.value.replace(/\(\?P</g, '(?<'), true);
      } catch (err) {
        throw bad(`bad regular expression ${JSON.stringify(m.value)}: ${(err as Error).message}`);
      }
      return m.op === '=~' ? (v) => re.test(v) : (v) => !re.test(v);
  }
}

/** A label's value as a number of the filter's kind: a float, a duration in seconds, or a size in bytes; null when it is not one. */
export function convertValue(kind: 'number' | 'duration' | 'bytes', text: string): number | null {
  if (kind === 'duration') {
    const neg = text.startsWith('-');
    const s = decodeSeconds(neg ? text.slice(1) : text);
    return s === null ? (text === '0' ? 0 : null) : neg ? -s : s;
  }
  if (kind === 'bytes') {
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    const b = decodeBytes(text.replace(/\s+/g, ''));
    return b;
  }
  if (text.trim() === '') return null;
  const n = Number(text);
  if (Number.isNaN(n) && !/^[+-]?nan$/i.test(text)) return /^[+-]?inf(inity)?$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : null;
  return n;
}

const ERR_NAMES = { number: 'LabelFilterErr', duration: 'LabelFilterErr', bytes: 'LabelFilterErr' } as const;

export function compileLabelFilter(f: LabelFilter): StageFn {
  switch (f.kind) {
    case 'and': {
      const l = compileLabelFilter(f.left);
      const r = compileLabelFilter(f.right);
      return (e) => l(e) && r(e);
    }
    case 'or': {
      const l = compileLabelFilter(f.left);
      const r = compileLabelFilter(f.right);
      return (e) => {
        const a = l(e);
        const b = r(e);
        return a || b;
      };
    }
    case 'match': {
      const test = compileMatcher(f.matcher);
      const name = f.matcher.name;
      return (e) => test(labelOf(e.labels, name) ?? '');
    }
    case 'number':
    case 'duration':
    case 'bytes': {
      const want = f.kind === 'number' ? f.value : f.kind === 'duration' ? f.seconds : f.bytes;
      const cmp = COMPARE_FNS[f.op];
      const kind = f.kind;
      const name = f.name;
      return (e) => {
        if (e.labels.has(ERROR)) return true;
        const text = labelOf(e.labels, name);
        if (text === undefined) return false;
        const v = convertValue(kind, text);
        if (v === null) {
          setError(
            e,
            ERR_NAMES[kind],
            `${kind === 'number' ? 'strconv.ParseFloat' : kind === 'duration' ? 'time.ParseDuration' : 'ParseBytes'}: parsing ${JSON.stringify(text)}: invalid syntax`,
          );
          return true;
        }
        return cmp(v, want);
      };
    }
    case 'ip': {
      const match = compileIpPattern(f.pattern);
      const name = f.name;
      const want = f.op === '=';
      return (e) => {
        const v = labelOf(e.labels, name);
        if (v === undefined) return false;
        return match(v.trim()) === want;
      };
    }
  }
}

function lineFilter(s: Extract<Stage, { kind: 'line' }>): StageFn {
  const positive = s.op === '|=' || s.op === '|~' || s.op === '|>';
  const tests: ((line: string) => boolean)[] = s.values.map(({ value, ip }) => {
    if (ip) {
      const match = compileIpPattern(value);
      return (line) => lineHasIp(match, line);
    }
    if (s.op === '|=' || s.op === '!=') return (line) => line.includes(value);
    if (s.op === '|>' || s.op === '!>') {
      const parts = compilePattern(value, true);
      return (line) => patternTest(parts, line);
    }
    let re: RegExp;
    try {
      re = goRegExp(value);
    } catch (err) {
      throw bad(`bad regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
    }
    return (line) => re.test(line);
  });
  // `or` joins alternatives: a positive filter passes when one holds, a negative one when none does.
  if (tests.length === 1) {
    const t = tests[0]!;
    return positive ? (e) => t(e.line) : (e) => !t(e.line);
  }
  return positive ? (e) => tests.some((t) => t(e.line)) : (e) => !tests.some((t) => t(e.line));
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

function stage(s: Stage, needed: ReadonlySet<string> | undefined): StageFn {
  switch (s.kind) {
    case 'line':
      return lineFilter(s);
    case 'json': {
      if (s.extract.length === 0)
        return (e) => {
          const err = parseJson(e.line, extracted(e, needed));
          if (err !== null) setError(e, 'JSONParserErr', err);
          return true;
        };
      const ex = jsonExtractor(s.extract.map((x) => ({ label: x.label, path: parseJsonPath(x.expression ?? x.label) })));
      return (e) => {
        const err = ex(e.line, (name, value) => e.labels.set(name, value));
        if (err !== null) setError(e, 'JSONParserErr', err);
        return true;
      };
    }
    case 'logfmt': {
      const strict = s.flags.includes('--strict');
      const keepEmpty = s.flags.includes('--keep-empty');
      let only: Map<string, string[]> | undefined;
      if (s.extract.length > 0) {
        only = new Map();
        for (const x of s.extract) {
          const key = x.expression ?? x.label;
          only.set(key, [...(only.get(key) ?? []), x.label]);
        }
      }
      return (e) => {
        const set = only === undefined ? extracted(e, needed) : (name: string, value: string) => e.labels.set(name, value);
        const err = parseLogfmt(e.line, set, strict, keepEmpty, only);
        if (err !== null) setError(e, 'LogfmtParserErr', err);
        return true;
      };
    }
    case 'pattern': {
      const parts = compilePattern(s.expression);
      return (e) => {
        matchPattern(parts, e.line, extracted(e, needed));
        return true;
      };
    }
    case 'regexp': {
      const ex = regexpExtractor(s.expression);
      return (e) => {
        ex(e.line, extracted(e, needed));
        return true;
      };
    }
    case 'unpack':
      return (e) => {
        const r = parseUnpack(e.line, extracted(e, needed));
        if (r.error !== null) setError(e, 'JSONParserErr', r.error);
        else e.line = r.line;
        return true;
      };
    case 'labelFilter':
      return compileLabelFilter(s.filter);
    case 'lineFormat': {
      const t = compileTemplate(s.template);
      return (e) => {
        e.line = t(templateData(e));
        return true;
      };
    }
    case 'labelFormat': {
      const seen = new Set<string>();
      for (const it of s.items) {
        if (seen.has(it.label)) throw bad(`label_format: label ${it.label} is set more than once in one stage`);
        seen.add(it.label);
      }
      const items = s.items.map((it) => ({
        label: it.label,
        rename: it.rename,
        template: it.template === undefined ? undefined : compileTemplate(it.template),
      }));
      return (e) => {
        const data = templateData(e);
        const updates: [string, string | undefined, string | undefined][] = [];
        for (const it of items) {
          if (it.rename !== undefined) updates.push([it.label, labelOf(e.labels, it.rename), it.rename]);
          else updates.push([it.label, it.template!(data), undefined]);
        }
        for (const [label, value, from] of updates) {
          if (from !== undefined && from !== label) e.labels.delete(from);
          if (value === undefined) continue;
          e.labels.set(label, value);
        }
        return true;
      };
    }
    case 'decolorize':
      return (e) => {
        e.line = e.line.replace(ANSI, '');
        return true;
      };
    case 'drop': {
      const items = s.labels.map((l) => ({ name: l.name, test: l.matcher ? compileMatcher(l.matcher) : null }));
      return (e) => {
        for (const it of items) {
          const v = e.labels.get(it.name);
          if (v !== undefined && (it.test === null || it.test(v))) {
            e.labels.delete(it.name);
            if (it.name === ERROR) e.labels.delete(ERROR_DETAILS);
          }
        }
        return true;
      };
    }
    case 'keep': {
      const items = s.labels.map((l) => ({ name: l.name, test: l.matcher ? compileMatcher(l.matcher) : null }));
      return (e) => {
        for (const [name, v] of [...e.labels]) {
          if (name === ERROR || name === ERROR_DETAILS) continue;
          if (!items.some((it) => it.name === name && (it.test === null || it.test(v)))) e.labels.delete(name);
        }
        return true;
      };
    }
  }
}

function templateData(e: PipelineEntry) {
  return { label: (name: string) => labelOf(e.labels, name) ?? '', line: e.line, ts: e.ts };
}

/**
 * Compiles pipeline stages (throws E_QUERY_INVALID on a bad regex, pattern,
 * template or ip range). With `needed`, parsers set only those labels: for
 * an aggregation whose result shows only some labels (labelsNeeded), the
 * others need not be made. Errors are still found (the whole line is parsed).
 */
export function compilePipeline(stages: readonly Stage[], needed?: ReadonlySet<string>): Pipeline {
  const fns = stages.map((st) => stage(st, needed));
  return (e) => {
    for (const f of fns) if (!f(e)) return false;
    return true;
  };
}

/** The names a label filter reads. */
function filterNames(f: LabelFilter, out: Set<string>): void {
  switch (f.kind) {
    case 'and':
    case 'or':
      filterNames(f.left, out);
      filterNames(f.right, out);
      return;
    case 'match':
      out.add(f.matcher.name);
      return;
    default:
      out.add(f.name);
  }
}

/**
 * The labels an aggregation over these stages can observe, when it keeps
 * only `by` labels: those, what filters, drop and keep name, the unwrapped
 * label and the error labels (each with the column it aliases). Undefined
 * when a format stage may read any label.
 */
export function labelsNeeded(
  stages: readonly Stage[],
  by: readonly string[],
  unwrap?: { readonly label: string; readonly filters: readonly LabelFilter[] },
): Set<string> | undefined {
  const out = new Set<string>([ERROR, ERROR_DETAILS, ...by]);
  for (const st of stages) {
    if (st.kind === 'lineFormat' || st.kind === 'labelFormat') return undefined;
    if (st.kind === 'labelFilter') filterNames(st.filter, out);
    if (st.kind === 'drop' || st.kind === 'keep') for (const l of st.labels) out.add(l.name);
  }
  if (unwrap) {
    out.add(unwrap.label);
    for (const f of unwrap.filters) filterNames(f, out);
  }
  for (const n of [...out]) {
    const alias = labelAlias(n);
    if (alias !== undefined) out.add(alias);
  }
  return out;
}
