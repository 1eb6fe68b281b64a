import { TributaryError } from '../errors.js';
import { Level, tryParseLevel } from '../model/level.js';
import { parseDuration } from './time.js';
import { toRegExp, type LabelMatcher, type LabelName, type LineFilter, type LogQuery } from './model.js';

/**
 * A LogQL subset, parsed by hand (recursive descent): the grammar is a dozen
 * productions, and a hand-written parser needs no generator step and gives
 * exact errors (line, column, what was expected, what was found).
 *
 *   query     := metric | log
 *   log       := selector stage*
 *   selector  := '{' [ matcher { ',' matcher } ] '}'
 *   matcher   := label ( '=' | '!=' | '=~' | '!~' ) string
 *   stage     := ( '|=' | '!=' | '|~' | '!~' ) string
 *              | '|' 'level' ( '=' | '!=' | '>=' | '>' | '<=' | '<' ) level
 *              | '|' label ( '=' | '!=' | '=~' | '!~' ) string
 *   metric    := 'count_over_time' '(' log '[' duration ']' ')' [ grouping ]
 *              | 'sum' [ grouping ] '(' metric ')' [ grouping ]
 *              | 'topk' '(' number ',' metric ')'
 *   grouping  := 'by' '(' label { ',' label } ')'
 *
 * Labels: service (aliases service_name, app, job), server (host, hostname,
 * instance), region, and level (as a matcher: {level="error"}); any other
 * name in a selector matches the stream's other labels, and after a `|` the
 * entry's structured metadata (a missing label reads as "", as in Loki).
 * Strings: "double-quoted" with JSON escapes, or `raw`.
 */

export type GroupLabel = LabelName | 'level';

/** The labels Loki's parsers set on a failure; without parsers, no entry has them. */
const ERROR_LABELS = new Set(['__error__', '__error_details__']);

/** A compiled metric query: counts per time bucket, grouped by labels, optionally top-k. */
export interface MetricQuery {
  readonly kind: 'count_over_time';
  /** The entries to count (its time range and limit are the caller's). */
  readonly select: Omit<LogQuery, 'from' | 'to'>;
  /** Bucket width in nanoseconds. */
  readonly range: bigint;
  /** Count only each bucket's first `window` ns (disjoint windows every range; see countView). */
  readonly window?: bigint;
  readonly by: readonly GroupLabel[];
  /**
   * The grouping labels as written, each with the label it stands for:
   * answers name them so (`by (service_name)` answers service_name, and
   * `by (level, detected_level)` both). Absent: the labels' own names.
   */
  readonly written?: readonly (readonly [string, GroupLabel])[];
  /** Keep only the k series with the largest total (topk). */
  readonly topk?: number;
}

export type CompiledQuery = { readonly type: 'log'; readonly query: Omit<LogQuery, 'from' | 'to'> } | { readonly type: 'metric'; readonly query: MetricQuery };

const LABEL_ALIASES: Record<string, GroupLabel> = {
  service: 'service',
  service_name: 'service',
  app: 'service',
  job: 'service',
  server: 'server',
  host: 'server',
  hostname: 'server',
  instance: 'server',
  region: 'region',
  level: 'level',
  detected_level: 'level',
};

/** The label a name stands for (service_name is service, host is server...), or undefined if none. */
export function labelAlias(name: string): GroupLabel | undefined {
  return Object.hasOwn(LABEL_ALIASES, name) ? LABEL_ALIASES[name] : undefined;
}

type TokenKind = 'punct' | 'op' | 'string' | 'ident' | 'number' | 'duration' | 'eof';
interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** For strings: the decoded value. */
  readonly value: string;
  readonly pos: number;
}

const OPERATORS = ['=~', '!~', '!=', '|=', '|~', '>=', '<=', '=', '>', '<', '|'];

export class LogQLError extends TributaryError {
  constructor(source: string, pos: number, expected: string, found: string) {
    const { line, column } = lineColumn(source, pos);
    super('E_QUERY_INVALID', `parse error at ${line}:${column}: expected ${expected}, found ${found}`, {
      position: pos,
      line,
      column,
      expected,
      found,
      field: 'query',
    });
    this.name = 'LogQLError';
  }
}

function lineColumn(source: string, pos: number): { line: number; column: number } {
  const before = source.slice(0, pos).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

function describe(t: Token): string {
  return t.kind === 'eof' ? 'the end of the query' : t.kind === 'string' ? `string ${t.text}` : `"${t.text}"`;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if ('{}()[],'.includes(c)) {
      out.push({ kind: 'punct', text: c, value: c, pos: start });
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ kind: 'op', text: op, value: op, pos: start });
      i += op.length;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new LogQLError(src, start, 'a closing "', 'the end of the query');
      const text = src.slice(i, j + 1);
      let value: string;
      try {
        value = JSON.parse(text) as string;
      } catch {
        throw new LogQLError(src, start, 'a valid string', text);
      }
      out.push({ kind: 'string', text, value, pos: start });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new LogQLError(src, start, 'a closing `', 'the end of the query');
      out.push({ kind: 'string', text: src.slice(i, j + 1), value: src.slice(i + 1, j), pos: start });
      i = j + 1;
      continue;
    }
    const duration = /^(\d+(ms|s|m|h|d|w))+/.exec(src.slice(i));
    if (duration) {
      out.push({ kind: 'duration', text: duration[0], value: duration[0], pos: start });
      i += duration[0].length;
      continue;
    }
    const number = /^\d+/.exec(src.slice(i));
    if (number) {
      out.push({ kind: 'number', text: number[0], value: number[0], pos: start });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (ident) {
      out.push({ kind: 'ident', text: ident[0], value: ident[0], pos: start });
      i += ident[0].length;
      continue;
    }
    throw new LogQLError(src, start, 'a token', `"${c}"`);
  }
  out.push({ kind: 'eof', text: '', value: '', pos: src.length });
  return out;
}

class Parser {
  private i = 0;

  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  private get peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    return this.tokens[this.i++]!;
  }

  private fail(expected: string): never {
    throw new LogQLError(this.src, this.peek.pos, expected, describe(this.peek));
  }

  private expect(text: string, what = `"${text}"`): Token {
    if (this.peek.text !== text || this.peek.kind === 'string') this.fail(what);
    return this.next();
  }

  private accept(text: string): boolean {
    if (this.peek.text === text && this.peek.kind !== 'string') {
      this.i++;
      return true;
    }
    return false;
  }

  parse(): CompiledQuery {
    const q: CompiledQuery = this.peek.kind === 'ident' ? { type: 'metric', query: this.metric() } : { type: 'log', query: this.log() };
    if (this.peek.kind !== 'eof') this.fail('the end of the query');
    return q;
  }

  private label(): GroupLabel {
    const t = this.peek;
    if (t.kind !== 'ident') this.fail('a label name (service, server, region, level)');
    const label = LABEL_ALIASES[t.text];
    if (!label) this.fail(`a known label (service, server, region, level or an alias), not ${t.text}`);
    this.i++;
    return label;
  }

  private string(): string {
    if (this.peek.kind !== 'string') this.fail('a string');
    return this.next().value;
  }

  private log(): Omit<LogQuery, 'from' | 'to'> {
    const labels: LabelMatcher[] = [];
    let levels: Level[] | undefined;
    const lineFilters: LineFilter[] = [];
    this.expect('{', 'a stream selector "{"');
    const metadata: LabelMatcher[] = [];
    if (!this.accept('}')) {
      do {
        const name = this.selectorLabel();
        const opTok = this.peek;
        if (!['=', '!=', '=~', '!~'].includes(opTok.text) || opTok.kind !== 'op') this.fail('one of "=", "!=", "=~", "!~"');
        this.i++;
        const value = this.string();
        const op = opTok.text as LabelMatcher['op'];
        if (name === 'level') levels = intersect(levels, levelsMatching(op, value, this.src, opTok.pos));
        else labels.push({ name, op, value });
      } while (this.accept(','));
      this.expect('}', '"," or "}"');
    }
    for (;;) {
      const t = this.peek;
      if (t.kind === 'op' && ['|=', '!=', '|~', '!~'].includes(t.text)) {
        this.i++;
        const value = this.string();
        if (t.text === '|~' || t.text === '!~') checkRegex(value, this.src, t.pos);
        lineFilters.push({ op: t.text as LineFilter['op'], value });
        continue;
      }
      if (t.kind === 'op' && t.text === '|') {
        this.i++;
        const field = this.peek;
        if (field.kind !== 'ident') this.fail('a label name after "|"');
        // `| drop __error__, __error_details__` (Grafana's log-volume query sends it): without a
        // parser no entry has those labels, so dropping them changes nothing. Other drops are not evaluated.
        if (field.text === 'drop' && this.tokens[this.i + 1]?.kind === 'ident' && ERROR_LABELS.has(this.tokens[this.i + 1]!.text)) {
          this.i++;
          do {
            const name = this.peek;
            if (name.kind !== 'ident' || !ERROR_LABELS.has(name.text)) this.fail('__error__ or __error_details__ (dropping other labels is not supported)');
            this.i++;
          } while (this.accept(','));
          continue;
        }
        if (field.text !== 'level') {
          this.i++;
          const opTok = this.peek;
          if (opTok.kind !== 'op' || !['=', '!=', '=~', '!~'].includes(opTok.text)) this.fail('one of "=", "!=", "=~", "!~"');
          this.i++;
          const value = this.string();
          const op = opTok.text as LabelMatcher['op'];
          if (op === '=~' || op === '!~') checkRegex(value, this.src, opTok.pos);
          const alias = labelAlias(field.text);
          if (alias !== undefined && alias !== 'level') labels.push({ name: alias, op, value });
          else metadata.push({ name: field.text, op, value });
          continue;
        }
        this.i++;
        const cmp = this.peek;
        if (cmp.kind !== 'op' || !['=', '!=', '>=', '>', '<=', '<'].includes(cmp.text)) this.fail('a comparison (=, !=, >=, >, <=, <)');
        this.i++;
        const lv =
          this.peek.kind === 'string'
            ? this.string()
            : this.peek.kind === 'ident' || this.peek.kind === 'number'
              ? this.next().text
              : this.fail('a level (DEBUG, INFO, WARN, ERROR)');
        levels = intersect(levels, levelsCompared(cmp.text, lv, this.src, cmp.pos));
        continue;
      }
      break;
    }
    return { labels, lineFilters, ...(metadata.length > 0 ? { metadata } : {}), ...(levels ? { levels } : {}) };
  }

  /** A label in a stream selector: an alias of a column label or level, or any other label name, kept as written. */
  private selectorLabel(): string {
    const t = this.peek;
    if (t.kind !== 'ident') this.fail('a label name');
    this.i++;
    return LABEL_ALIASES[t.text] ?? t.text;
  }

  /** `by (...)`: the labels grouped by, deduplicated, and as written. */
  private grouping(): { by: GroupLabel[]; written: [string, GroupLabel][] } | undefined {
    if (!this.accept('by')) return undefined;
    this.expect('(');
    const written: [string, GroupLabel][] = [];
    do {
      const t = this.peek;
      const label = this.label();
      written.push([t.text, label]);
    } while (this.accept(','));
    this.expect(')', '"," or ")"');
    return { by: [...new Set(written.map(([, l]) => l))], written };
  }

  private metric(): MetricQuery {
    const fn = this.peek;
    if (fn.kind !== 'ident') this.fail('count_over_time, sum or topk');
    if (fn.text === 'count_over_time') {
      this.i++;
      this.expect('(');
      const select = this.log();
      this.expect('[', 'a range "[" (for example [1m])');
      if (this.peek.kind !== 'duration') this.fail('a duration such as 30s, 1m or 1h');
      const range = parseDuration(this.next().text, 'range');
      this.expect(']');
      this.expect(')');
      // As in LogQL, an unaggregated count_over_time is one series per stream; sum() without by() folds them into one.
      const g = this.grouping();
      return { kind: 'count_over_time', select, range, by: g?.by ?? STREAM_LABELS, ...(g ? { written: g.written } : {}) };
    }
    if (fn.text === 'sum') {
      this.i++;
      const before = this.grouping();
      this.expect('(');
      const inner = this.metric();
      this.expect(')');
      const g = before ?? this.grouping();
      return { ...inner, by: g?.by ?? [], written: g?.written ?? [] };
    }
    if (fn.text === 'topk') {
      this.i++;
      this.expect('(');
      if (this.peek.kind !== 'number') this.fail('a number (k)');
      const k = Number(this.next().text);
      if (k < 1) throw new LogQLError(this.src, fn.pos, 'k of at least 1', String(k));
      this.expect(',');
      const inner = this.metric();
      this.expect(')');
      return { ...inner, topk: k };
    }
    return this.fail('count_over_time, sum or topk');
  }
}

function checkRegex(value: string, src: string, pos: number): void {
  try {
    toRegExp(value);
  } catch (err) {
    throw new LogQLError(src, pos, 'a valid regular expression', `${JSON.stringify(value)} (${(err as Error).message})`);
  }
}

function levelOf(text: string, src: string, pos: number): Level {
  const l = tryParseLevel(text);
  if (l === undefined) throw new LogQLError(src, pos, 'a level (DEBUG, INFO, WARN, ERROR)', JSON.stringify(text));
  return l;
}

const ALL_LEVELS: Level[] = [Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR];

/** The labels that make a stream: what an unaggregated count_over_time groups by. */
export const STREAM_LABELS: readonly GroupLabel[] = ['service', 'server', 'region', 'level'];

function levelsCompared(cmp: string, text: string, src: string, pos: number): Level[] {
  const l = levelOf(text, src, pos);
  const test: Record<string, (x: number) => boolean> = {
    '=': (x) => x === l,
    '!=': (x) => x !== l,
    '>=': (x) => x >= l,
    '>': (x) => x > l,
    '<=': (x) => x <= l,
    '<': (x) => x < l,
  };
  return ALL_LEVELS.filter(test[cmp]!);
}

function levelsMatching(op: LabelMatcher['op'], value: string, src: string, pos: number): Level[] {
  if (op === '=' || op === '!=') return levelsCompared(op, value, src, pos);
  checkRegex(value, src, pos);
  const re = toRegExp(`(?i)${value.startsWith('(?i)') ? value.slice(4) : value}`, true);
  const names = ['debug', 'info', 'warn', 'error'];
  const hit = ALL_LEVELS.filter((l) => re.test(names[l]!) || (l === Level.WARN && re.test('warning')));
  return op === '=~' ? hit : ALL_LEVELS.filter((l) => !hit.includes(l));
}

function intersect(a: Level[] | undefined, b: Level[]): Level[] {
  return a === undefined ? b : a.filter((l) => b.includes(l));
}

/** Parses a query in the LogQL subset. Throws LogQLError (E_QUERY_INVALID) with the position and what was expected. */
export function parseLogQL(source: string): CompiledQuery {
  return new Parser(source, tokenize(source)).parse();
}
