import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ready, recovery, startCli } from '../helpers/cli-daemon.js';
import { tempDir } from '../helpers/system.js';

/**
 * `tributary start` as a user runs it: a separate process, signals, kill -9,
 * and the next start's recovery report. Readiness and the report are read
 * from the daemon's own pino log lines on stdout.
 */

async function push(url: string, from: number, n: number): Promise<number> {
  const body = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      ts: String(BigInt(Date.now()) * 1_000_000n + BigInt(from + i)),
      level: 'INFO',
      service: 'life',
      server: 's1',
      region: 'r1',
      msg: `entry ${from + i}`,
    }),
  ).join('\n');
  const res = await fetch(`${url}/api/v1/ingest`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  const report = (await res.json()) as { accepted: number };
  return report.accepted;
}

async function count(url: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: '{service="life"}', since: '1h', limit: '5000' })}`);
  return ((await res.json()) as { data: { entries: unknown[] } }).data.entries.length;
}

test('SIGTERM stops cleanly and says so; the next start finds a clean stop; after kill -9 it recovers every acknowledged entry and says what it recovered', async (t) => {
  const dataDir = tempDir(t);

  const first = startCli(t, dataDir);
  t.false((await recovery(first)).previousRun);
  const url1 = await ready(first);
  t.is(await push(url1, 0, 300), 300);
  first.child.kill('SIGTERM');
  t.is(await first.exited, 0);
  t.truthy(first.lines.find((l) => l.msg.startsWith('SIGTERM: stopping')));
  t.truthy(first.lines.find((l) => l.msg === 'stopped cleanly'));
  t.true(existsSync(join(dataDir, 'clean-stop')));

  const second = startCli(t, dataDir);
  const r2 = await recovery(second);
  t.true(r2.previousRun);
  t.true(r2.cleanStop);
  t.false(existsSync(join(dataDir, 'clean-stop')), 'the mark is taken at start, so a crash of this run is seen');
  const url2 = await ready(second);
  t.is(await count(url2), 300);
  t.is(await push(url2, 300, 200), 200);
  second.child.kill('SIGKILL');
  await second.exited;

  const third = startCli(t, dataDir);
  const r3 = await recovery(third);
  t.true(r3.previousRun);
  t.false(r3.cleanStop);
  t.true(r3.replayedEntries + r3.blockEntries >= 500, JSON.stringify(r3));
  t.truthy(third.lines.find((l) => l.msg.includes('did not stop cleanly') && l.level === 40));
  t.is(await count(await ready(third)), 500);
  third.child.kill('SIGINT');
  t.is(await third.exited, 0);
});

test('a bad configuration stops the start with the key path and exit code 1, before anything listens', async (t) => {
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', tempDir(t), '--set', 'anomaly.window=0', '--http-port', '99999'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.is(code, 1);
  t.regex(err, /E_CONFIG_INVALID/);
  t.regex(err, /http\.port: .*\(--http-port\)/);
  t.regex(err, /anomaly\.window: .*\(--set anomaly\.window\)/);
});
