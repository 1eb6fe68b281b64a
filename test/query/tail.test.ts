import test from 'ava';
import type { IdentifiedEntry, LogEntry } from '../../src/model/entry.js';
import type { QueryService } from '../../src/query/engine.js';
import { comparePositions } from '../../src/query/model.js';
import { startTail } from '../../src/query/tail.js';
import { nowNs } from '../../src/query/time.js';
import { mulberry32 } from '../../src/util/mulberry32.js';
import { startDaemon } from '../helpers/daemon.js';

const BATCHES = 12;
const PER_BATCH = 150;

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
  let wanted = 0;
  let reached: (() => void) | undefined;
  const base = nowNs();
  const stop = startTail(
    engine,
    { limit: 1000 },
    // An hour between polls: only the shards' announcements can bring these entries in time.
    { from: base - 1n, delay: 0n, limit: 100, pollMs: 3_600_000 },
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
  for (let k = 0; k < BATCHES; k++) {
    // One stream per batch (one shard, one arrival), shuffled within, later batches later; some a few ms ahead of the clock.
    const batch: LogEntry[] = Array.from({ length: PER_BATCH }, (_, i) => ({
      ts: base + BigInt(k) * 1_000_000n + BigInt(i) * 1000n,
      level: 1,
      service: `svc-${k % 3}`,
      server: `host-${k}`,
      region: 'eu',
      message: `batch ${k} entry ${i}`,
    }));
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    written.push(...batch);
    wanted = written.length;
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    await d.writer.write(batch);
    if (got.length < wanted) await arrived;
  }
  t.is(got.length, written.length, 'every entry, none twice');
  for (let i = 1; i < got.length; i++) t.true(comparePositions(got[i - 1]!, got[i]!) < 0, `entry ${i} follows ${i - 1}`);
  t.deepEqual(got.map((e) => e.message).sort(), written.map((e) => e.message).sort());
  t.true(queries <= 2 * BATCHES + 2, `${queries} queries for ${BATCHES} arrivals: passes run on arrivals and deadlines, not a clock`);
});
