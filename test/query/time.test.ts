import test from 'ava';
import fc from 'fast-check';
import { formatTime, parseDuration, parseTime } from '../../src/query/time.js';

const NOW = 1_763_758_800_000_000_000n; // 2025-11-21T21:00:00Z

test('every accepted form', (t) => {
  t.is(parseTime('now', 'from', NOW), NOW);
  t.is(parseTime('now-15m', 'from', NOW), NOW - 900_000_000_000n);
  t.is(parseTime('1763758800000000000', 'from'), NOW);
  t.is(parseTime('1763758800.5', 'from'), NOW + 500_000_000n);
  t.is(parseTime('2025-11-21T21:00:00Z', 'from'), NOW);
  t.is(parseTime('2025-11-21T21:00:00.123456789Z', 'from'), NOW + 123_456_789n);
  t.is(parseTime('2025-11-21T22:00:00+01:00', 'from'), NOW);
  t.is(parseDuration('1h30m'), 5_400_000_000_000n);
});

test('bad times and durations are E_QUERY_INVALID naming the field', (t) => {
  for (const bad of ['yesterday', 'now-15x', '2025-13-45T00:00:00Z', '', '12:00']) {
    const err = t.throws(() => parseTime(bad, 'to'));
    t.is((err as { code?: string }).code, 'E_QUERY_INVALID', bad);
    t.is((err as { context?: { field?: string } }).context?.field, 'to');
  }
  t.throws(() => parseDuration('15'));
  t.throws(() => parseDuration('1h 30m'));
});

test('formatTime and parseTime round-trip at nanosecond precision (property)', (t) => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n }), (ns) => parseTime(formatTime(ns), 'x') === ns));
  t.pass();
});
