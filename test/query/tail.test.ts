import test from 'ava';
import type { IdentifiedEntry, LogEntry } from '../../src/model/entry.js';
import type { QueryService } from '../../src/query/engine.js';
import { comparePositions } from '../../src/query/model.js';
import { startTail } from '../../src/query/tail.js';
import { nowNs } from '../../src/query/time.js';
import { mulberry32 } from '../../src/util/mulberry32.js';
import { startDaemon } from '../helpers/daemon.js';

const BATCHES = 8;
const PER_BATCH = 150;
/** How far ahead of the clock entries are stamped, and the tail's reorder window: 600 ms for a batch to be stored. */
const AHEAD = 300_000_000n;
const DELAY = 300_000_000n;

test('a live tail is pushed by the shards as they store: every entry once, in timestamp order, with polling turned off', async (t) => {
  const d = await startDaemon(t);
  t.truthy(d.engine.arrivals, "the daemon's engine announces what its shards store");
  let queries = 0;
  const engine: QueryService = Object.assign(Object.create(d.engine) as QueryService, {
    query: (...args: Parameters<QueryService['query']>) => {
      queries++;
      return d.engine.query(...args);
    },
  });
  const got: IdentifiedEntry[] = [];
  let wanted = Infinity;
  let reached: (() => void) | undefined;
  const base = nowNs();
  const stop = startTail(
    engine,
    { limit: 1000 },
    // A first pass of up to 5000 (all of them, whenever it runs); an hour between polls: only the shards' announcements can bring these entries in time.
    { from: base - 1n, delay: DELAY, limit: 5000, pollMs: 3_600_000 },
    {
      send: (entries) => {
        got.push(...entries);
        if (got.length >= wanted) reached?.();
      },
      error: (err) => t.fail(err.message),
      backlog: () => 0,
    },
  );
  t.teardown(stop);
  const random = mulberry32(7);
  const written: LogEntry[] = [];
  let next = base;
  for (let k = 0; k < BATCHES; k++) {
    // One stream per batch (one shard, one arrival), shuffled within, each later than the last. Stamped
    // ahead of the clock, so the tail holds them (its deadline path) and no pass can pass them by
    // before they are stored: an entry stored after a pass has read past it would be late, and not tailed.
    const start = (nowNs() > next ? nowNs() : next) + AHEAD;
    const batch: LogEntry[] = Array.from({ length: PER_BATCH }, (_, i) => ({
      ts: start + BigInt(i) * 1000n,
      level: 1,
      service: `svc-${k % 3}`,
      server: `host-${k}`,
      region: 'eu',
      message: `batch ${k} entry ${i}`,
    }));
    next = start + BigInt(PER_BATCH) * 1000n;
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    written.push(...batch);
    await d.writer.write(batch);
  }
  wanted = written.length;
  if (got.length < wanted) await new Promise<void>((resolve) => (reached = resolve));
  t.is(got.length, written.length, 'every entry, none twice');
  for (let i = 1; i < got.length; i++) t.true(comparePositions(got[i - 1]!, got[i]!) < 0, `entry ${i} follows ${i - 1}`);
  t.deepEqual(got.map((e) => e.message).sort(), written.map((e) => e.message).sort());
  t.true(queries <= 2 * BATCHES + 2, `${queries} queries for ${BATCHES} arrivals: passes run on arrivals and deadlines, not a clock`);
});
