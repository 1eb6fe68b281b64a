import test from 'ava';
import { join } from 'node:path';
import { Fleet, FleetFileWriter } from '../../src/producers/fleet.js';
import { startCollector } from '../collector/helpers.js';
import { startDaemon, storedEntries } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

test('the fleet keeps its rate and bursts, its level mix, its clock skew bounds, and injected error bursts', (t) => {
  const fleet = new Fleet({ servers: 100_000, regions: 1000, rate: 10_000, burst: { everyMs: 10_000, forMs: 1000, factor: 5 }, skewMs: 500 }, 0);
  // 10 s at 10k/s, plus one 1 s burst at 5x: 100k + 40k.
  t.is(fleet.due(10_000), 140_000);
  const counts = [0, 0, 0, 0];
  const servers = new Set<number>();
  const regions = new Set<string>();
  for (let i = 0; i < 140_000; i++) {
    const e = fleet.next(5000);
    counts[e.level]!++;
    servers.add(e.server);
    regions.add(e.region);
    t.true(Math.abs(e.timeMs - 5000) <= 500 || t.fail(`skew ${e.timeMs - 5000}`));
  }
  t.is(fleet.due(10_000), 0);
  t.true(Math.abs(counts[3]! / 140_000 - 0.02) < 0.005, `ERROR share ${counts[3]! / 140_000}`);
  t.true(Math.abs(counts[2]! / 140_000 - 0.1) < 0.01);
  t.is(servers.size, 100_000);
  t.is(regions.size, 1000);

  const failing = new Fleet(
    {
      servers: 40,
      services: 4,
      errorBursts: [
        { services: ['svc-1'], atMs: 1000, forMs: 1000, errorRate: 0.9 },
        { services: ['svc-1'], atMs: 10_000, forMs: 1000, errorRate: 0.9, everyMs: 5000 },
      ],
    },
    0,
  );
  const errorsOf = (at: number) => {
    let svc1 = 0;
    let svc1Errors = 0;
    for (let i = 0; i < 4000; i++) {
      const e = failing.next(at);
      if (e.service === 'svc-1') {
        svc1++;
        if (e.level === 3) svc1Errors++;
      }
    }
    return svc1Errors / svc1;
  };
  t.true(errorsOf(500) < 0.1, 'before the burst');
  t.true(errorsOf(1500) > 0.85, 'during the burst');
  t.true(errorsOf(2500) < 0.1, 'after it');
  // A repeating burst: from 10 s, for 1 s of every 5 s.
  t.true(errorsOf(9500) < 0.1, 'before the first repeat');
  t.true(errorsOf(20_500) > 0.85, 'during its third occurrence');
  t.true(errorsOf(22_000) < 0.1, 'between occurrences');
});

test('fleet files rotate by rename, and a collector following them stores every entry once', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const dir = tempDir(t);
  const options = { dir, files: 2, servers: 300, rate: 1000, rotateBytes: 64 * 1024, keep: 100 };
  const start = Date.now();
  const writer = new FleetFileWriter(options, start);
  t.teardown(() => writer.stop());
  const c = await startCollector(t, { include: [join(dir, 'fleet-*.log*')], stateDir: tempDir(t), aggregators: [d.grpcAddress] });
  for (let i = 1; i <= 10; i++) {
    writer.tick(start + i * 500, 500);
    await new Promise((r) => setTimeout(r, 30));
  }
  t.is(writer.written, 5000);
  t.true(writer.rotations >= 4, `${writer.rotations} rotations`);
  await waitUntil('every entry is acknowledged', () => c.stats().acked >= 5000, 60_000);
  // What the fleet wrote, replayed: the same options and start make the same entries.
  const replay = new Fleet(options, start);
  const expected: string[] = [];
  for (let i = 1; i <= 10; i++)
    for (let j = 0; j < 500; j++) {
      const e = replay.next(start + i * 500);
      expected.push(`srv-${e.server}|${e.service}|${e.region}|${e.timeMs}|${['DEBUG', 'INFO', 'WARN', 'ERROR'][e.level]}|${e.message}`);
    }
  const stored: string[] = [];
  for (let s = 0; s < 20; s++)
    for (const e of await storedEntries(d, `{service="svc-${s}"}`))
      stored.push(`${e.server}|${e.service}|${e.region}|${BigInt(e.ts) / 1_000_000n}|${e.level}|${e.message}`);
  t.deepEqual(stored.sort(), expected.sort());
});
