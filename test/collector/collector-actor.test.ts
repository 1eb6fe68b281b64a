import test from 'ava';
import { join } from 'node:path';
import type { ActorStats } from '../../src/actors/system.js';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';
import { appendPino, assertExactlyOnce, storedMessages } from './helpers.js';

test('a collector hosted as an actor tails into its daemon; its thread killed mid-stream, it is restarted and resumes from its checkpoint: every line once', async (t) => {
  const logs = tempDir(t);
  const path = join(logs, 'app.log');
  appendPino(path, 'hosted', 0, 1000);
  const d = await startDaemon(t, {
    grpc: { port: 0 },
    collectors: [{ include: [join(logs, '*.log')], stateDir: tempDir(t), pollMs: 50, rotateWaitMs: 300 }],
  });
  const [collector] = d.collectors;
  await waitUntil('the first 1000 lines are stored', async () => (await storedMessages(d, 'hosted')).size >= 1000, 30_000);
  // The shards store before the collector hears the acknowledgement: wait for the count it keeps, not for the store.
  await waitUntil('the collector counts the first 1000 lines acknowledged', async () => (await d.collectorStats())[0]!.acked >= 1000, 30_000);
  t.like((await d.collectorStats())[0], { acked: 1000, files: 1 });

  // More lines, written over about a second, and the collector's thread dies while they are shipped.
  let written = 1000;
  const writer = setInterval(() => {
    if (written >= 4000) return clearInterval(writer);
    appendPino(path, 'hosted', written, 100);
    written += 100;
  }, 30);
  t.teardown(() => clearInterval(writer));
  await waitUntil('some of the new lines are stored', async () => (await storedMessages(d, 'hosted')).size >= 1300, 30_000);
  const storedAtKill = (await storedMessages(d, 'hosted')).size;
  await d.system.killThread(d.system.threadOf(collector!));
  t.true(storedAtKill < 4000, `killed mid-stream (${storedAtKill} of 4000 stored)`);
  const stats = () => d.system.stats(collector!) as ActorStats;
  await waitUntil('the collector is restarted and running', () => stats().restarts >= 1 && stats().status === 'running', 30_000);
  await waitUntil('all 4000 lines are stored', async () => (await storedMessages(d, 'hosted')).size >= 4000, 30_000);
  await assertExactlyOnce(t, d, 'hosted', 4000);
});
