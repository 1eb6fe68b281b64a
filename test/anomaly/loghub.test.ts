import test from 'ava';
import { fileURLToPath } from 'node:url';
import type { AnomalyEvent } from '../../src/anomaly/detector-actor.js';
import { WindowTable, type WindowRule } from '../../src/anomaly/window.js';
import { Level } from '../../src/model/level.js';
import { readBgl } from '../../bench/lib/loghub.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

const BGL = fileURLToPath(new URL('../../../test/fixtures/loghub/BGL_2k.log', import.meta.url));

test('real data: the Loghub BGL sample through the daemon flags exactly what a window over the file flags, service by service', async (t) => {
  const lines = readBgl(BGL);
  const rule: WindowRule = { size: 100, threshold: 10 };
  // One shard, so the detectors see the file's order.
  const d = await startDaemon(t, { shards: 1, anomaly: { rule } });
  const events: AnomalyEvent[] = [];
  d.anomalies!.subscribe((e) => events.push(e));
  for (let i = 0; i < lines.length; i += 250) await d.ingest(lines.slice(i, i + 250).map((l) => l.entry));
  await waitUntil('every line counted', async () => (await d.anomalies!.detectorStats()).reduce((s, x) => s + x.entries, 0) === lines.length, 30_000);

  const table = new WindowTable(rule);
  const expected = new Map<string, string[]>();
  for (const { entry } of lines) {
    const change = table.push(entry.service, entry.level === Level.ERROR);
    if (change) expected.set(entry.service, [...(expected.get(entry.service) ?? []), `${change} ${entry.ts}`]);
  }
  const observed = new Map<string, string[]>();
  for (const e of events) observed.set(e.service, [...(observed.get(e.service) ?? []), `${e.type} ${e.ts}`]);
  t.deepEqual(observed, expected);
  // The sample's FATAL lines come in bursts on the kernel and the application: both are flagged.
  t.true((expected.get('KERNEL')?.length ?? 0) > 0 && (expected.get('APP')?.length ?? 0) > 0);
});
