import type { LogEntry } from '../model/entry.js';
import { murmur3 } from '../util/murmur3.js';

export interface ContentDedupOptions {
  /** How long a stored entry is remembered, at least (default 5 minutes)... */
  readonly windowMs?: number;
  /** ...unless this many entries arrive first (default 262,144 per generation: 4 MiB each, two generations). */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export interface ContentDedupStats {
  readonly remembered: number;
  readonly duplicatesDropped: number;
  /** Generations ended by size before their time: the window was shorter than windowMs. */
  readonly earlyRotations: number;
  readonly bytes: number;
}

/** Fingerprints of the entries a client sent in one request, to be remembered once stored. */
export interface Admission {
  /** The entries not seen before, in their original order. */
  readonly fresh: LogEntry[];
  readonly duplicates: number;
  /** Fingerprints of `fresh` (hi, lo pairs). */
  readonly prints: Uint32Array;
}

/**
 * Recognises a client's resend of identical entries (same timestamp, level,
 * stream and line) for protocols that carry no sequence numbers: Loki push,
 * OTLP, syslog. A resend happens when a client's request timed out after the
 * entries were stored; its retry then brings them again.
 *
 * Two-phase, so a failed write never makes a retry look like a duplicate:
 * `admit` filters a request, and only `remember`, called once the write is
 * acknowledged, records what was stored. Two identical requests in flight at
 * the same moment are both stored (neither is remembered yet).
 *
 * Memory and limits: 64-bit fingerprints in two generations of open-addressed
 * tables (maxEntries x 16 bytes each, half full at most). An entry is
 * remembered for at least windowMs unless maxEntries newer ones arrive
 * first, then the generation rotates early (counted in earlyRotations): a
 * resend later than that is stored twice. A fingerprint collision (two
 * different entries with the same 64 bits, about 1 in 10^7 at full tables)
 * would drop the later one. The tables live in memory: a resend across a
 * daemon restart is stored twice.
 */
export class ContentDedup {
  private readonly windowMs: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private current: Uint32Array;
  private previous: Uint32Array;
  private currentCount = 0;
  private previousCount = 0;
  private currentSince: number;
  private duplicatesDropped = 0;
  private earlyRotations = 0;

  constructor(options: ContentDedupOptions = {}) {
    this.windowMs = options.windowMs ?? 300_000;
    const maxEntries = options.maxEntries ?? 1 << 18;
    // Power-of-two slots, at least twice the entries: probes stay short.
    this.capacity = 2 ** Math.ceil(Math.log2(Math.max(16, maxEntries * 2)));
    this.current = new Uint32Array(this.capacity * 2);
    this.previous = new Uint32Array(this.capacity * 2);
    this.now = options.now ?? Date.now;
    this.currentSince = this.now();
  }

  /**
   * Filters a request given as fingerprints (hi, lo pairs, as a parse
   * thread computes them): `keep[i]` says whether entry i is new. To be
   * followed by {@link remember} with `prints` once the kept entries are stored.
   */
  admitPrints(all: Uint32Array): { keep: Uint8Array; duplicates: number; prints: Uint32Array } {
    this.rotateIfDue();
    const count = all.length / 2;
    const keep = new Uint8Array(count);
    const prints = new Uint32Array(all.length);
    // Duplicates within one request are resends too (a client retrying a part of a batch it also re-sent whole).
    const inRequest = new Set<string>();
    let n = 0;
    let duplicates = 0;
    for (let i = 0; i < count; i++) {
      const hi = all[2 * i]!;
      const lo = all[2 * i + 1]!;
      const key = `${hi}:${lo}`;
      if (this.has(this.current, hi, lo) || this.has(this.previous, hi, lo) || inRequest.has(key)) {
        duplicates++;
        continue;
      }
      inRequest.add(key);
      keep[i] = 1;
      prints[n++] = hi;
      prints[n++] = lo;
    }
    this.duplicatesDropped += duplicates;
    return { keep, duplicates, prints: prints.subarray(0, n) };
  }

  admit(entries: readonly LogEntry[]): Admission {
    const all = new Uint32Array(entries.length * 2);
    entries.forEach((e, i) => ([all[2 * i], all[2 * i + 1]] = fingerprint(e)));
    const { keep, duplicates, prints } = this.admitPrints(all);
    return { fresh: entries.filter((_, i) => keep[i] === 1), duplicates, prints };
  }

  /** Records an admission's entries as stored: from now on a resend of them is dropped. */
  remember(admission: { readonly prints: Uint32Array }): void {
    const p = admission.prints;
    for (let i = 0; i < p.length; i += 2) {
      if (this.currentCount * 2 >= this.capacity) this.rotate(true);
      if (this.insert(this.current, p[i]!, p[i + 1]!)) this.currentCount++;
    }
  }

  get stats(): ContentDedupStats {
    return {
      remembered: this.currentCount + this.previousCount,
      duplicatesDropped: this.duplicatesDropped,
      earlyRotations: this.earlyRotations,
      bytes: this.current.byteLength + this.previous.byteLength,
    };
  }

  private rotateIfDue(): void {
    if (this.now() - this.currentSince >= this.windowMs) this.rotate(false);
  }

  private rotate(early: boolean): void {
    if (early) this.earlyRotations++;
    const old = this.previous;
    this.previous = this.current;
    old.fill(0);
    this.current = old;
    this.previousCount = this.currentCount;
    this.currentCount = 0;
    this.currentSince = this.now();
  }

  private has(table: Uint32Array, hi: number, lo: number): boolean {
    const mask = this.capacity - 1;
    for (let slot = lo & mask; ; slot = (slot + 1) & mask) {
      const h = table[slot * 2]!;
      const l = table[slot * 2 + 1]!;
      if (h === 0 && l === 0) return false;
      if (h === hi && l === lo) return true;
    }
  }

  private insert(table: Uint32Array, hi: number, lo: number): boolean {
    const mask = this.capacity - 1;
    for (let slot = lo & mask; ; slot = (slot + 1) & mask) {
      const h = table[slot * 2]!;
      const l = table[slot * 2 + 1]!;
      if (h === hi && l === lo) return false;
      if (h === 0 && l === 0) {
        table[slot * 2] = hi;
        table[slot * 2 + 1] = lo;
        return true;
      }
    }
  }
}

/** 64 bits over every field that makes an entry what it is; (0, 0) marks an empty slot, so it is never a fingerprint. */
export function fingerprint(e: LogEntry): [number, number] {
  return fingerprintOf(e.ts, e.level, e.service, e.server, e.region, e.message);
}

export function fingerprintOf(
  ts: bigint,
  level: number,
  service: string,
  server: string,
  region: string,
  message: string,
  labels = '',
  meta = '',
): [number, number] {
  // Label sets are appended only when present, so entries without them keep the fingerprints they always had.
  let key = `${ts}\u0000${level}\u0000${service}\u0000${server}\u0000${region}\u0000${message}`;
  if (labels !== '' || meta !== '') key += `\u0001${labels}\u0001${meta}`;
  const hi = murmur3(key, 0x9747b28c);
  const lo = murmur3(key, 0x5bd1e995);
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}
