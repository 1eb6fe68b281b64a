import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';
import { appendPino, assertExactlyOnce, startCollector, storedMessages } from './helpers.js';

test('an aggregator outage: backoff and open circuits, batches in the disk buffer, then drained after the restart; nothing lost, nothing twice', async (t) => {
  const dataDir = tempDir(t);
  let d = await Daemon.start({ dataDir, http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
  const grpcPort = Number(d.grpcAddress.split(':')[1]);
  t.teardown(() => d.stop());
  const logs = tempDir(t);
  const path = join(logs, 'app.log');
  appendPino(path, 'out', 0, 500);
  const c = await startCollector(t, { include: [path], stateDir: tempDir(t), aggregators: [d.grpcAddress] });
  await waitUntil('500 acknowledged', () => c.stats().acked >= 500, 30_000);

  await d.stop();
  appendPino(path, 'out', 500, 1500);
  await waitUntil('the 1500 lines written during the outage are in the disk buffer', () => c.stats().buffered >= 1500, 30_000);
  const during = c.stats();
  t.true(during.aggregators[0]!.failures >= 2, 'the collector retried before buffering');
  t.not(during.aggregators[0]!.circuit, 'closed', 'the circuit opened');
  t.is(during.buffer.entries, 1500);

  d = await Daemon.start({ dataDir, http: { port: 0 }, grpc: { port: grpcPort }, workers: 2 });
  await waitUntil('the buffer drains', () => c.stats().buffer.entries === 0 && c.stats().acked >= 2000, 60_000);
  t.is(c.stats().aggregators[0]!.circuit, 'closed');
  await assertExactlyOnce(t, d, 'out', 2000);
});

test('aggregators come from a file that is reloaded when it changes', async (t) => {
  const a = await startDaemon(t, { grpc: { port: 0 } });
  const b = await startDaemon(t, { grpc: { port: 0 } });
  const logs = tempDir(t);
  const path = join(logs, 'app.log');
  const config = join(tempDir(t), 'aggregators.json');
  writeFileSync(config, JSON.stringify({ aggregators: [a.grpcAddress] }));
  appendPino(path, 'cfg', 0, 100);
  const c = await startCollector(t, { include: [path], stateDir: tempDir(t), aggregatorsFile: config });
  await waitUntil('100 acknowledged', () => c.stats().acked >= 100, 30_000);
  writeFileSync(config, '{"aggregators": [');
  writeFileSync(config, JSON.stringify({ aggregators: [b.grpcAddress] }));
  await waitUntil('the new list is in use', () => c.stats().aggregators[0]?.address === b.grpcAddress, 30_000);
  appendPino(path, 'cfg', 100, 100);
  await waitUntil('200 acknowledged', () => c.stats().acked >= 200, 30_000);
  t.is((await storedMessages(a, 'cfg')).size, 100);
  t.is((await storedMessages(b, 'cfg')).size, 100);
});

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function collectorProcess(t: Parameters<typeof tempDir>[0], include: string, aggregator: string, stateDir: string): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'collect', '--include', include, '--aggregator', aggregator, '--state-dir', stateDir, '--stats-ms', '100000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

test('a collector killed with SIGKILL mid-stream resumes from its checkpoint: every line stored exactly once', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const logs = tempDir(t);
  const state = tempDir(t);
  const path = join(logs, 'app.log');
  const total = 4000;
  let written = 0;
  // Written over about two seconds, so the kill lands while lines are still coming.
  const writer = setInterval(() => {
    if (written >= total) return clearInterval(writer);
    appendPino(path, 'k9', written, 100);
    written += 100;
  }, 50);
  t.teardown(() => clearInterval(writer));
  const first = collectorProcess(t, path, d.grpcAddress, state);
  let storedAtKill = 0;
  for (let i = 0; i < 1500 && storedAtKill < 500; i++) {
    storedAtKill = (await storedMessages(d, 'k9')).size;
    await new Promise((r) => setTimeout(r, 20));
  }
  first.kill('SIGKILL');
  t.true(storedAtKill >= 500 && storedAtKill < total, `killed mid-stream (${storedAtKill} of ${total} stored)`);
  await new Promise((r) => first.once('exit', r));
  await waitUntil('every line is written', () => written >= total, 30_000);
  collectorProcess(t, path, d.grpcAddress, state);
  for (let i = 0; i < 600 && (await storedMessages(d, 'k9')).size < total; i++) await new Promise((r) => setTimeout(r, 50));
  await assertExactlyOnce(t, d, 'k9', total);
});
