// npm run bench:peers — Tributary beside DuckDB and SQLite on a fleet shaped
// like a real one (bench/lib/realistic.ts: 10,000 servers, 100 regions, 200
// Zipf services, Loghub messages, skewed clocks, one hour), in one run: the
// same entries loaded into each, the same 100 seeded draws of 7 query shapes
// run on each, every answer checked equal across systems. Prints p50/p99 per
// shape and system with the ratio to the best peer, ingest rate, bytes per
// entry on disk and peak resident memory; writes bench/results/peers.json.
//
//   npm run bench:peers                 # 10 M entries
//   npm run bench:peers -- --n 1000000  # fewer
//   npm run bench:peers -- --quick      # 200 k entries, 20 draws per shape
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, spawnDaemon, type DaemonProcess } from '../../src/daemon/daemon-process.js';
import { RealisticFleet } from '../lib/realistic.js';
import { realisticFile } from '../lib/fleet-file.js';
import { storedCount } from '../lib/daemon-status.js';
import { peakRssOf } from '../lib/proc.js';
import { dirBytes, printTable, si, writeResults } from '../lib/report.js';
import { SHAPES, digestCounts, digestRows, drawQueries, percentile, tributaryRequest, type Digest, type Draw, type Shape } from './shapes.js';

const argv = process.argv;
const quick = argv.includes('--quick');
const nArg = argv.indexOf('--n');
const N = nArg >= 0 ? Number(argv[nArg + 1]) : quick ? 200_000 : 10_000_000;
const PER_SHAPE = quick ? 20 : 100;
const INGEST_RATE = 100_000;
const log = (s: string) => process.stderr.write(`  ${s}\n`);
const HERE = fileURLToPath(new URL('.', import.meta.url));

interface SystemResult {
  system: string;
  loadMs: number;
  bytes: number;
  peakRss: number;
  ms: number[];
  digests: Digest[];
}

const fleet = new RealisticFleet({ entries: N, seed: 42 });
const dataFile = realisticFile(fleet, log);
const fileBytes = statSync(dataFile).size;
const draws = drawQueries(fleet, PER_SHAPE);
const work = mkdtempSync(join(tmpdir(), 'tributary-peers-'));
const drawsFile = join(work, 'draws.json');
writeFileSync(drawsFile, JSON.stringify(draws));

function runChild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

async function peer(system: 'duckdb' | 'sqlite'): Promise<SystemResult> {
  const dir = join(work, system);
  mkdirSync(dir);
  const out = join(work, `${system}.json`);
  log(`${system}: loading and querying`);
  await runChild([join(HERE, 'peer.js'), '--system', system, '--data', dataFile, '--draws', drawsFile, '--dir', dir, '--out', out]);
  const r = JSON.parse(readFileSync(out, 'utf8')) as SystemResult;
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const LEVELS: Record<string, number> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 };

async function tributaryQuery(url: string, d: Draw): Promise<Digest> {
  const res = await fetch(url + tributaryRequest(d));
  const body = (await res.json()) as { data: any; error?: { message: string } };
  if (!res.ok) throw new Error(`${d.shape}: ${res.status} ${body.error?.message}`);
  if (d.shape === 'count_by_level') {
    const from = BigInt(d.from);
    const cells: { minute: number; level: number; count: number }[] = [];
    for (const s of body.data.series as { labels: { level: string }; points: [string, number][] }[])
      for (const [ts, count] of s.points) cells.push({ minute: Number((BigInt(ts) - from) / 60_000_000_000n), level: LEVELS[s.labels.level]!, count });
    return digestCounts(cells);
  }
  if (body.data.partial) throw new Error(`${d.shape}: partial answer: ${JSON.stringify(body.data.partial)}`);
  return digestRows(
    (body.data.entries as { ts: string; server: string; level: string; message: string }[]).map((e) => ({
      ts: e.ts,
      server: e.server,
      level: LEVELS[e.level]!,
      message: e.message,
    })),
  );
}

async function timedPass(url: string): Promise<{ ms: number[]; digests: Digest[] }> {
  for (const d of draws.slice(0, 10)) await tributaryQuery(url, d); // warm-up, as the peers get
  const ms: number[] = [];
  const digests: Digest[] = [];
  for (const d of draws) {
    const t0 = performance.now();
    digests.push(await tributaryQuery(url, d));
    ms.push(performance.now() - t0);
  }
  return { ms, digests };
}

async function allSealed(url: string, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const s = (await (await fetch(`${url}/api/v1/status`)).json()) as { data: { shards: { memtableBytes: number }[] } };
    if (s.data.shards.every((x) => x.memtableBytes === 0)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  log('tributary: memtables not sealed within the wait: bytes include the unsealed tail');
}

async function tributary(): Promise<{ idle: SystemResult; underIngest: { ms: number[]; rate: number } }> {
  const dir = join(work, 'tributary');
  const daemon: DaemonProcess = spawnDaemon(dir, ['--http-port', '0', '--grpc-port', '0', '--no-syslog', '--set', 'storage.sealAge=2s']);
  try {
    const url = await daemon.ready();
    const grpc = (await daemon.line((l) => l.msg.startsWith('tributary ready'))).grpc!;
    log(`tributary: importing (daemon at ${url})`);
    const t0 = performance.now();
    await runChild([CLI, 'import', dataFile, '--aggregator', grpc]);
    const loadMs = performance.now() - t0;
    await allSealed(url, 120_000);
    const bytes = dirBytes(dir);
    log('tributary: querying');
    const idle = await timedPass(url);
    log(`tributary: querying beside ${si(INGEST_RATE)} entries/s of ingest`);
    const load = spawn(process.execPath, [join(HERE, 'load.js'), '--url', url, '--rate', String(INGEST_RATE)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => load.stdout!.once('data', () => resolve()));
    const before = await storedCount(url);
    const started = performance.now();
    const busy = await timedPass(url);
    const rate = ((await storedCount(url)) - before) / ((performance.now() - started) / 1000);
    load.kill('SIGKILL');
    for (let i = 0; i < busy.digests.length; i++)
      if (JSON.stringify(busy.digests[i]) !== JSON.stringify(idle.digests[i])) throw new Error(`tributary: draw ${i} answered differently under ingest`);
    return { idle: { system: 'tributary', loadMs, bytes, peakRss: peakRssOf(daemon.child.pid!), ...idle }, underIngest: { ms: busy.ms, rate } };
  } finally {
    daemon.kill();
    await daemon.exited;
  }
}

try {
  const trib = await tributary();
  const duck = await peer('duckdb');
  const lite = await peer('sqlite');
  const systems = [trib.idle, duck, lite];

  // Every answer the same on every system.
  const mismatches: string[] = [];
  draws.forEach((d, i) => {
    const want = JSON.stringify(lite.digests[i]);
    for (const s of [trib.idle, duck])
      if (JSON.stringify(s.digests[i]) !== want) mismatches.push(`${d.shape} draw ${i}: ${s.system} ${JSON.stringify(s.digests[i])} vs sqlite ${want}`);
  });
  if (mismatches.length > 0) log(`ANSWERS DIFFER (${mismatches.length}):\n    ${mismatches.slice(0, 10).join('\n    ')}`);

  const byShape = (ms: number[], shape: Shape) => ms.filter((_, i) => draws[i]!.shape === shape);
  const rows = SHAPES.map(({ shape, title }) => {
    const stat = (ms: number[]) => ({ p50: percentile(byShape(ms, shape), 50), p99: percentile(byShape(ms, shape), 99) });
    const t = stat(trib.idle.ms);
    const u = stat(trib.underIngest.ms);
    const dk = stat(duck.ms);
    const sq = stat(lite.ms);
    const bestPeer = Math.min(dk.p99, sq.p99);
    return {
      shape,
      title,
      tributary: t,
      underIngest: u,
      duckdb: dk,
      sqlite: sq,
      bestPeerP99: bestPeer,
      ratioP99: t.p99 / bestPeer,
      ratioP99UnderIngest: u.p99 / bestPeer,
    };
  });
  printTable(
    `Query latency, ms (${si(N)} entries, ${PER_SHAPE} draws per shape; ratio = Tributary p99 / best peer p99)`,
    rows.map((r) => ({
      shape: r.title,
      'tributary p50': r.tributary.p50.toFixed(1),
      'tributary p99': r.tributary.p99.toFixed(1),
      [`p99 beside ${si(INGEST_RATE, 0)}/s ingest`]: r.underIngest.p99.toFixed(1),
      'duckdb p50': r.duckdb.p50.toFixed(1),
      'duckdb p99': r.duckdb.p99.toFixed(1),
      'sqlite p50': r.sqlite.p50.toFixed(1),
      'sqlite p99': r.sqlite.p99.toFixed(1),
      ratio: `${r.ratioP99.toFixed(2)}x`,
      'ratio, ingesting': `${r.ratioP99UnderIngest.toFixed(2)}x`,
    })),
  );
  const bestBytes = Math.min(duck.bytes, lite.bytes) / N;
  printTable(
    'Load and storage',
    systems.map((s) => ({
      system: s.system,
      'entries/s loaded': si(N / (s.loadMs / 1000)),
      'bytes/entry on disk': (s.bytes / N).toFixed(1),
      'vs best peer': `${(s.bytes / N / bestBytes).toFixed(2)}x`,
      'peak RSS MiB': (s.peakRss / 2 ** 20).toFixed(0),
    })),
  );
  console.log(
    `\n  ${(fileBytes / N).toFixed(0)} bytes of NDJSON per entry; answers ${mismatches.length === 0 ? 'equal on every system' : `DIFFER in ${mismatches.length} draws`}`,
  );
  console.log(`  tributary stored ${si(trib.underIngest.rate)} entries/s beside the queries`);
  const path = writeResults(quick ? 'peers-quick' : 'peers', {
    entries: N,
    drawsPerShape: PER_SHAPE,
    ndjsonBytesPerEntry: fileBytes / N,
    answersEqual: mismatches.length === 0,
    mismatches: mismatches.slice(0, 50),
    shapes: rows,
    systems: systems.map(({ ms: _ms, digests: _d, ...s }) => ({ ...s, entriesPerSec: N / (s.loadMs / 1000), bytesPerEntry: s.bytes / N })),
    ingestBesideQueries: { target: INGEST_RATE, stored: trib.underIngest.rate },
  });
  log(`results: ${path}`);
  if (mismatches.length > 0) process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
