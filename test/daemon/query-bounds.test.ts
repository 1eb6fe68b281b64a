import test from 'ava';
import { Daemon } from '../../src/daemon/daemon.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

const T0 = 1_763_758_800_000_000_000n;

test('a query for more than a shard thread can hold answers partial, with a cursor, and the daemon keeps serving', async (t) => {
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: false, workers: 2 });
  t.teardown(() => d.stop());
  const line = 'x'.repeat(2000);
  // 40,000 entries of 2 KB: about 80 MiB of messages as strings, past the per-query bound of the default plan (32 MiB per shard).
  for (let n = 0; n < 40_000; n += 5000) {
    const batch: LogEntry[] = [];
    for (let i = n; i < n + 5000; i++)
      batch.push({ ts: T0 + BigInt(i), level: Level.INFO, service: `s${i % 4}`, server: `h${i % 9}`, region: 'r', message: `${i} ${line}` });
    await d.writer.write(batch);
  }
  const r = await d.engine.query({ from: T0, to: T0 + 1_000_000n, limit: 100_000, direction: 'forward' });
  t.truthy(r.partial, 'the answer says it is incomplete');
  t.regex(r.partial!.reasons.join('; '), /memory/);
  t.true(r.entries.length > 1000 && r.entries.length < 40_000);
  t.truthy(r.nextCursor);
  // In order, and the cursor continues exactly after the last entry returned.
  const next = await d.engine.query({ from: T0, to: T0 + 1_000_000n, limit: 10, direction: 'forward', cursor: r.nextCursor });
  t.is(next.entries[0]!.ts, r.entries.at(-1)!.ts + 1n);
  // No thread died: every shard still answers.
  const again = await d.engine.query({ from: T0, to: T0 + 1_000_000n, limit: 5, direction: 'backward' });
  t.is(again.partial, undefined);
  t.is(again.entries[0]!.ts, T0 + 39_999n);
});
