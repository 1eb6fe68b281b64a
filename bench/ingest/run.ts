// npm run bench:ingest — entries/s through each front door on the realistic
// workload (10,000 servers, 200 Zipf services, Loghub messages), each door's
// client a separate process pushing to a daemon in its own process, durable
// (acknowledged after fdatasync) and indexed. Beside them, in the same run:
// the in-process writer (no door: the storage path's own speed) and DuckDB's
// bulk load of the same NDJSON file. Each door's row carries the daemon's
// peak RSS against its memory budget.
//   --quick: 200 k entries; --entries=N; --only=door,door: just those.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import type { LogEntry } from '../../src/model/entry.js';
import { spawnDaemon } from '../../src/daemon/daemon-process.js';
import { realisticFile } from '../lib/fleet-file.js';
import { storedCount } from '../lib/daemon-status.js';
import { ioOf, peakRssOf } from '../lib/proc.js';
import { RealisticFleet } from '../lib/realistic.js';
import { printTable, si, writeResults } from '../lib/report.js';
import { entryOfLine, fileLines } from './requests.js';

const argv = process.argv;
const quick = argv.includes('--quick');
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const TOTAL = Number(opt('entries') ?? (quick ? 200_000 : 2_000_000));
const only = opt('only')?.split(',');
const BUDGET_MIB = 512; // the daemon's default memory budget, which every door runs at
const HERE = fileURLToPath(new URL('.', import.meta.url));
const log = (s: string) => process.stderr.write(`  ${s}\n`);

interface Row {
  door: string;
  entriesPerSec: number;
  peakRssMiB: number | null;
  /** Bytes the daemon passed to write(2) per entry (WAL, replica, blocks, compaction): every copy of an entry that goes to a file. */
  writtenPerEntry: number | null;
  /** Seconds the daemon spent near its memory budget, admitting one request at a time (the memory governor). */
  pressureSeconds: number | null;
  target: string;
}
const rows: Row[] = [];

const file = realisticFile(new RealisticFleet({ entries: TOTAL, seed: 42 }), log);
const lines = fileLines(file);

function child(script: string, args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`${script} ${args[0]} exited with ${code}`))));
  });
}

// Baseline: the writer called in-process with entry objects, what every door ends in.
{
  const dir = mkdtempSync(join(tmpdir(), 'tributary-ingest-'));
  const d = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: false, syslog: false });
  const batches: LogEntry[][] = [];
  for (let n = 0; n < lines.length; n += 5000) batches.push(lines.slice(n, n + 5000).map(entryOfLine));
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) await d.writer.write(batches[next++]!);
    }),
  );
  const rate = lines.length / ((performance.now() - t0) / 1000);
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
  rows.push({ door: 'in-process writer (no door)', entriesPerSec: rate, peakRssMiB: null, writtenPerEntry: null, pressureSeconds: null, target: '-' });
  log(`in-process writer: ${si(rate)} entries/s`);
}

// DuckDB's bulk load of the same file, in its own process.
{
  const dir = mkdtempSync(join(tmpdir(), 'tributary-ingest-duckdb-'));
  const r = (await child('duckdb.js', [file, dir])) as { ms: number; peakRss: number; written: number };
  rmSync(dir, { recursive: true, force: true });
  rows.push({
    door: 'DuckDB bulk load (read_json)',
    entriesPerSec: TOTAL / (r.ms / 1000),
    peakRssMiB: r.peakRss / 2 ** 20,
    writtenPerEntry: r.written / TOTAL,
    pressureSeconds: null,
    target: '-',
  });
  log(`duckdb: ${si(TOTAL / (r.ms / 1000))} entries/s`);
}

/** The file split in four for the collector to tail, as four services' log files. */
function collectorFiles(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-ingest-tailed-'));
  for (let f = 0; f < 4; f++) {
    const fd = openSync(join(dir, `app-${f}.log`), 'w');
    const from = Math.floor((f * lines.length) / 4);
    const to = Math.floor(((f + 1) * lines.length) / 4);
    for (let n = from; n < to; n += 10_000) writeSync(fd, lines.slice(n, Math.min(to, n + 10_000)).join('\n') + '\n');
    closeSync(fd);
  }
  return dir;
}

const DOORS: { door: string; target: string }[] = [
  { door: 'import', target: '>= 1.0 M' },
  { door: 'http-ndjson', target: '>= 600 k' },
  { door: 'loki-json', target: '>= 600 k' },
  { door: 'otlp-protobuf', target: '>= 500 k' },
  { door: 'grpc-batches', target: '>= 1.5 M' },
  { door: 'grpc-push', target: '>= 500 k' },
  { door: 'syslog', target: '>= 300 k' },
  { door: 'collector', target: '-' },
  { door: 'client', target: '-' },
];
for (const { door, target } of DOORS.filter((d) => !only || only.includes(d.door))) {
  const extra = door === 'collector' ? collectorFiles() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tributary-ingest-'));
  const daemon = spawnDaemon(dir, ['--http-port', '0', '--grpc-port', '0', '--syslog-port', '0', '--memory', `${BUDGET_MIB}MiB`]);
  try {
    const ready = (await daemon.line((l) => l.msg.startsWith('tributary ready'))) as { http: string; grpc: string | null; syslog?: number | null };
    const at = { http: ready.http.replace('0.0.0.0', '127.0.0.1'), grpc: ready.grpc, syslog: ready.syslog };
    const before = ioOf(daemon.child.pid!).wchar;
    const r = (await child('client.js', [door, JSON.stringify(at), file, ...(extra ? [extra] : [])])) as { entries: number; ms: number };
    // What the daemon holds, not what the client sent: a door that refused entries would otherwise look fast.
    const stored = await storedCount(at.http);
    if (stored !== TOTAL) throw new Error(`${door}: ${stored} of ${TOTAL} entries stored`);
    const rate = r.entries / (r.ms / 1000);
    const peak = peakRssOf(daemon.child.pid!) / 2 ** 20;
    const written = (ioOf(daemon.child.pid!).wchar - before) / r.entries;
    const metrics = await (await fetch(`${at.http}/metrics`)).text();
    const pressure = Number(/^tributary_memory_pressure_seconds_total (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    rows.push({ door, entriesPerSec: rate, peakRssMiB: peak, writtenPerEntry: written, pressureSeconds: pressure, target });
    log(
      `${door}: ${si(rate)} entries/s, daemon peak RSS ${peak.toFixed(0)} MiB, ${written.toFixed(0)} bytes written per entry, ${pressure.toFixed(1)} s near the budget`,
    );
  } finally {
    daemon.kill();
    await daemon.exited;
    rmSync(dir, { recursive: true, force: true });
    if (extra) rmSync(extra, { recursive: true, force: true });
  }
}

const writer = rows[0]!.entriesPerSec;
const duck = rows[1]!.entriesPerSec;
printTable(
  `Ingest of the realistic fleet (${TOTAL.toLocaleString('en')} entries, 10,000 servers) through each door, client in its own process, durable; daemon budget ${BUDGET_MIB} MiB`,
  rows.map((r) => ({
    door: r.door,
    'entries/s': si(r.entriesPerSec),
    'vs writer': `${(r.entriesPerSec / writer).toFixed(2)}x`,
    'vs DuckDB': `${(r.entriesPerSec / duck).toFixed(2)}x`,
    'peak RSS MiB': r.peakRssMiB === null ? '-' : r.peakRssMiB.toFixed(0),
    'written B/entry': r.writtenPerEntry === null ? '-' : r.writtenPerEntry.toFixed(0),
    'pressure s': r.pressureSeconds === null ? '-' : r.pressureSeconds.toFixed(1),
    target: r.target,
  })),
);
const path = writeResults(quick ? 'ingest-quick' : 'ingest', { total: TOTAL, budgetMiB: BUDGET_MIB, rows });
console.log(`\nwrote ${path}`);
