import { TributaryError } from '../errors.js';

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

/** "15m", "1h30m", "500ms" in nanoseconds. */
export function parseDuration(text: string, field = 'duration'): bigint {
  const parts = [...text.matchAll(/(\d+)(ns|us|µs|ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new TributaryError('E_QUERY_INVALID', `bad duration ${JSON.stringify(text)}: use forms like 30s, 15m, 1h30m`, { field, value: text });
  }
  return parts.reduce((a, p) => a + BigInt(p[1]!) * UNITS[p[2]!]!, 0n);
}

/** The wall clock in nanoseconds since the epoch. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * A point in time as users write it, in nanoseconds since the epoch:
 * integer nanoseconds ("1700000000000000000"), seconds with a fraction
 * ("1700000000.5", as Grafana sends), RFC 3339 with up to nanosecond
 * precision ("2026-11-21T21:00:00.123456789Z"), "now", or "now-15m".
 */
export function parseTime(text: string, field: string, now: bigint = nowNs()): bigint {
  const t = text.trim();
  if (t === 'now') return now;
  const rel = /^now-(.+)$/.exec(t);
  if (rel) return now - parseDuration(rel[1]!, field);
  if (/^\d{16,19}$/.test(t)) return BigInt(t);
  const secs = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(t);
  if (secs) return BigInt(secs[1]!) * 1_000_000_000n + BigInt((secs[2] ?? '').padEnd(9, '0'));
  const iso = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(t);
  if (iso) {
    const ms = Date.parse(`${iso[1]}${iso[3]}`);
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + BigInt((iso[2] ?? '').padEnd(9, '0'));
  }
  throw new TributaryError('E_QUERY_INVALID', `bad time ${JSON.stringify(text)} for ${field}: use RFC 3339, nanoseconds, seconds, now or now-15m`, {
    field,
    value: text,
  });
}

// The last second formatted: answers list entries in time order, so most share the second before them.
let lastSecond: bigint | undefined;
let lastPrefix = '';

/** RFC 3339 with nanoseconds, in UTC. */
export function formatTime(ns: bigint): string {
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const second = ns - frac;
  if (second !== lastSecond) {
    lastPrefix = new Date(Number(second / 1_000_000n)).toISOString().slice(0, 19); // ...:SS
    lastSecond = second;
  }
  return `${lastPrefix}.${frac.toString().padStart(9, '0')}Z`;
}
