// npm run bench:query — p50/p99 per query shape over 10 M stored entries (and 1 M logfmt lines of one service)
// while ingest continues at 100,000 entries/s, beside a brute-force scan of
// the same shard data in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import type { ShardStatsAnswer } from '../../src/shard/shard-actor.js';
import type { LogEntry } from '../../src/model/entry.js';
import { parseLogQL } from '../../src/query/logql.js';
import { compileLogQL } from '../../src/query/logql/compile.js';
import { evaluateMetric } from '../../src/query/logql/evaluate.js';
import type { LogQuery } from '../../src/query/model.js';
import { syntheticMessage } from '../../src/producers/synthetic.js';
import { fleetEntry } from '../lib/fleet.js';
import { printTable, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
const TOTAL = quick ? 1_000_000 : 10_000_000;
const RUNS = quick ? 20 : 100;
const HOUR = 3_600_000_000_000n;
const dir = mkdtempSync(join(tmpdir(), 'tributary-query-'));
const log = (s: string) => process.stderr.write(`  ${s}\n`);

const daemon = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
const end = BigInt(Date.now()) * 1_000_000n;
const start = end - HOUR;
const messages = Array.from({ length: 4096 }, (_, i) => syntheticMessage(i));
function entry(n: number, ts: bigint): LogEntry {
  return fleetEntry(n, ts, messages[n % 4096]);
}

process.stderr.write(`loading ${TOTAL.toLocaleString('en')} entries over one hour...\n`);
const t0 = performance.now();
const CHUNK = 20_000;
const step = HOUR / BigInt(TOTAL);
for (let n = 0; n < TOTAL; n += CHUNK) {
  const batch: LogEntry[] = [];
  for (let i = n; i < Math.min(TOTAL, n + CHUNK); i++) batch.push(entry(i, start + BigInt(i) * step));
  await daemon.writer.write(batch);
}
log(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// One service of 1 M logfmt lines over the same hour, as an HTTP service logs them, for the parser shapes.
const PARSED = 1_000_000;
const PATHS = ['/api/cart', '/api/search', '/api/login', '/api/pay', '/static/app.js', '/healthz'];
process.stderr.write(`loading ${PARSED.toLocaleString('en')} logfmt lines of one service...\n`);
const parsedStep = HOUR / BigInt(PARSED);
for (let n = 0; n < PARSED; n += CHUNK) {
  const batch: LogEntry[] = [];
  for (let i = n; i < Math.min(PARSED, n + CHUNK); i++) {
    const latency = (i * 7919) % 1000;
    batch.push({
      ts: start + BigInt(i) * parsedStep + 1n,
      level: latency > 900 ? 2 : 1,
      service: 'checkout',
      server: `co-${i % 50}`,
      region: `region-${i % 10}`,
      message: `method=GET path=${PATHS[i % 6]} status=${latency > 950 ? 503 : 200} latency_ms=${latency} bytes=${(i * 31) % 50_000} user=u${i % 977} msg="request served"`,
    });
  }
  await daemon.writer.write(batch);
}

// Let the load's seals and compactions finish: the measurement is of steady ingest, not of the bulk load's aftermath.
const settleStart = performance.now();
for (let quiet = 0; quiet < 3 && performance.now() - settleStart < 120_000;) {
  await new Promise((r) => setTimeout(r, 500));
  const stats = await Promise.all(daemon.shards.map((ref) => daemon.system.ask<ShardStatsAnswer>(ref, { op: 'stats' })));
  quiet = stats.every((s) => !s.store?.sealing && !s.store?.compacting) ? quiet + 1 : 0;
}
log(`background work settled in ${((performance.now() - settleStart) / 1000).toFixed(1)} s`);

// Ingest continues at 100,000 entries/s while queries run: 1,000 entries every 10 ms, as many clients pushing small requests would.
let live = TOTAL;
let ingesting = true;
const ingestStart = performance.now();
// Each tick starts a write and does not wait for it: acknowledgements take a group commit (and
// longer under load), so writes are pipelined, at most 32 in flight, as many clients would be.
const inflight = new Set<Promise<void>>();
const ingest = (async () => {
  while (ingesting) {
    const tickStart = performance.now();
    // What the clock says is owed at 100,000 entries/s, so timer drift does not lower the rate.
    const due = Math.min(5000, Math.floor(((performance.now() - ingestStart) / 1000) * 100_000) - (live - TOTAL));
    if (inflight.size < 32 && due > 0) {
      const now = BigInt(Date.now()) * 1_000_000n;
      const batch: LogEntry[] = [];
      for (let i = 0; i < due; i++) batch.push(entry(live++, now + BigInt(i)));
      const w: Promise<void> = daemon.writer.write(batch).finally(() => inflight.delete(w));
      inflight.add(w);
    }
    const wait = 10 - (performance.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
})();

const mid = start + HOUR / 2n;
const alignedEnd = (end / 60_000_000_000n) * 60_000_000_000n;
const MIN = 60_000_000_000n;
const shapes: { name: string; target: number; run: () => Promise<unknown> }[] = [
  { name: 'service + 1-minute range, limit 1000', target: 10, run: () => logq('{service="svc-3"}', mid, mid + MIN) },
  { name: 'global 5 minutes, level >= WARN, limit 1000', target: 20, run: () => logq('{} | level >= WARN', mid, mid + 5n * MIN) },
  { name: 'region + 1-minute range, limit 1000', target: 10, run: () => logq('{region="region-4"}', mid, mid + MIN) },
  { name: 'one server over the whole hour, limit 1000', target: 10, run: () => logq('{server="srv-123"}', start, end) },
  { name: 'global 10-second window, limit 1000', target: 10, run: () => logq('{}', mid, mid + 10_000_000_000n) },
  // A dashboard aligns its range to the step: the last whole hour of minutes.
  {
    name: 'count by level per minute, one service, one hour',
    target: 50,
    run: () => metric('count_over_time({service="svc-7"}[1m]) by (level)', alignedEnd - HOUR, alignedEnd),
  },
  { name: 'substring in a 1-minute range, limit 1000', target: 20, run: () => logq('{} |= "timed out"', mid, mid + MIN) },
  // Loki's API over the whole store: the dashboard's rate by level, one point a minute (roll-ups answer it).
  {
    name: 'sum by (level) (rate(everything [1m])), one hour',
    target: 100,
    run: () => lokiMetric('sum by (level) (rate({service=~".+"}[1m]))', alignedEnd - HOUR, alignedEnd, MIN),
  },
];

/** The parser target: a logfmt label filter over the 1 M lines, against the plain line filter over the same lines. */
const parserPair = {
  parser: () => lokiMetric('sum(count_over_time({service="checkout"} | logfmt | latency_ms > 500 [1h]))', end, end, HOUR),
  lineFilter: () => lokiMetric('sum(count_over_time({service="checkout"} |= "latency_ms" [1h]))', end, end, HOUR),
};

async function lokiMetric(text: string, from: bigint, to: bigint, stepNs: bigint): Promise<number> {
  const c = compileLogQL(text);
  if (c.type !== 'expr') throw new Error(`${text}: not a metric expression`);
  const r = await evaluateMetric(c.expr, daemon.engine, { start: from, end: to, step: stepNs }, 30_000);
  if (r.value.kind !== 'vector' || r.value.series.length === 0) throw new Error(`${text}: no series`);
  if (r.partial) throw new Error(`${text}: partial: ${r.partial.reasons.join('; ')}`);
  return r.value.series.length;
}

async function logq(text: string, from: bigint, to: bigint): Promise<number> {
  const c = parseLogQL(text);
  if (c.type !== 'log') throw new Error('not a log query');
  const r = await daemon.engine.query({ ...(c.query as LogQuery), from, to, limit: 1000, direction: 'backward' });
  if (r.entries.length === 0) throw new Error(`${text}: no results`);
  return r.entries.length;
}

async function metric(text: string, from: bigint, to: bigint): Promise<number> {
  const c = parseLogQL(text);
  if (c.type !== 'metric') throw new Error('not a metric query');
  const r = await daemon.engine.metric(c.query, from, to);
  return r.series.length;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

process.stderr.write(`querying (${RUNS} runs each) while ingest continues at 100,000 entries/s...\n`);
const rows: { shape: string; p50: number; p99: number; target: number }[] = [];
for (const s of shapes) {
  for (let i = 0; i < 3; i++) await s.run(); // warm
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const q0 = performance.now();
    await s.run();
    times.push(performance.now() - q0);
  }
  rows.push({ shape: s.name, p50: percentile(times, 50), p99: percentile(times, 99), target: s.target });
  log(`${s.name}: p99 ${percentile(times, 99).toFixed(1)} ms`);
}
// The parser pair, alternated run by run so load changes hit both alike.
const parserTimes: number[] = [];
const filterTimes: number[] = [];
for (let i = 0; i < 2; i++) {
  await parserPair.parser();
  await parserPair.lineFilter();
}
for (let i = 0; i < Math.max(5, RUNS / 10); i++) {
  let q0 = performance.now();
  await parserPair.parser();
  parserTimes.push(performance.now() - q0);
  q0 = performance.now();
  await parserPair.lineFilter();
  filterTimes.push(performance.now() - q0);
}
const parserRatio = percentile(parserTimes, 50) / percentile(filterTimes, 50);
log(`logfmt | latency_ms > 500 over 1 M lines: p50 ${percentile(parserTimes, 50).toFixed(0)} ms, ${parserRatio.toFixed(2)}x the line filter`);

// Baseline in the same run: the same 1-minute service query with no pruning help (the whole hour scanned, filtered after).
const full: number[] = [];
for (let i = 0; i < Math.max(3, RUNS / 10); i++) {
  const q0 = performance.now();
  await daemon.engine.query({ from: start, to: end + HOUR, limit: 100_000, direction: 'forward', regex: '.' });
  full.push(performance.now() - q0);
}
ingesting = false;
await ingest;
const ingestRate = (live - TOTAL) / ((performance.now() - ingestStart) / 1000);
log(`ingest while querying: ${Math.round(ingestRate).toLocaleString('en')} entries/s`);

printTable(
  `Query latency over ${TOTAL.toLocaleString('en')} stored entries, ingest running at ${Math.round(ingestRate).toLocaleString('en')} entries/s (2 shards)`,
  [
    ...rows.map((r) => ({
      query: r.shape,
      p50: `${r.p50.toFixed(1)} ms`,
      p99: `${r.p99.toFixed(1)} ms`,
      'p99 target': `< ${r.target} ms`,
      met: r.p99 < r.target ? 'yes' : 'no',
    })),
    {
      query: '{service="checkout"} | logfmt | latency_ms > 500, counted over 1 M lines',
      p50: `${percentile(parserTimes, 50).toFixed(1)} ms`,
      p99: `${percentile(parserTimes, 99).toFixed(1)} ms`,
      'p99 target': '<= 3x line filter (p50)',
      met: parserRatio <= 3 ? `yes (${parserRatio.toFixed(2)}x)` : `no (${parserRatio.toFixed(2)}x)`,
    },
    {
      query: 'baseline: {service="checkout"} |= "latency_ms", counted over the same lines',
      p50: `${percentile(filterTimes, 50).toFixed(1)} ms`,
      p99: `${percentile(filterTimes, 99).toFixed(1)} ms`,
      'p99 target': '-',
      met: '-',
    },
    {
      query: 'baseline: 100,000 entries read with no pruning (regex over the hour)',
      p50: `${percentile(full, 50).toFixed(1)} ms`,
      p99: `${percentile(full, 99).toFixed(1)} ms`,
      'p99 target': '-',
      met: '-',
    },
  ],
);
const path = writeResults(quick ? 'query-quick' : 'query', {
  total: TOTAL,
  runs: RUNS,
  rows,
  ingestEntriesPerSec: ingestRate,
  fullScanMs: { p50: percentile(full, 50), p99: percentile(full, 99) },
  parser: {
    parserMs: { p50: percentile(parserTimes, 50), p99: percentile(parserTimes, 99) },
    lineFilterMs: { p50: percentile(filterTimes, 50), p99: percentile(filterTimes, 99) },
    ratioP50: parserRatio,
  },
});
console.log(`\nwrote ${path}`);
await daemon.stop();
rmSync(dir, { recursive: true, force: true });
