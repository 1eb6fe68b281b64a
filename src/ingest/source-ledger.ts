import { SeqSet, type SourceReport } from '../index/dedup.js';

/** What a front door saw of one numbered source's batches. */
export interface SourceCounters {
  /** Entries in batches that reached the door (resends counted again). */
  received: number;
  /** Entries in batches acknowledged to the sender as durable. */
  acknowledged: number;
  /** Entries in batches refused as bad input (not retriable: the sender drops them). */
  refused: number;
  /** Entries in batches that failed for a passing reason (the sender resends them). */
  failed: number;
  lastSeen: number;
}

/**
 * The edge's half of loss accounting: per numbered source, what arrived and
 * what was answered. The shards hold the other half (what is stored, what
 * was a repeat, which numbers never arrived); the two together say where an
 * entry went. Bounded: past `maxSources` the source seen longest ago is
 * forgotten (counted in `evicted`), so a flood of one-off source ids cannot
 * grow it without end.
 */
export class SourceLedger {
  private readonly sources = new Map<string, SourceCounters>();
  private evictedCount = 0;

  constructor(private readonly maxSources = 100_000) {}

  received(source: string, entries: number): void {
    this.touch(source).received += entries;
  }

  acknowledged(source: string, entries: number): void {
    this.touch(source).acknowledged += entries;
  }

  refused(source: string, entries: number): void {
    this.touch(source).refused += entries;
  }

  failed(source: string, entries: number): void {
    this.touch(source).failed += entries;
  }

  get(source: string): Readonly<SourceCounters> | undefined {
    return this.sources.get(source);
  }

  /** Sources forgotten to stay within the bound. */
  get evicted(): number {
    return this.evictedCount;
  }

  get size(): number {
    return this.sources.size;
  }

  /** Sources whose id starts with `prefix`, in id order. */
  list(prefix = ''): [string, Readonly<SourceCounters>][] {
    return [...this.sources].filter(([id]) => id.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The source's counters, moved to the most recently seen end (Map order is the eviction order). */
  private touch(source: string): SourceCounters {
    let c = this.sources.get(source);
    if (c) this.sources.delete(source);
    else c = { received: 0, acknowledged: 0, refused: 0, failed: 0, lastSeen: 0 };
    c.lastSeen = Date.now();
    this.sources.set(source, c);
    if (this.sources.size > this.maxSources) {
      this.sources.delete(this.sources.keys().next().value!);
      this.evictedCount++;
    }
    return c;
  }
}

/** One source, end to end: the door's counters and the shards' (see SourceReport). */
export interface SourceAccount extends SourceReport {
  readonly received: number;
  readonly acknowledged: number;
  readonly refused: number;
  readonly failed: number;
}

/**
 * Joins the shards' reports with the ledger. A source is stored by one
 * shard, but a ring change can send its later batches to another: reports
 * of one id are summed and their holes recomputed from the union. Sources
 * the door saw but no shard stores (every batch refused, or forgotten by
 * the shards' idle window) are listed with zero stored.
 */
export function accountSources(ledger: SourceLedger, reports: readonly SourceReport[], prefix = '', limit = 1000): SourceAccount[] {
  const byId = new Map<string, SourceReport>();
  for (const r of reports) {
    const prev = byId.get(r.source);
    byId.set(r.source, prev ? mergeReports(prev, r) : r);
  }
  for (const [id, c] of ledger.list(prefix)) {
    if (!byId.has(id)) byId.set(id, { source: id, stored: 0, duplicates: 0, end: 0, gaps: 0, missing: [], lastSeen: c.lastSeen });
  }
  const ids = [...byId.keys()].filter((id) => id.startsWith(prefix)).sort();
  return ids.slice(0, limit).map((id) => {
    const c = ledger.get(id);
    return { ...byId.get(id)!, received: c?.received ?? 0, acknowledged: c?.acknowledged ?? 0, refused: c?.refused ?? 0, failed: c?.failed ?? 0 };
  });
}

/**
 * Two shards' reports of one source (a sender that routed one source to two
 * shards; every sender here numbers per shard, so this is rare): a number
 * is missing only if neither holds it. Holes beyond the first 16 of each
 * report are not known here, so the merged holes are a lower bound.
 */
function mergeReports(a: SourceReport, b: SourceReport): SourceReport {
  const end = Math.max(a.end, b.end);
  // What either holds: each report's complement of its holes, below its own end.
  const held = new SeqSet();
  for (const r of [a, b]) {
    const holes = new SeqSet();
    for (const [f, t] of r.missing) holes.add(f, t);
    for (const [f, t] of holes.missing(0, r.end)) held.add(f, t);
  }
  const both = held.missing(0, end);
  return {
    source: a.source,
    stored: a.stored + b.stored,
    duplicates: a.duplicates + b.duplicates,
    end,
    gaps: both.reduce((n, [f, t]) => n + (t - f), 0),
    missing: both.slice(0, 16),
    lastSeen: Math.max(a.lastSeen, b.lastSeen),
  };
}
