import type { IdentifiedEntry } from '../model/entry.js';
import { AnswerRows } from './answer-rows.js';
import { comparePositions, encodeCursor, type PlannedQuery, type QueryResult, type QueryStats } from './model.js';
import { emptyStats } from './scan.js';

/** A shard's answer to a log query, its rows as bytes (answer-rows.ts). */
export interface RowsAnswer {
  readonly rows: Uint8Array;
  readonly nextCursor?: string;
  readonly partial?: { readonly reasons: string[] };
  readonly stats: QueryStats;
}

/**
 * Merges shards' binary answers in the query's order up to its limit: a
 * binary heap of the answers' heads, compared on the timestamp column (then
 * source and seq, for ties), and only the rows returned are decoded. An
 * entry two answers both hold (the same position) is kept once.
 */
export function mergeRowAnswers(q: PlannedQuery, answers: readonly RowsAnswer[]): QueryResult {
  const rows = answers.map((a) => AnswerRows.open(a.rows));
  const sign = q.backward ? -1 : 1;
  const head = new Int32Array(rows.length);
  // before(a, b): answer a's head row comes first. Timestamps decide almost every comparison; positions are built only for ties.
  const before = (a: number, b: number): boolean => {
    const ta = rows[a]!.tsOf(head[a]!);
    const tb = rows[b]!.tsOf(head[b]!);
    if (ta !== tb) return sign * (ta < tb ? -1 : 1) < 0;
    const c = comparePositions(rows[a]!.position(head[a]!), rows[b]!.position(head[b]!));
    return c === 0 ? a < b : sign * c < 0;
  };
  const heap: number[] = [];
  for (let a = 0; a < rows.length; a++) if (rows[a]!.count > 0) heapPush(heap, a, before);
  const entries: IdentifiedEntry[] = [];
  while (entries.length < q.limit && heap.length > 0) {
    const a = heap[0]!;
    const r = rows[a]!;
    const i = head[a]!;
    const prev = entries.at(-1);
    if (!prev || comparePositions(prev, r.position(i)) !== 0) entries.push(r.entry(i));
    if (i + 1 < r.count) {
      head[a] = i + 1;
      heapDown(heap, 0, before);
    } else {
      heapPop(heap, before);
    }
  }
  return mergedAnswer(q, entries, answers);
}

/** What merged answers come to, around the entries taken: more to read (a cursor), why partial, the summed statistics. */
export function mergedAnswer(
  q: PlannedQuery,
  entries: IdentifiedEntry[],
  answers: readonly { readonly nextCursor?: string; readonly partial?: { readonly reasons: string[] }; readonly stats: QueryStats }[],
): QueryResult {
  const reasons = answers.flatMap((a) => a.partial?.reasons ?? []);
  const more = entries.length === q.limit || answers.some((a) => a.nextCursor !== undefined);
  const last = entries.at(-1);
  const stats: QueryStats = emptyStats();
  for (const a of answers) for (const k of Object.keys(stats) as (keyof QueryStats)[]) stats[k] += a.stats[k];
  return {
    entries,
    nextCursor: more && last ? encodeCursor(last) : undefined,
    partial: reasons.length > 0 ? { reasons } : undefined,
    stats,
  };
}

type Before = (a: number, b: number) => boolean;

function heapPush(heap: number[], x: number, before: Before): void {
  heap.push(x);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function heapPop(heap: number[], before: Before): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  heap[0] = last;
  heapDown(heap, 0, before);
}

function heapDown(heap: number[], i: number, before: Before): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let best = i;
    if (l < heap.length && before(heap[l]!, heap[best]!)) best = l;
    if (r < heap.length && before(heap[r]!, heap[best]!)) best = r;
    if (best === i) return;
    [heap[i], heap[best]] = [heap[best]!, heap[i]!];
    i = best;
  }
}
