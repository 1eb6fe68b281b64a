// npm run bench:anomaly — detection latency and cost.
//
// Latency: from the arrival of the entry that crosses a threshold (the
// daemon's ingest call with it) to the flag event reaching a subscriber, in
// process (AnomalyMonitor.subscribe) and over the SSE stream. Probes: every
// 20 ms, 11 ERROR entries for a new service (the 11th crosses T = 10 of
// N = 1000). Measured idle (the baseline, same run) and while a separate
// client process pushes fleet entries over gRPC as fast as the daemon takes
// them (target: >= 500 k/s, p99 < 50 ms).
//
// Cost: ingest entries/s with detection on against the same load with it
// off (same run, so the ratio holds on a noisy machine), and the detector's
// per-entry work (decode the feed and push into windows) in tinybench.
// --quick: smaller load. PACED=entries/s sets the paced load (default 600000).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { BatchReader } from '../../src/batch/reader.js';
import { encodeBatch } from '../../src/batch/encode.js';
import { feedsOf, readFeed } from '../../src/anomaly/feed.js';
import { followSse } from '../../src/cli/http-client.js';
import { WindowTable } from '../../src/anomaly/window.js';
import type { AnomalyEvent } from '../../src/anomaly/detector-actor.js';
import { Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';
import { fleetEntry } from '../lib/fleet.js';
import { printTable, si, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
const LOAD = quick ? 1_000_000 : 4_000_000;
const PROBE_EVERY_MS = 20;
const log = (s: string) => process.stderr.write(`  ${s}\n`);

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function withDaemon<T>(options: DaemonOptions, fn: (d: Daemon) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-anomaly-'));
  const d = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: { port: 0 }, ...options });
  try {
    return await fn(d);
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The gRPC load client in its own process; resolves with its count and time, calls `pushing` when it starts. */
function load(address: string, pushing: () => void, rate = 0): Promise<{ entries: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./load.js', import.meta.url)), address, String(LOAD), String(rate)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (b.toString().includes('pushing') ? pushing() : process.stderr.write(b)));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`load client exited with ${code}`))));
  });
}

/** An SSE subscriber: calls `onFlag(service, now)` for each flag event; resolves once subscribed, to a close function. */
async function sse(url: string, onFlag: (service: string, at: number) => void): Promise<() => void> {
  const controller = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const following = followSse(
    { url },
    '/api/v1/anomalies/stream',
    {},
    (event, data) => {
      if (event === 'flag') onFlag((JSON.parse(data) as AnomalyEvent).service, performance.now());
    },
    controller.signal,
    opened,
  );
  following.catch(() => {}); // a stream lost mid-run shows as missing flags, which the probe reports
  await Promise.race([open, following]);
  return () => controller.abort();
}

interface Probed {
  inProcess: number[];
  sse: number[];
  probes: number;
  /** Load entries/s while probing (undefined: idle). */
  rate?: number;
}

/**
 * Sends probes every PROBE_EVERY_MS until `until` resolves (or `count`
 * probes when idle) and collects the latencies seen by both subscribers.
 */
async function probe(d: Daemon, run: string, stopWhen: Promise<unknown> | number): Promise<Probed> {
  const sent = new Map<string, number>();
  const inProcess: number[] = [];
  const viaSse: number[] = [];
  const unsubscribe = d.anomalies!.subscribe((e) => {
    const t0 = sent.get(e.service);
    if (e.type === 'flag' && t0 !== undefined) inProcess.push(performance.now() - t0);
  });
  const closeSse = await sse(d.url, (service, at) => {
    const t0 = sent.get(service);
    if (t0 !== undefined) viaSse.push(at - t0);
  });
  let done = false;
  if (typeof stopWhen !== 'number') void stopWhen.finally(() => (done = true));
  let i = 0;
  const pending: Promise<unknown>[] = [];
  while (!done && (typeof stopWhen !== 'number' || i < stopWhen)) {
    const service = `probe-${run}-${i++}`;
    const ts = BigInt(Date.now()) * 1_000_000n;
    const entries: LogEntry[] = Array.from({ length: 11 }, (_, k) => ({
      ts: ts + BigInt(k),
      level: Level.ERROR,
      service,
      server: 'probe',
      region: 'probe',
      message: `probe ${k}`,
    }));
    sent.set(service, performance.now());
    pending.push(d.ingest(entries));
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  await Promise.all(pending);
  // Every probe's flag arrives (a missing one is a failure of the benchmark, not a slow sample).
  const deadline = Date.now() + 10_000;
  while ((inProcess.length < i || viaSse.length < i) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  unsubscribe();
  closeSse();
  if (inProcess.length < i || viaSse.length < i) throw new Error(`${run}: ${i} probes, ${inProcess.length} flags in process, ${viaSse.length} over SSE`);
  return { inProcess, sse: viaSse, probes: i };
}

// 1. Idle: the baseline latency.
const idle = await withDaemon({}, (d) => probe(d, 'idle', 100));
log(`idle: ${idle.probes} probes, p50 ${percentile(idle.inProcess, 50).toFixed(2)} ms`);

// 2. Under load: detection off (the throughput baseline), then on with probes.
const off = await withDaemon({ anomaly: false }, (d) => load(d.grpcAddress, () => {}));
const offRate = off.entries / (off.ms / 1000);
log(`load, detection off: ${si(offRate)} entries/s`);
/**
 * Probes while the load client pushes (paced at `rate` entries/s, or 0: as
 * fast as the daemon takes them), with the detectors fed at append (the
 * default) or after the group commit's fsync.
 */
const underLoad = (rate: number, detectOn: 'append' | 'commit') =>
  withDaemon({ anomaly: { detectOn } }, async (d) => {
    let started!: () => void;
    const pushing = new Promise<void>((r) => (started = r));
    const run = load(d.grpcAddress, () => started(), rate);
    await pushing;
    const p = await probe(d, `${rate}-${detectOn}`, run);
    const r = await run;
    return { ...p, rate: r.entries / (r.ms / 1000) };
  });
const PACED = Number(process.env.PACED ?? 600_000);
const pacedCommit = await underLoad(PACED, 'commit');
log(`load paced at ${si(PACED)}/s, detectors fed after fsync: ${si(pacedCommit.rate!)} entries/s, ${pacedCommit.probes} probes`);
const paced = await underLoad(PACED, 'append');
log(`load paced at ${si(PACED)}/s, detectors fed at append: ${si(paced.rate!)} entries/s, ${paced.probes} probes`);
const loaded = await underLoad(0, 'append');
log(`load as fast as it goes: ${si(loaded.rate!)} entries/s, ${loaded.probes} probes`);

// 3. The detector's own work per entry: decode a feed and push its entries into windows.
const T0 = BigInt(Date.now()) * 1_000_000n;
const batch = encodeBatch(
  Array.from({ length: 5000 }, (_, i) => fleetEntry(i, T0 + BigInt(i))),
  { sourceId: 'bench', firstSeq: 0n },
);
const feed = feedsOf(BatchReader.open(batch), 1).get(0)!;
const table = new WindowTable();
const bench = new Bench({ time: quick ? 300 : 1000 });
bench
  .add('decode the feed only (baseline)', () => {
    let n = 0;
    readFeed(feed, () => n++);
  })
  .add('decode and push into windows', () => {
    readFeed(feed, (service, level) => table.push(service, level === Level.ERROR));
  })
  .add('build the feed on the shard', () => {
    feedsOf(BatchReader.open(batch), 2);
  });
await bench.run();
const perEntryNs = (name: string) => ((bench.tasks.find((t) => t.name === name)!.result as { latency: { mean: number } }).latency.mean * 1e6) / 5000;

const row = (run: string, p: Probed) => ({
  run,
  'load entries/s': p.rate === undefined ? '-' : si(p.rate),
  probes: p.probes,
  p50: percentile(p.inProcess, 50),
  p99: percentile(p.inProcess, 99),
  'SSE p50': percentile(p.sse, 50),
  'SSE p99': percentile(p.sse, 99),
});
const rows = [
  row('idle (baseline)', idle),
  row(`load paced at ${si(PACED)}/s, fed after fsync (baseline)`, pacedCommit),
  row(`load paced at ${si(PACED)}/s, fed at append (default)`, paced),
  row('load as fast as it goes, fed at append', loaded),
];
printTable(
  `Detection latency, ms: the crossing entry's arrival to the flag at a subscriber (target p99 < 50 ms at >= 500 k entries/s; ${quick ? 'quick' : 'full'})`,
  rows.map((r) => ({ ...r, p50: r.p50.toFixed(2), p99: r.p99.toFixed(2), 'SSE p50': r['SSE p50'].toFixed(2), 'SSE p99': r['SSE p99'].toFixed(2) })),
);
printTable('Cost of detection', [
  { measure: 'ingest, detection off (baseline), entries/s', value: si(offRate) },
  { measure: 'ingest, detection on, entries/s', value: si(loaded.rate!) },
  { measure: 'on / off', value: `${(loaded.rate! / offRate).toFixed(2)}x` },
  { measure: 'detector: decode feed only, ns/entry (baseline)', value: perEntryNs('decode the feed only (baseline)').toFixed(1) },
  { measure: 'detector: decode + window push, ns/entry', value: perEntryNs('decode and push into windows').toFixed(1) },
  { measure: 'shard: build the feeds, ns/entry', value: perEntryNs('build the feed on the shard').toFixed(1) },
]);
const path = writeResults(quick ? 'anomaly-quick' : 'anomaly', {
  load: LOAD,
  probeEveryMs: PROBE_EVERY_MS,
  latencyMs: rows.map((r) => ({ run: r.run, probes: r.probes, p50: r.p50, p99: r.p99, sseP50: r['SSE p50'], sseP99: r['SSE p99'] })),
  ingest: { offEntriesPerSec: offRate, onEntriesPerSec: loaded.rate, ratio: loaded.rate! / offRate },
  perEntryNs: {
    decodeOnly: perEntryNs('decode the feed only (baseline)'),
    decodeAndPush: perEntryNs('decode and push into windows'),
    buildFeed: perEntryNs('build the feed on the shard'),
  },
});
console.log(`\nwrote ${path}`);
