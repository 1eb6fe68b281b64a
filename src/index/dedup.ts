/**
 * Which (source, seq) pairs a shard already stores. Per source, a sorted list
 * of disjoint, non-adjacent half-open intervals [from, to) of sequence
 * numbers. A source that sends in order (every collector and front door does)
 * costs one interval, however many entries it sent; gaps and reordering add
 * intervals until they are filled.
 *
 * Memory: about 100 bytes per source plus 16 per interval. Sources idle for
 * longer than the window are forgotten (see `expire`): a resend of their
 * entries after that is stored again. The window is documented as the limit
 * of exact deduplication.
 */
export class SeqSet {
  /** Flattened [from0, to0, from1, to1, ...], sorted, disjoint and not touching. */
  private readonly bounds: number[] = [];

  get intervals(): number {
    return this.bounds.length / 2;
  }

  /** Adds [from, to). */
  add(from: number, to: number): void {
    if (to <= from) return;
    const b = this.bounds;
    // Fast path: appending right after the last interval (in-order sender).
    const n = b.length;
    if (n > 0 && b[n - 1] === from) {
      b[n - 1] = to;
      return;
    }
    if (n === 0 || b[n - 1]! < from) {
      b.push(from, to);
      return;
    }
    // General case: merge with every interval that overlaps or touches [from, to).
    let i = 0;
    while (i < b.length && b[i + 1]! < from) i += 2;
    let j = i;
    let lo = from;
    let hi = to;
    while (j < b.length && b[j]! <= to) {
      lo = Math.min(lo, b[j]!);
      hi = Math.max(hi, b[j + 1]!);
      j += 2;
    }
    b.splice(i, j - i, lo, hi);
  }

  /** True if every seq in [from, to) is present. */
  containsAll(from: number, to: number): boolean {
    const b = this.bounds;
    for (let i = 0; i < b.length; i += 2) if (b[i]! <= from && to <= b[i + 1]!) return true;
    return false;
  }

  /** The sub-ranges of [from, to) that are NOT present, in order. */
  missing(from: number, to: number): [number, number][] {
    const out: [number, number][] = [];
    let cur = from;
    const b = this.bounds;
    for (let i = 0; i < b.length && cur < to; i += 2) {
      const lo = b[i]!;
      const hi = b[i + 1]!;
      if (hi <= cur) continue;
      if (lo >= to) break;
      if (lo > cur) out.push([cur, Math.min(lo, to)]);
      cur = Math.max(cur, hi);
    }
    if (cur < to) out.push([cur, to]);
    return out;
  }

  /** How many sequence numbers are present. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.bounds.length; i += 2) n += this.bounds[i + 1]! - this.bounds[i]!;
    return n;
  }

  /** One past the highest present (0 when empty). */
  get end(): number {
    return this.bounds.length === 0 ? 0 : this.bounds[this.bounds.length - 1]!;
  }

  toArray(): number[] {
    return [...this.bounds];
  }

  static fromArray(bounds: readonly number[]): SeqSet {
    const s = new SeqSet();
    for (let i = 0; i + 1 < bounds.length; i += 2) s.add(bounds[i]!, bounds[i + 1]!);
    return s;
  }
}

/**
 * What a shard knows of one source: what it stores and what it dropped as
 * repeats, and the holes in its numbering below the highest number seen.
 * Sources number from 0, so a hole is an entry sent (or a batch cut) that
 * never arrived: lost on the way, or still in a sender's buffer.
 */
export interface SourceReport {
  readonly source: string;
  /** Distinct sequence numbers stored. */
  readonly stored: number;
  /** Entries that arrived again and were not stored again (since this process started). */
  readonly duplicates: number;
  /** One past the highest sequence number stored. */
  readonly end: number;
  /** How many numbers below `end` are missing. */
  readonly gaps: number;
  /** The first missing ranges [from, to), at most 16. */
  readonly missing: [number, number][];
  /** When the source last sent (ms since the epoch). */
  readonly lastSeen: number;
}

export interface DedupStats {
  readonly sources: number;
  readonly intervals: number;
}

/** Seen sequence numbers for every source, with an idle window. */
export class Dedup {
  private readonly sources = new Map<string, { set: SeqSet; lastSeen: number; duplicates: number }>();

  constructor(private readonly windowMs: number) {}

  /** The ranges of [first, first + count) not yet stored for `source`. */
  missing(source: string, first: number, count: number): [number, number][] {
    const s = this.sources.get(source);
    return s ? s.set.missing(first, first + count) : [[first, first + count]];
  }

  add(source: string, from: number, to: number, now: number): void {
    let s = this.sources.get(source);
    if (!s) this.sources.set(source, (s = { set: new SeqSet(), lastSeen: now, duplicates: 0 }));
    s.set.add(from, to);
    s.lastSeen = Math.max(s.lastSeen, now);
  }

  /** Counts entries of `source` dropped as repeats. */
  noteDuplicates(source: string, n: number, now: number): void {
    const s = this.sources.get(source);
    if (!s) return;
    s.duplicates += n;
    s.lastSeen = Math.max(s.lastSeen, now);
  }

  /** Reports for the sources whose id starts with `prefix`, in id order, at most `limit`. */
  report(prefix = '', limit = 1000): SourceReport[] {
    const ids = [...this.sources.keys()].filter((k) => k.startsWith(prefix)).sort();
    return ids.slice(0, limit).map((id) => {
      const s = this.sources.get(id)!;
      const end = s.set.end;
      const missing = s.set.missing(0, end);
      return {
        source: id,
        stored: s.set.size,
        duplicates: s.duplicates,
        end,
        gaps: missing.reduce((a, [f, t]) => a + (t - f), 0),
        missing: missing.slice(0, 16),
        lastSeen: s.lastSeen,
      };
    });
  }

  /** Forgets sources not seen for the window. Returns how many were dropped. */
  expire(now: number): number {
    let dropped = 0;
    for (const [k, v] of this.sources) {
      if (now - v.lastSeen > this.windowMs) {
        this.sources.delete(k);
        dropped++;
      }
    }
    return dropped;
  }

  get stats(): DedupStats {
    let intervals = 0;
    for (const v of this.sources.values()) intervals += v.set.intervals;
    return { sources: this.sources.size, intervals };
  }

  /** Per source, its intervals (for a block footer). */
  snapshot(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [k, v] of this.sources) out[k] = v.set.toArray();
    return out;
  }
}
