import type { SourceAccount } from '../ingest/source-ledger.js';
import type { SourceCommit } from './checkpoint.js';

/** One source: what the collector committed against what the daemon stores. */
export interface SourceDelivery {
  readonly source: string;
  readonly path: string;
  /** Numbers below this were acknowledged to the collector, or put in its disk buffer. */
  readonly committed: number;
  readonly stored: number;
  readonly duplicates: number;
  /** Committed numbers the daemon does not hold: buffered still, or lost. */
  readonly notStored: number;
  /** The first of those ranges [from, to). */
  readonly missing: [number, number][];
}

export interface DeliveryReport {
  readonly sources: SourceDelivery[];
  readonly committed: number;
  readonly notStored: number;
}

/**
 * Compares a collector's checkpoint with the daemon's source accounts. A
 * number the collector committed (acknowledged, or buffered on its disk)
 * that no shard holds is either still in the collector's buffer or lost;
 * with the collector stopped and its buffer empty, `notStored === 0` proves
 * every line it read was stored. Holes the daemon reports above `committed`
 * belong to batches still in flight and are not counted.
 */
export function verifyDelivery(commits: readonly SourceCommit[], accounts: readonly SourceAccount[]): DeliveryReport {
  const byId = new Map(accounts.map((a) => [a.source, a]));
  let committed = 0;
  let notStored = 0;
  const sources = commits.map((c) => {
    const a = byId.get(c.source);
    const missing: [number, number][] = [];
    for (const [f, t] of a?.missing ?? []) if (f < c.committed) missing.push([f, Math.min(t, c.committed)]);
    const end = a?.end ?? 0;
    if (end < c.committed) missing.push([end, c.committed]);
    // Every hole counts when all of them lie below `committed` (the total is exact); otherwise
    // the listed ones, cut at `committed` (exact unless the source has more than 16 holes).
    const holesBelow = !a ? 0 : end <= c.committed ? a.gaps : missing.reduce((n, [f, t]) => n + (t - f), 0);
    const missed = holesBelow + Math.max(0, c.committed - end);
    committed += c.committed;
    notStored += missed;
    return {
      source: c.source,
      path: c.path,
      committed: c.committed,
      stored: a?.stored ?? 0,
      duplicates: a?.duplicates ?? 0,
      notStored: missed,
      missing: missing.slice(0, 16),
    };
  });
  return { sources, committed, notStored };
}
