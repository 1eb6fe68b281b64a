import fc from 'fast-check';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';

/** Arbitrary entries: any unicode, empty strings, the full int64 timestamp range. */
export const entryArb: fc.Arbitrary<LogEntry> = fc.record({
  ts: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  level: fc.integer({ min: 0, max: 3 }).map((l) => l as Level),
  service: fc.oneof(fc.constantFrom('api', 'db', ''), fc.string({ maxLength: 20, unit: 'grapheme' })),
  server: fc.oneof(fc.constantFrom('s1', 's2', 'api'), fc.string({ maxLength: 20 })),
  region: fc.oneof(fc.constantFrom('eu-1', 'us-2'), fc.string({ maxLength: 12, unit: 'binary' })),
  message: fc.oneof(fc.string({ maxLength: 200, unit: 'grapheme' }), fc.string({ maxLength: 50, unit: 'binary' }), fc.constant('')),
});

/** Lone surrogates are not representable in UTF-8; they come back as U+FFFD, as with any UTF-8 encoder. */
export function utf8RoundTrip(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

export function normalised(e: LogEntry): LogEntry {
  return {
    ts: e.ts,
    level: e.level,
    service: utf8RoundTrip(e.service),
    server: utf8RoundTrip(e.server),
    region: utf8RoundTrip(e.region),
    message: utf8RoundTrip(e.message),
  };
}

export function makeEntries(n: number, seed = 1): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      ts: 1_700_000_000_000_000_000n + BigInt(i * 1000 + seed),
      level: (i % 4) as Level,
      service: `svc-${i % 7}`,
      server: `srv-${i % 13}`,
      region: `region-${i % 3}`,
      message: `request ${i} took ${(i * 7) % 1000}ms status=${i % 5 === 0 ? 500 : 200}`,
    });
  }
  return out;
}
