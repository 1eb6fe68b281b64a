import test from 'ava';
import { copyFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, storedEntries } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';
import { appendPino, assertExactlyOnce, startCollector } from './helpers.js';

test('a collector follows rename-and-create rotation and new files, reading the renamed file to its end: every line stored once', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const logs = tempDir(t);
  const path = join(logs, 'app.log');
  appendPino(path, 'rot', 0, 600);
  const c = await startCollector(t, { include: [join(logs, 'app.log*')], stateDir: tempDir(t), aggregators: [d.grpcAddress] });
  await waitUntil('the first 600 lines are acknowledged', () => c.stats().acked >= 600, 30_000);
  // logrotate: rename, the application writes a little more to its old descriptor, then reopens a new file.
  renameSync(path, `${path}.1`);
  appendPino(`${path}.1`, 'rot', 600, 150);
  appendPino(path, 'rot', 750, 500);
  // A last line without its newline in the rotated file is shipped once the file is quiet.
  writeFileSync(`${path}.1`, '{"level":50,"time":1763758800000,"name":"api","msg":"rot 1250"}', { flag: 'a' });
  await waitUntil('all 1251 lines are acknowledged', () => c.stats().acked >= 1251, 30_000);
  await assertExactlyOnce(t, d, 'rot', 1251);
  t.is(c.stats().files, 2);
});

test('a collector follows copytruncate: the file emptied in place is read again from its start', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const logs = tempDir(t);
  const path = join(logs, 'b.log');
  appendPino(path, 'ct', 0, 400);
  const c = await startCollector(t, { include: [path], stateDir: tempDir(t), aggregators: [d.grpcAddress] });
  await waitUntil('400 acknowledged', () => c.stats().acked >= 400, 30_000);
  copyFileSync(path, `${path}.1`); // not followed: outside the glob
  truncateSync(path, 0);
  appendPino(path, 'ct', 400, 300);
  await waitUntil('700 acknowledged', () => c.stats().acked >= 700, 30_000);
  await assertExactlyOnce(t, d, 'ct', 700);
});

test('logfmt and regex lines, with labels for lines that name none; bad lines refused and counted, neighbours shipped', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const logs = tempDir(t);
  writeFileSync(
    join(logs, 'go.log'),
    'time=2025-11-21T21:00:00Z level=warn service=api msg="api 0 slow"\ntime=2025-11-21T21:00:01Z level=loud service=api msg="api 1"\nlevel=error msg="api 2 failed" service=api\n',
  );
  const c = await startCollector(t, {
    include: [join(logs, 'go.log')],
    format: { type: 'logfmt' },
    labels: { region: 'eu-9', env: 'staging' },
    stateDir: tempDir(t),
    aggregators: [d.grpcAddress],
  });
  await waitUntil('the logfmt file is read', () => c.stats().linesRead >= 3, 30_000);
  await waitUntil('2 acknowledged', () => c.stats().acked >= 2, 30_000);
  t.deepEqual(c.stats().rejected, { unknown_level: 1 });
  await c.stop();

  writeFileSync(join(logs, 'plain.log'), '2025-11-21T21:00:02Z ERROR [api] api 3 disk full\nno shape here\n2025-11-21T21:00:03Z INFO [api] api 4 ok\n');
  const r = await startCollector(t, {
    include: [join(logs, 'plain.log')],
    format: { type: 'regex', pattern: '^(?<ts>\\S+) (?<level>[A-Z]+) \\[(?<service>[^\\]]+)\\] (?<msg>.*)$' },
    stateDir: tempDir(t),
    aggregators: [d.grpcAddress],
  });
  await waitUntil('2 acknowledged', () => r.stats().acked >= 2, 30_000);
  t.deepEqual(r.stats().rejected, { no_match: 1 });
  const got = await storedEntries(d, '{service="api"}');
  t.deepEqual(
    got.map((e) => [e.level, e.region, e.message]).sort((a, b) => (a[2]! < b[2]! ? -1 : 1)),
    [
      ['WARN', 'eu-9', 'api 0 slow'],
      ['ERROR', 'eu-9', 'api 2 failed'],
      ['ERROR', 'unknown', 'api 3 disk full'],
      ['INFO', 'unknown', 'api 4 ok'],
    ],
  );
  t.is(got.find((e) => e.message === 'api 0 slow')?.ts, '1763758800000000000');
  // A label beyond service, server and region is a stream label of every entry the collector ships.
  t.deepEqual(
    (await storedEntries(d, '{env="staging"}')).map((e) => [e.message, e.labels]),
    [
      ['api 0 slow', { env: 'staging' }],
      ['api 2 failed', { env: 'staging' }],
    ],
  );
});
