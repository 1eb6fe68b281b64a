import { createHash } from 'node:crypto';
import { HOUR_NS, rng, type RealisticFleet } from '../lib/realistic.js';

/**
 * The query shapes of `npm run bench:peers`, each drawn 100 times from a
 * seed, and how an answer is reduced so answers can be compared across
 * systems. Limit 1000 sorted by ts unless said otherwise.
 */
export type Shape = 'service_1m' | 'warn_5m' | 'region_1m' | 'server_hour' | 'all_10s' | 'count_by_level' | 'substring_1m';

export const SHAPES: readonly { shape: Shape; title: string }[] = [
  { shape: 'service_1m', title: 'one service over 1 minute' },
  { shape: 'warn_5m', title: 'level >= WARN in 5 minutes' },
  { shape: 'region_1m', title: 'one region over 1 minute' },
  { shape: 'server_hour', title: 'one server over the whole hour' },
  { shape: 'all_10s', title: 'everything in 10 s' },
  { shape: 'count_by_level', title: 'count by level per minute, one service' },
  { shape: 'substring_1m', title: 'a substring in 1 minute' },
];

export interface Draw {
  readonly shape: Shape;
  /** [from, to) in ns, as decimal strings (JSON). */
  readonly from: string;
  readonly to: string;
  readonly service?: string;
  readonly region?: string;
  readonly server?: string;
  readonly text?: string;
  readonly limit: number;
}

const MINUTE = 60_000_000_000n;
const SECOND = 1_000_000_000n;

/** The seeded draws: `perShape` of each shape. Substrings are words taken from the fleet's own messages. */
export function drawQueries(fleet: RealisticFleet, perShape: number, seed = 7): Draw[] {
  const r = rng(seed);
  const start = fleet.startNs;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const at = (span: bigint) => start + BigInt(Math.floor(r() * Number((HOUR_NS - span) / SECOND))) * SECOND;
  // Words of five or more letters from a sample of messages: what someone would search for.
  const words: string[] = [];
  const sample = new RealisticFleetSample(fleet, 2000);
  for (const m of sample.messages) for (const w of m.split(/[^A-Za-z]+/)) if (w.length >= 5) words.push(w);
  const out: Draw[] = [];
  for (const { shape } of SHAPES) {
    for (let i = 0; i < perShape; i++) {
      switch (shape) {
        case 'service_1m': {
          const f = at(MINUTE);
          out.push({ shape, from: String(f), to: String(f + MINUTE), service: pick(fleet.services), limit: 1000 });
          break;
        }
        case 'warn_5m': {
          const f = at(5n * MINUTE);
          out.push({ shape, from: String(f), to: String(f + 5n * MINUTE), limit: 1000 });
          break;
        }
        case 'region_1m': {
          const f = at(MINUTE);
          out.push({ shape, from: String(f), to: String(f + MINUTE), region: pick(fleet.regions), limit: 1000 });
          break;
        }
        case 'server_hour':
          // The whole hour, widened by the clock skew: all of the server's rows (about 1,000).
          out.push({ shape, from: String(start - 10n * SECOND), to: String(start + HOUR_NS + 10n * SECOND), server: pick(fleet.servers), limit: 5000 });
          break;
        case 'all_10s': {
          const f = at(10n * SECOND);
          out.push({ shape, from: String(f), to: String(f + 10n * SECOND), limit: 1000 });
          break;
        }
        case 'count_by_level':
          out.push({ shape, from: String(start), to: String(start + HOUR_NS), service: pick(fleet.services), limit: 0 });
          break;
        case 'substring_1m': {
          const f = at(MINUTE);
          out.push({ shape, from: String(f), to: String(f + MINUTE), text: pick(words), limit: 1000 });
          break;
        }
      }
    }
  }
  return out;
}

/** A few thousand messages of the fleet, for drawing search words. */
class RealisticFleetSample {
  readonly messages: string[] = [];
  constructor(fleet: RealisticFleet, n: number) {
    const every = Math.max(1, Math.floor(fleet.options.entries / n));
    fleet.forEach((e, i) => {
      if (i % every === 0) this.messages.push(e.message);
    });
  }
}

/** One row of a log answer, as every system returns it. */
export interface Row {
  readonly ts: string;
  readonly server: string;
  readonly level: number;
  readonly message: string;
}

/**
 * An answer reduced for comparison: its timestamps in order (exact), and a
 * hash of its rows as a set, leaving out the rows at the last timestamp
 * (where a limit cuts between equal timestamps, systems may keep different
 * ones: each breaks ties its own way). Count answers: their sorted cells.
 */
export function digestRows(rows: readonly Row[]): { n: number; ts: string; rows: string } {
  const ts = createHash('sha1');
  for (const r of rows) ts.update(`${r.ts},`);
  const last = rows.at(-1)?.ts;
  const keys = rows
    .filter((r) => r.ts !== last)
    .map((r) => `${r.ts}\u0000${r.server}\u0000${r.level}\u0000${r.message}`)
    .sort();
  return { n: rows.length, ts: ts.digest('hex').slice(0, 16), rows: createHash('sha1').update(keys.join('\u0001')).digest('hex').slice(0, 16) };
}

export function digestCounts(cells: readonly { minute: number; level: number; count: number }[]): { n: number; ts: string; rows: string } {
  const keys = cells
    .filter((c) => c.count > 0)
    .map((c) => `${c.minute}:${c.level}:${c.count}`)
    .sort();
  const h = createHash('sha1').update(keys.join(',')).digest('hex').slice(0, 16);
  return { n: keys.length, ts: h, rows: h };
}

export type Digest = ReturnType<typeof digestRows>;

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

/** One draw as a Tributary HTTP request: LogQL over the query API. */
export function tributaryRequest(d: Draw): string {
  // A minute's deadline rather than the API's 5 s default: a slow shape is measured, not cut short (a cut answer is partial, and fails the run).
  const q = (query: string, limit: number) =>
    `/api/v1/query?${new URLSearchParams({ query, from: d.from, to: d.to, limit: String(limit), direction: 'forward', timeout_ms: '60000' })}`;
  switch (d.shape) {
    case 'service_1m':
      return q(`{service=${JSON.stringify(d.service)}}`, d.limit);
    case 'warn_5m':
      return q('{} | level >= WARN', d.limit);
    case 'region_1m':
      return q(`{region=${JSON.stringify(d.region)}}`, d.limit);
    case 'server_hour':
      return q(`{server=${JSON.stringify(d.server)}}`, d.limit);
    case 'all_10s':
      return q('{}', d.limit);
    case 'substring_1m':
      return q(`{} |= ${JSON.stringify(d.text)}`, d.limit);
    case 'count_by_level':
      return `/api/v1/query_range?${new URLSearchParams({ query: `sum by (level) (count_over_time({service=${JSON.stringify(d.service)}}[1m]))`, from: d.from, to: d.to, timeout_ms: '60000' })}`;
  }
}
