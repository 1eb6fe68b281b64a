import type { IdentifiedEntry } from '../model/entry.js';
import { comparePositions, encodeCursor, type PlannedQuery, type QueryBudget, type QueryResult, type QueryStats } from './model.js';

/**
 * A sorted run, opened lazily: `bound` is the earliest timestamp it can
 * yield in the query's direction (a block's minTs going forward, its maxTs
 * going backward), so the merge opens a block only when its frontier gets
 * there and a limited query reads only the pages it needs.
 */
export interface Run {
  readonly bound: bigint;
  readonly open: () => Iterator<IdentifiedEntry>;
  it?: Iterator<IdentifiedEntry>;
  head?: IdentifiedEntry;
}

/**
 * Heap bytes an entry of a result holds, generously: the object and its two
 * BigInts (~150 bytes), the message at up to two bytes a character; label
 * and source strings are shared with the dictionary. Counted so the query's
 * byte bound keeps it well inside the thread's heap limit (measured: a
 * 100,000-entry query counted at message length + 64 ran a shard thread
 * with a 64 MiB heap out of memory).
 */
export function entryBytes(e: IdentifiedEntry): number {
  let n = 160 + 2 * e.message.length;
  // Label sets are shared between a stream's entries; metadata is the entry's own.
  if (e.metadata !== undefined) for (const k in e.metadata) n += 48 + 2 * (k.length + e.metadata[k]!.length);
  return n;
}

/**
 * k-way merge of sorted runs, in the query's direction, up to its limit.
 * Pending runs are opened, in bound order, only while their bound could
 * precede the best head among the open runs.
 */
export function mergeRuns(runs: Run[], q: PlannedQuery, stats: QueryStats, budget?: QueryBudget): QueryResult {
  const sign = q.backward ? -1 : 1;
  const earlier = (a: bigint, b: bigint) => (q.backward ? a > b : a < b);
  const pending = [...runs].sort((a, b) => (a.bound === b.bound ? 0 : earlier(a.bound, b.bound) ? -1 : 1));
  const live: Run[] = [];
  const advance = (r: Run): boolean => {
    const n = r.it!.next();
    if (n.done) return false;
    r.head = n.value;
    return true;
  };
  const entries: IdentifiedEntry[] = [];
  let bytes = 0;
  let stopped: string | undefined;
  while (entries.length < q.limit) {
    if (budget && (entries.length & 63) === 0 && performance.now() > budget.deadline) {
      stopped = 'timeout: the query ran out of time';
      break;
    }
    // Open every pending run that could hold something no later than the best open head.
    let best = -1;
    for (let i = 0; i < live.length; i++) if (best < 0 || sign * comparePositions(live[i]!.head!, live[best]!.head!) < 0) best = i;
    while (pending.length > 0 && (best < 0 || !earlier(live[best]!.head!.ts, pending[0]!.bound))) {
      const r = pending.shift()!;
      r.it = r.open();
      if (!advance(r)) continue;
      live.push(r);
      if (best < 0 || sign * comparePositions(r.head!, live[best]!.head!) < 0) best = live.length - 1;
    }
    if (best < 0) break;
    const run = live[best]!;
    entries.push(run.head!);
    bytes += entryBytes(run.head!);
    if (budget && bytes > budget.maxBytes) {
      stopped = `memory: the result reached the ${budget.maxBytes}-byte bound`;
      break;
    }
    if (!advance(run)) live.splice(best, 1);
  }
  const last = entries.at(-1);
  // A stopped scan still hands out a cursor, so the caller can continue from what it got.
  const more = entries.length === q.limit || stopped !== undefined;
  return { entries, nextCursor: more && last ? encodeCursor(last) : undefined, partial: stopped ? { reasons: [stopped] } : undefined, stats };
}
