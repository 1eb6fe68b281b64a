import { TributaryError } from '../errors.js';
import type { IdentifiedEntry } from '../model/entry.js';
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
  /** Message contains this text. */
  readonly contains?: { readonly text: string; readonly caseSensitive?: boolean };
  /** Message matches this regular expression (JavaScript syntax). */
  readonly regex?: string;
  /** 'forward' = oldest first (default), 'backward' = newest first. */
  readonly direction?: 'forward' | 'backward';
  /** At most this many entries (default 1000, at most 100 000). */
  readonly limit?: number;
  /** Continue after the last entry of a previous page (its `nextCursor`). */
  readonly cursor?: string;
}

export const MAX_LIMIT = 100_000;

/** A query checked and reduced to what the engine evaluates. */
export interface PlannedQuery {
  readonly from: bigint;
  readonly to: bigint;
  /** Bit l set when level l is wanted. */
  readonly levelMask: number;
  readonly services: ReadonlySet<string> | null;
  readonly servers: ReadonlySet<string> | null;
  readonly regions: ReadonlySet<string> | null;
  readonly text: string | null;
  readonly caseSensitive: boolean;
  readonly regex: RegExp | null;
  readonly backward: boolean;
  readonly limit: number;
  readonly after: Position | null;
}

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
  let regex: RegExp | null = null;
  if (q.regex !== undefined) {
    try {
      regex = new RegExp(q.regex);
    } catch (err) {
      throw invalid(`bad regular expression: ${(err as Error).message}`, 'regex');
    }
  }
  const caseSensitive = q.contains?.caseSensitive ?? true;
  const text = q.contains === undefined || q.contains.text === '' ? null : caseSensitive ? q.contains.text : q.contains.text.toLowerCase();
  const set = (xs: readonly string[] | undefined) => (xs === undefined ? null : new Set(xs));
  return {
    from: q.from,
    to: q.to,
    levelMask,
    services: set(q.services),
    servers: set(q.servers),
    regions: set(q.regions),
    text,
    caseSensitive,
    regex,
    backward: q.direction === 'backward',
    limit,
    after: q.cursor === undefined ? null : decodeCursor(q.cursor),
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

/** True when the entry's message (and level, labels) pass the query's filters. Time is checked by the caller. */
export function matchesMessage(q: PlannedQuery, message: string): boolean {
  if (q.text !== null && !(q.caseSensitive ? message.includes(q.text) : message.toLowerCase().includes(q.text))) return false;
  if (q.regex !== null && !q.regex.test(message)) return false;
  return true;
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
  memtableBatches: number;
  entriesExamined: number;
}
