import test from 'ava';
import type { AnomalyEvent } from '../../src/anomaly/detector-actor.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';
import { mulberry32 } from '../../src/util/mulberry32.js';

// The window and the stream: a baseline error share P, with bursts of
// BURST_LENGTH entries at BURST_SHARE errors, each far enough from the next
// for the flag to clear in between.
const N = 100;
const T = 3;
const P = 0.01;
const BURST_LENGTH = 30;
const BURST_SHARE = 0.5;
const SERVICES = 8;
const ENTRIES_PER_SERVICE = 25_000;
const BURSTS = [2_000, 6_500, 11_000, 15_500, 20_000, 24_000];

/** A seeded generator, so each run sees the same stream and a failure can be replayed. */
const random = mulberry32;

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/**
 * The chance that a given entry of an i.i.d. stream with error share p
 * raises a flag: it is an ERROR, the one leaving the window is not, and the
 * N - 1 entries in between hold exactly T errors (so the count goes from T
 * to T + 1).
 */
function flagProbability(n: number, t: number, p: number): number {
  return p * (1 - p) * Math.exp(logChoose(n - 1, t) + t * Math.log(p) + (n - 1 - t) * Math.log(1 - p));
}

const inBurst = (i: number) => BURSTS.some((b) => i >= b && i < b + BURST_LENGTH);

test('a generated stream: every burst is flagged within its window, and flags outside bursts come no more often than the baseline rate predicts', async (t) => {
  const d = await startDaemon(t, { anomaly: { rule: { size: N, threshold: T } } });
  const events: AnomalyEvent[] = [];
  d.anomalies!.subscribe((e) => events.push(e));

  // Service s's entry i has timestamp base + i: an event's ts says where in the stream it fired.
  const base = BigInt(Date.now()) * 1_000_000n;
  const rng = random(0x7b1b);
  const streams = Array.from({ length: SERVICES }, (_, s) =>
    Array.from({ length: ENTRIES_PER_SERVICE }, (_, i): LogEntry => {
      const error = rng() < (inBurst(i) ? BURST_SHARE : P);
      // One server per service: its entries go to one shard, so the detector sees them in stream order.
      return { ts: base + BigInt(i), level: error ? Level.ERROR : Level.INFO, service: `svc-${s}`, server: `host-${s}`, region: 'r', message: `e${i}` };
    }),
  );
  for (let at = 0; at < ENTRIES_PER_SERVICE; at += 2500) await d.ingest(streams.flatMap((s) => s.slice(at, at + 2500)));
  const total = SERVICES * ENTRIES_PER_SERVICE;
  await waitUntil(
    'the detectors have counted every entry',
    async () => (await d.anomalies!.detectorStats()).reduce((sum, s) => sum + s.entries, 0) === total,
    30_000,
  );

  let falseFlags = 0;
  let baselineEntries = 0;
  for (let s = 0; s < SERVICES; s++) {
    const mine = events.filter((e) => e.service === `svc-${s}`).map((e) => ({ type: e.type, at: Number(BigInt(e.ts) - base) }));
    // Flagged intervals [flag, clear).
    const intervals: [number, number][] = [];
    for (const e of mine) {
      if (e.type === 'flag') intervals.push([e.at, Infinity]);
      else intervals[intervals.length - 1]![1] = e.at;
    }
    for (const b of BURSTS) {
      t.true(
        intervals.some(([from, to]) => from < b + N && to > b),
        `svc-${s}: the burst at ${b} is flagged within ${N} entries of its start`,
      );
    }
    // A flag is a burst's when its crossing entry is in the burst or in the window that still holds it.
    falseFlags += mine.filter((e) => e.type === 'flag' && !BURSTS.some((b) => e.at >= b && e.at < b + BURST_LENGTH + N)).length;
    baselineEntries += ENTRIES_PER_SERVICE - BURSTS.length * (BURST_LENGTH + N) - N; // the first N fill the window
  }
  const expected = baselineEntries * flagProbability(N, T, P);
  t.log(`false flags: ${falseFlags} observed over ${baselineEntries} baseline entries; ${expected.toFixed(1)} expected`);
  // Poisson: above expected + 4 standard deviations has a chance under 1 in 10,000.
  t.true(falseFlags <= expected + 4 * Math.sqrt(expected), `${falseFlags} false flags, ${expected.toFixed(1)} expected`);
  // And the detector is not blind to the baseline either: it does flag as often as chance says (within the same margin).
  t.true(falseFlags >= expected - 4 * Math.sqrt(expected), `${falseFlags} false flags, ${expected.toFixed(1)} expected`);
});
