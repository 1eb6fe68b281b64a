import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { importFiles } from '../../src/import/importer.js';
import { startDaemon, storedEntries } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';

// Copies of two Loghub samples in the repository (the workspace's shared data is not in a clean clone).
const LOGHUB = fileURLToPath(new URL('../../../test/fixtures/loghub/', import.meta.url));

test('import loads gzip NDJSON and Loghub plain logs through the durable path, with refused lines named by file and line', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  const dir = tempDir(t);
  const lines = Array.from({ length: 3000 }, (_, i) =>
    JSON.stringify({ ts: `${1_763_758_800_000 + i}`, service: 'billing', level: i % 10 === 0 ? 'error' : 'info', msg: `invoice ${i}` }),
  );
  lines[1234] = '{"ts": broken';
  const ndjson = join(dir, 'archive.ndjson.gz');
  writeFileSync(ndjson, gzipSync(lines.join('\n')));
  const hdfs = join(LOGHUB, 'HDFS_2k.log');
  const apache = join(LOGHUB, 'Apache_2k.log');
  const progress: number[] = [];
  const summary = await importFiles({
    files: [ndjson, hdfs, apache],
    aggregators: [d.grpcAddress],
    parseThreads: 2,
    chunkBytes: 64 * 1024,
    onProgress: (p) => progress.push(p.bytesRead),
  });
  t.is(summary.entries, 2999 + 2000 + 2000);
  t.deepEqual(summary.rejected, { malformed_json: 1 });
  t.deepEqual(
    summary.errors.map((e) => [e.file, e.line, e.reason]),
    [[ndjson, 1235, 'malformed_json']],
  );
  t.true(progress.length > 0);

  const billing = await storedEntries(d, '{service="billing"}', 0n);
  t.is(billing.length, 2999);
  t.is(billing.filter((e) => e.level === 'ERROR').length, 300);
  // Loghub lines keep their own times and levels; the file names the service.
  const hdfsStored = await storedEntries(d, '{service="HDFS"}', 0n);
  t.is(hdfsStored.length, 2000);
  const firstHdfs = readFileSync(hdfs, 'utf8').split('\n')[0]!.replace(/\r$/, '');
  const match = hdfsStored.find((e) => e.message === firstHdfs);
  t.is(match?.ts, `${Date.UTC(2008, 10, 9, 20, 36, 15)}000000`);
  const apacheErrors = (await storedEntries(d, '{service="Apache"}', 0n)).filter((e) => e.level === 'ERROR').length;
  const expectedErrors = readFileSync(apache, 'utf8')
    .split('\n')
    .filter((l) => l.includes('[error]')).length;
  t.is(apacheErrors, expectedErrors);

  // Importing the same file again is a new import (new sources): the daemon's content dedup does not apply to batches, so it is stored again. Not tested here: documented.
});
