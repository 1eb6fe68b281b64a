// npm run bench:ingest — entries/s through each front door from a separate
// client process, durable and indexed, beside the same entries written by an
// in-process writer (no door: the storage path's own speed) in the same run.
// Also: `tributary import` of an NDJSON file, a collector tailing pino files,
// and the Node client (the pino transport's engine). --quick: 200 k entries;
// --only=door,door: just those.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import type { LogEntry } from '../../src/model/entry.js';
import { fleetEntry, pinoLineOf } from '../lib/fleet.js';
import { printTable, si, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
/** --only door,door: run just these (and the baseline). */
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const TOTAL = quick ? 200_000 : 2_000_000;
const rows: { door: string; entriesPerSec: number; target: string }[] = [];
const log = (s: string) => process.stderr.write(`  ${s}\n`);

async function withDaemon<T>(fn: (d: Daemon) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-ingest-'));
  const d = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: { port: 0 } });
  try {
    return await fn(d);
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Baseline: the writer called in-process with entry objects (what every door ends in).
await withDaemon(async (d) => {
  const T0 = BigInt(Date.now()) * 1_000_000n;
  const batches: LogEntry[][] = [];
  for (let n = 0; n < TOTAL; n += 5000) {
    batches.push(Array.from({ length: 5000 }, (_, i) => fleetEntry(n + i, T0 + BigInt(n + i))));
  }
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) await d.writer.write(batches[next++]!);
    }),
  );
  const rate = TOTAL / ((performance.now() - t0) / 1000);
  rows.push({ door: 'baseline: in-process writer (no door)', entriesPerSec: rate, target: '-' });
  log(`baseline: ${si(rate)} entries/s`);
});

/** Files for the file-reading doors, written before any clock starts: pino lines, as services write them. */
const files = mkdtempSync(join(tmpdir(), 'tributary-ingest-files-'));
const FILES = 4;
function writePinoFile(path: string, from: number, to: number): void {
  const T0 = BigInt(Date.now()) * 1_000_000n;
  const fd = openSync(path, 'w');
  for (let n = from; n < to; n += 10_000) {
    let s = '';
    for (let i = n; i < Math.min(to, n + 10_000); i++) s += pinoLineOf(fleetEntry(i, T0 + BigInt(i))) + '\n';
    writeSync(fd, s);
  }
  closeSync(fd);
}

interface Door {
  door: string;
  target: string;
  address: (d: Daemon) => string;
  path?: () => string;
}
const doors = (
  [
    { door: 'grpc-batches', target: '>= 1 M', address: (d) => d.grpcAddress },
    {
      door: 'import',
      target: '>= 1 M',
      address: (d) => d.grpcAddress,
      path: () => {
        const path = join(files, 'import.ndjson');
        writePinoFile(path, 0, TOTAL);
        return path;
      },
    },
    {
      door: 'collector',
      target: '>= 500 k',
      address: (d) => d.grpcAddress,
      path: () => {
        const dir = join(files, 'tailed');
        mkdirSync(dir);
        for (let f = 0; f < FILES; f++) writePinoFile(join(dir, `app-${f}.log`), (f * TOTAL) / FILES, ((f + 1) * TOTAL) / FILES);
        return dir;
      },
    },
    { door: 'client', target: '-', address: (d) => d.grpcAddress },
    { door: 'http-ndjson', target: '>= 300 k', address: (d) => d.url },
    { door: 'loki-json', target: '>= 300 k', address: (d) => d.url },
  ] satisfies Door[]
).filter((d: Door) => !only || only.includes(d.door));
/** Runs the client in its own process; asynchronously, since the daemon's main thread is this one. */
function runClient(door: string, address: string, path?: string): Promise<{ entries: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./client.js', import.meta.url)), door, address, String(TOTAL), ...(path ? [path] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`${door} client exited with ${code}`))));
  });
}

for (const door of doors) {
  const path = door.path?.();
  await withDaemon(async (d) => {
    const r = await runClient(door.door, door.address(d), path);
    const rate = r.entries / (r.ms / 1000);
    rows.push({ door: door.door, entriesPerSec: rate, target: door.target });
    log(`${door.door}: ${si(rate)} entries/s`);
  });
}

rmSync(files, { recursive: true, force: true });

const base = rows[0]!.entriesPerSec;
printTable(
  `Ingest through each door from a separate client process, durable and indexed (${TOTAL.toLocaleString('en')} entries each, ${quick ? 'quick' : 'full'})`,
  rows.map((r) => ({ door: r.door, 'entries/s': si(r.entriesPerSec), 'vs baseline': `${(r.entriesPerSec / base).toFixed(2)}x`, target: r.target })),
);
const path = writeResults(quick ? 'ingest-quick' : 'ingest', { total: TOTAL, rows });
console.log(`\nwrote ${path}`);
