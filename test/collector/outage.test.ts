import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { sourcesCommand } from '../../src/cli/sources.js';
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
  const stateDir = tempDir(t);
  const c = await startCollector(t, { include: [path], stateDir, aggregators: [d.grpcAddress] });
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
  // The proof from the accounts: every number the collector committed is stored.
  await c.stop();
  const { code, report } = await verifyCollector(d, stateDir);
  t.is(code, 0);
  t.like(report, { committed: 2000, notStored: 0 });
});

/** `tributary sources --collector-state DIR --json`, run in-process. */
async function verifyCollector(d: Daemon, stateDir: string) {
  const out: string[] = [];
  const code = await sourcesCommand({ url: d.url, collectorState: stateDir, json: true }, (s) => out.push(s));
  return {
    code,
    report: JSON.parse(out.join('')) as { committed: number; notStored: number; sources: { source: string; missing: [number, number][]; notStored: number }[] },
  };
}

test('a full buffer under drop_newest loses entries on purpose, and the source accounts name exactly which', async (t) => {
  const dataDir = tempDir(t);
  let d = await Daemon.start({ dataDir, http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
  const grpcPort = Number(d.grpcAddress.split(':')[1]);
  t.teardown(() => d.stop());
  const path = join(tempDir(t), 'app.log');
  const stateDir = tempDir(t);
  appendPino(path, 'drop', 0, 100);
  const c = await startCollector(t, {
    include: [path],
    stateDir,
    aggregators: [d.grpcAddress],
    readBytes: 16 * 1024,
    buffer: { maxBytes: 48 * 1024, policy: 'drop_newest' },
  });
  await waitUntil('100 acknowledged', () => c.stats().acked >= 100, 30_000);
  await d.stop();
  appendPino(path, 'drop', 100, 3000);
  await waitUntil('the buffer fills and batches are dropped', () => c.stats().linesRead >= 3100 && c.stats().dropped > 0, 30_000);
  d = await Daemon.start({ dataDir, http: { port: 0 }, grpc: { port: grpcPort }, workers: 2 });
  await waitUntil('the buffer drains', () => c.stats().buffer.entries === 0 && c.stats().acked + c.stats().dropped >= 3100, 60_000);
  await c.stop();
  const dropped = c.stats().dropped;

  const { code, report } = await verifyCollector(d, stateDir);
  t.is(code, 3);
  t.like(report, { committed: 3100, notStored: dropped });
  // One stream (api on web-1), so one source numbered in line order: the missing numbers are the missing lines.
  t.is(report.sources.length, 1);
  const stored = await storedMessages(d, 'drop');
  t.is(stored.size, 3100 - dropped);
  const named = report.sources[0]!.missing.flatMap(([from, to]) => Array.from({ length: to - from }, (_, i) => `drop ${from + i}`));
  t.is(named.length, dropped);
  t.true(named.every((m) => !stored.has(m)));
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
  // Lines keep coming until the kill, but at most 1500 before it: however slowly the collector
  // starts on a loaded machine, the kill lands with lines still to come (the rest follow it).
  let limit = 1500;
  const writer = setInterval(() => {
    if (written >= total) return clearInterval(writer);
    if (written >= limit) return;
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
  limit = total;
  t.true(storedAtKill >= 500 && storedAtKill < total, `killed mid-stream (${storedAtKill} of ${total} stored)`);
  await new Promise((r) => first.once('exit', r));
  await waitUntil('every line is written', () => written >= total, 30_000);
  collectorProcess(t, path, d.grpcAddress, state);
  for (let i = 0; i < 600 && (await storedMessages(d, 'k9')).size < total; i++) await new Promise((r) => setTimeout(r, 50));
  await assertExactlyOnce(t, d, 'k9', total);
});
