import { TributaryError } from '../errors.js';
import type { IdentifiedEntry } from '../model/entry.js';
import { isLabelName, pairValue } from '../model/labels.js';
import { MAX_LEVEL, type Level } from '../model/level.js';

/**
 * The one query model. The query language, the HTTP and Loki APIs, the CLI
 * and the programmatic API all compile to it.
 */
export interface LogQuery {
  /** Inclusive lower bound, ns since the epoch. */
  readonly from: bigint;
  /** Exclusive upper bound, ns since the epoch. */
  readonly to: bigint;
  /** Levels to keep (default: all). */
  readonly levels?: readonly Level[];
  /** Keep entries whose service is one of these (default: any). */
  readonly services?: readonly string[];
  readonly servers?: readonly string[];
  readonly regions?: readonly string[];
  /**
   * Stream label matchers, as in LogQL: every one must hold. Regexes are
   * fully anchored. Any label name: service, server and region are columns,
   * every other name is looked up in the stream's other labels (a missing
   * label reads as '', as in Prometheus and Loki).
   */
  readonly labels?: readonly LabelMatcher[];
  /** Structured metadata matchers (Loki 3's `| name="value"` on metadata): every one must hold; missing reads as ''. */
  readonly metadata?: readonly LabelMatcher[];
  /** Message contains this text. */
  readonly contains?: { readonly text: string; readonly caseSensitive?: boolean };
  /** Message matches this regular expression (JavaScript syntax). */
  readonly regex?: string;
  /** Line filters, as in LogQL: every one must hold, in order. */
  readonly lineFilters?: readonly LineFilter[];
  /** 'forward' = oldest first (default), 'backward' = newest first. */
  readonly direction?: 'forward' | 'backward';
  /** At most this many entries (default 1000, at most 100 000). */
  readonly limit?: number;
  /** Continue after the last entry of a previous page (its `nextCursor`). */
  readonly cursor?: string;
}

export const MAX_LIMIT = 100_000;

/** The labels that are columns of their own. */
export type LabelName = 'service' | 'server' | 'region';
export interface LabelMatcher {
  /** service, server, region, or any other stream label (or metadata) name. */
  readonly name: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

export interface LineFilter {
  /** |= contains, != does not contain, |~ matches, !~ does not match. */
  readonly op: '|=' | '!=' | '|~' | '!~';
  readonly value: string;
  /** For |= and !=: compare case-insensitively. */
  readonly caseInsensitive?: boolean;
}

/** A compiled line filter: true when the message passes. */
type LinePredicate = (message: string) => boolean;

/** A query checked and reduced to what the engine evaluates. */
export interface PlannedQuery {
  readonly from: bigint;
  readonly to: bigint;
  /** Bit l set when level l is wanted. */
  readonly levelMask: number;
  /** Per label, the names it accepts (null: any). */
  readonly services: LabelPredicate | null;
  readonly servers: LabelPredicate | null;
  readonly regions: LabelPredicate | null;
  /** Over the stream's other labels, encoded (model/labels.ts; '' for none); null: any. */
  readonly labelSet: LabelPredicate | null;
  /** Over the entry's structured metadata, encoded; null: any. */
  readonly metadata: LabelPredicate | null;
  readonly lines: readonly LinePredicate[];
  /**
   * UTF-8 bytes every matching message contains (its case-sensitive |=
   * filters): a frame of messages without one of them is skipped before any
   * message in it is decoded.
   */
  readonly required: readonly Uint8Array[];
  readonly backward: boolean;
  readonly limit: number;
  readonly after: Position | null;
}

/** Whether a label value is accepted. */
export type LabelPredicate = (value: string) => boolean;

/** Where an entry sits in the total order: (ts, source, seq). */
export interface Position {
  readonly ts: bigint;
  readonly source: string;
  readonly seq: bigint;
}

function invalid(message: string, field: string): TributaryError {
  return new TributaryError('E_QUERY_INVALID', message, { field });
}

export function planQuery(q: LogQuery): PlannedQuery {
  if (typeof q.from !== 'bigint' || typeof q.to !== 'bigint') throw invalid('from and to must be bigint nanoseconds', 'from');
  if (q.to <= q.from) throw invalid(`empty time range: to (${q.to}) must be after from (${q.from})`, 'to');
  let levelMask = 0b1111;
  if (q.levels !== undefined) {
    levelMask = 0;
    for (const l of q.levels) {
      if (!Number.isInteger(l) || l < 0 || l > MAX_LEVEL) throw invalid(`unknown level ${String(l)}`, 'levels');
      levelMask |= 1 << l;
    }
  }
  const limit = q.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw invalid(`limit must be 1-${MAX_LIMIT}, got ${limit}`, 'limit');
  const matchers: LabelMatcher[] = [...(q.labels ?? [])];
  const sets: [LabelName, readonly string[] | undefined][] = [
    ['service', q.services],
    ['server', q.servers],
    ['region', q.regions],
  ];
  const lines: LinePredicate[] = [];
  if (q.contains !== undefined && q.contains.text !== '')
    lines.push(compileLine({ op: '|=', value: q.contains.text, caseInsensitive: q.contains.caseSensitive === false }));
  if (q.regex !== undefined) lines.push(compileLine({ op: '|~', value: q.regex }));
  for (const f of q.lineFilters ?? []) lines.push(compileLine(f));
  const required = [
    ...(q.contains !== undefined && q.contains.text !== '' && q.contains.caseSensitive !== false ? [q.contains.text] : []),
    ...(q.lineFilters ?? []).filter((f) => f.op === '|=' && !f.caseInsensitive && f.value !== '').map((f) => f.value),
  ].map((text) => new Uint8Array(Buffer.from(text, 'utf8')));
  const labelPredicate = (name: LabelName): LabelPredicate | null => {
    const preds: LabelPredicate[] = [];
    for (const [n, set] of sets)
      if (n === name && set !== undefined)
        preds.push(
          (
            (s) => (v: string) =>
              s.has(v)
          )(new Set(set)),
        );
    for (const m of matchers) if (m.name === name) preds.push(compileLabel(m));
    if (preds.length === 0) return null;
    return preds.length === 1 ? preds[0]! : (v) => preds.every((p) => p(v));
  };
  for (const m of [...matchers, ...(q.metadata ?? [])])
    if (typeof m.name !== 'string' || !isLabelName(m.name))
      throw invalid(`label name ${JSON.stringify(m.name)} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`, 'labels');
  const others = matchers.filter((m) => !isColumnLabel(m.name));
  return {
    from: q.from,
    to: q.to,
    levelMask,
    services: labelPredicate('service'),
    servers: labelPredicate('server'),
    regions: labelPredicate('region'),
    labelSet: pairsPredicate(others),
    metadata: pairsPredicate(q.metadata ?? []),
    lines,
    required,
    backward: q.direction === 'backward',
    limit,
    after: q.cursor === undefined ? null : decodeCursor(q.cursor),
  };
}

export function isColumnLabel(name: string): name is LabelName {
  return name === 'service' || name === 'server' || name === 'region';
}

/** A predicate over an encoded set of pairs: every matcher must hold on its name's value ('' when missing). */
function pairsPredicate(matchers: readonly LabelMatcher[]): LabelPredicate | null {
  if (matchers.length === 0) return null;
  const compiled = matchers.map((m) => ({ name: m.name, test: compileLabel(m) }));
  return (encoded) => {
    for (const c of compiled) if (!c.test(pairValue(encoded, c.name) ?? '')) return false;
    return true;
  };
}

/** Compares two entries' positions in the total order. */
export function comparePositions(a: Position, b: Position): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  if (a.source !== b.source) return a.source < b.source ? -1 : 1;
  return a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1;
}

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.ts.toString(), p.source, p.seq.toString()])).toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  try {
    const [ts, source, seq] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string, string];
    if (typeof source !== 'string') throw new Error('source');
    return { ts: BigInt(ts), source, seq: BigInt(seq) };
  } catch {
    throw invalid('malformed cursor', 'cursor');
  }
}

/** True when the message passes every line filter. */
export function matchesMessage(q: PlannedQuery, message: string): boolean {
  for (const p of q.lines) if (!p(message)) return false;
  return true;
}

/**
 * A JavaScript RegExp for a LogQL (RE2) pattern. A leading `(?i)`, the RE2
 * inline flag Loki users write for case-insensitive matching, becomes the
 * `i` flag (JavaScript on Node 20 has no inline flags).
 */
export function toRegExp(source: string, anchored = false): RegExp {
  const ci = source.startsWith('(?i)');
  const body = ci ? source.slice(4) : source;
  return new RegExp(anchored ? `^(?:${body})$` : body, ci ? 'i' : '');
}

function regexOf(source: string, field: string, anchored: boolean): RegExp {
  try {
    return toRegExp(source, anchored);
  } catch (err) {
    throw invalid(`bad regular expression ${JSON.stringify(source)}: ${(err as Error).message}`, field);
  }
}

function compileLine(f: LineFilter): LinePredicate {
  switch (f.op) {
    case '|=':
    case '!=': {
      const want = f.op === '|=';
      if (f.caseInsensitive) {
        const v = f.value.toLowerCase();
        return (m) => m.toLowerCase().includes(v) === want;
      }
      return (m) => m.includes(f.value) === want;
    }
    case '|~':
    case '!~': {
      const re = regexOf(f.value, 'regex', false);
      const want = f.op === '|~';
      return (m) => re.test(m) === want;
    }
    default:
      throw invalid(`unknown line filter ${String((f as LineFilter).op)}`, 'lineFilters');
  }
}

/** Label regexes are fully anchored, as in Prometheus and Loki. */
function compileLabel(m: LabelMatcher): LabelPredicate {
  switch (m.op) {
    case '=':
      return (v) => v === m.value;
    case '!=':
      return (v) => v !== m.value;
    case '=~': {
      const re = regexOf(m.value, 'labels', true);
      return (v) => re.test(v);
    }
    case '!~': {
      const re = regexOf(m.value, 'labels', true);
      return (v) => !re.test(v);
    }
    default:
      throw invalid(`unknown label operator ${String((m as LabelMatcher).op)}`, 'labels');
  }
}

export interface QueryResult {
  readonly entries: IdentifiedEntry[];
  /** Present when the limit was reached: pass it as `cursor` for the next page. */
  readonly nextCursor?: string;
  /**
   * Present when the answer is incomplete: the entries are correct and in
   * order, but some that match may be missing (a timeout, the memory bound,
   * a shard that did not answer). Never silently incomplete.
   */
  readonly partial?: { readonly reasons: string[] };
  readonly stats: QueryStats;
}

/** What one query may spend. */
export interface QueryBudget {
  /** performance.now() after which the scan stops with what it has. */
  readonly deadline: number;
  /** Bytes of messages a result may hold before the scan stops. */
  readonly maxBytes: number;
}

export const DEFAULT_BUDGET_MS = 5_000;
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024 * 1024;

export interface QueryStats {
  blocksTotal: number;
  blocksScanned: number;
  pagesScanned: number;
  /** Message frames decompressed (a version 1-2 page counts as one frame). */
  framesRead: number;
  memtableBatches: number;
  entriesExamined: number;
}
