// npm run bench:actors — actor-to-actor throughput across threads, restart
// latency after crashes, and the cost of an ask, each beside a baseline
// measured in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ActorSystem } from '../../src/actors/system.js';
import type { ActorRef } from '../../src/actors/behaviour.js';
import type { LevelCounts } from '../../src/actors/builtin/level-counter.js';
import { BatchBuilder } from '../../src/batch/builder.js';
import { BatchReader } from '../../src/batch/reader.js';
import { budgetFrame } from '../../src/producers/synthetic-producer.js';
import { syntheticLevel, syntheticMessage } from '../../src/producers/synthetic.js';
import { median, printTable, si, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
/** --only=throughput,restart,ask runs a subset. */
const only = (
  process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice(7)
    .split(',') ?? ['throughput', 'restart', 'ask']
).map((x) => x.trim());
const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
const deadLetterPath = join(dir, 'dl.ndjson');
const src = (p: string) => new URL(`../../src/${p}`, import.meta.url);
const log = (s: string) => process.stderr.write(`  ${s}\n`);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The same work as a producer plus a counter, on one thread with no actors: encode, then count levels. */
function baselineEntriesPerSec(total: number): number {
  const perBatch = 1000;
  const target = new Uint8Array(new SharedArrayBuffer(perBatch * 200 + 8192));
  const builder = new BatchBuilder(target, { sourceId: 'baseline', firstSeq: 0n, maxEntries: perBatch });
  const now = BigInt(Date.now()) * 1_000_000n;
  const messages = Array.from({ length: 4096 }, (_, i) => syntheticMessage(i));
  const services = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
  const servers = Array.from({ length: 500 }, (_, i) => `srv-${i}`);
  const regions = Array.from({ length: 10 }, (_, i) => `region-${i}`);
  let counted = 0;
  const start = performance.now();
  for (let first = 0; first < total; first += perBatch) {
    builder.reset(target, { sourceId: 'baseline', firstSeq: BigInt(first), maxEntries: perBatch });
    for (let i = 0; i < perBatch; i++) {
      const n = first + i;
      builder.add(now + BigInt(i), syntheticLevel(n), services[n % 20]!, servers[n % 500]!, regions[n % 10]!, messages[n % 4096]!);
    }
    const r = BatchReader.open(target.subarray(0, builder.finish()));
    const lv = r.levels();
    for (let i = 0; i < lv.length; i++) counted += lv[i]! === 3 ? 1 : 0;
    counted += 0;
  }
  if (counted < 0) console.log(counted);
  return (total * 1000) / (performance.now() - start);
}

async function throughput(workers: number, actorsPerThread: number, total: number): Promise<number> {
  const system = await ActorSystem.start({ workers, deadLetterPath });
  try {
    const sinks: ActorRef[][] = [];
    for (let t = 1; t <= workers; t++) {
      const row: ActorRef[] = [];
      for (let k = 0; k < actorsPerThread; k++)
        row.push(await system.spawn({ behaviour: { module: src('actors/builtin/level-counter.js'), export: 'levelCounter' }, thread: t }));
      sinks.push(row);
    }
    const producers: ActorRef[] = [];
    for (let t = 1; t <= workers; t++) {
      for (let k = 0; k < actorsPerThread; k++) {
        // Each producer feeds one counter on the next thread (its own thread when there is one).
        const target = sinks[t % workers]![k]!;
        producers.push(
          await system.spawn({
            behaviour: { module: src('producers/synthetic-producer.js'), export: 'syntheticProducer' },
            thread: t,
            args: { targets: [target.id] },
          }),
        );
      }
    }
    const each = Math.floor(total / producers.length);
    const chunk = 20_000;
    const start = performance.now();
    for (let sent = 0; sent < each; sent += chunk) for (const p of producers) await system.send(p, budgetFrame(Math.min(chunk, each - sent)));
    const all = sinks.flat();
    for (;;) {
      const counts = await Promise.all(all.map((s) => system.ask<LevelCounts>(s, 'counts')));
      if (counts.reduce((a, c) => a + c.entries, 0) >= each * producers.length) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    return (each * producers.length * 1000) / (performance.now() - start);
  } finally {
    await system.stop();
  }
}

async function restartLatency(mode: 'throw' | 'exit', crashes: number): Promise<number[]> {
  const system = await ActorSystem.start({
    workers: 1,
    deadLetterPath,
    supervisor: { intensity: { maxRestarts: 10_000, withinMs: 1000 }, backoff: { initialMs: 0, maxMs: 0, jitter: 0 } },
    workerRestartBackoff: { initialMs: 0, maxMs: 0, jitter: 0 },
  });
  try {
    const flags = new SharedArrayBuffer(8);
    const clock = new SharedArrayBuffer(16);
    const f = new Int32Array(flags);
    const c = new Float64Array(clock);
    const actor = await system.spawn({ behaviour: { module: new URL('./crashy.js', import.meta.url) }, args: { flags, clock, mode } });
    const out: number[] = [];
    for (let i = 0; i < crashes; i++) {
      const handled = Atomics.load(f, 1);
      Atomics.store(f, 0, 1);
      await system.send(actor, new Uint8Array([1]));
      const w = Atomics.waitAsync(f, 1, handled, 10_000);
      if (w.async) await w.value;
      if (Atomics.load(f, 1) === handled) throw new Error(`crash ${i}: the actor did not come back`);
      out.push(c[1]! - c[0]!);
    }
    return out;
  } finally {
    await system.stop();
  }
}

async function askLatency(n: number): Promise<{ ask: number[]; comlink: number[]; port: number[] }> {
  const system = await ActorSystem.start({ workers: 1, deadLetterPath });
  const echo = new MessageChannel();
  const rpc = new MessageChannel();
  const worker = new Worker(new URL('./echo-worker.js', import.meta.url), {
    workerData: { echo: echo.port2, rpc: rpc.port2 },
    transferList: [echo.port2, rpc.port2],
  });
  try {
    await new Promise((r) => worker.once('message', r));
    const flags = new SharedArrayBuffer(8);
    const actor = await system.spawn({
      behaviour: { module: new URL('./crashy.js', import.meta.url) },
      args: { flags, clock: new SharedArrayBuffer(16), mode: 'throw' },
    });
    const remote = Comlink.wrap<{ ping(x: number): number }>(nodeEndpoint(rpc.port1));
    const time = async (fn: () => Promise<unknown>) => {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await fn();
        xs.push((performance.now() - t0) * 1000);
      }
      return xs.slice(Math.floor(n / 10)); // drop warm-up
    };
    const ask = await time(() => system.ask(actor, 'ping'));
    const comlink = await time(() => remote.ping(1));
    const port = await time(
      () =>
        new Promise<void>((resolve) => {
          echo.port1.once('message', () => resolve());
          echo.port1.postMessage(1);
        }),
    );
    return { ask, comlink, port };
  } finally {
    echo.port1.close();
    rpc.port1.close();
    await worker.terminate();
    await system.stop();
  }
}

const total = quick ? 1_000_000 : 8_000_000;
const results: Record<string, unknown> = {};

async function throughputSection(): Promise<void> {
  process.stderr.write('actor throughput...\n');
  const baseline = baselineEntriesPerSec(quick ? 500_000 : 2_000_000);
  const tp: { workers: number; actorsPerThread: number; entriesPerSec: number[] }[] = [];
  for (const [workers, perThread] of [
    [1, 1],
    [2, 1],
    [4, 1],
    [2, 8],
    [4, 4],
  ] as const) {
    log(`${workers} workers, ${perThread} producer+counter pairs per thread`);
    const runs: number[] = [];
    for (let r = 0; r < (quick ? 1 : 3); r++) runs.push(await throughput(workers, perThread, total));
    tp.push({ workers, actorsPerThread: perThread * 2, entriesPerSec: runs });
  }
  printTable(`Actor to actor throughput: synthetic producers encode LogBatches, counters decode them (${total.toLocaleString('en')} entries, median of runs)`, [
    { setup: 'baseline: same work, one thread, no actors', 'entries/s': si(baseline), 'min-max': '-', 'x baseline': '1.00' },
    ...tp.map((r) => ({
      setup: `${r.workers} worker threads, ${r.actorsPerThread} actors per thread`,
      'entries/s': si(median(r.entriesPerSec)),
      'min-max': `${si(Math.min(...r.entriesPerSec))}-${si(Math.max(...r.entriesPerSec))}`,
      'x baseline': (median(r.entriesPerSec) / baseline).toFixed(2),
    })),
  ]);
  results.baselineEntriesPerSec = baseline;
  results.throughput = tp.map((r) => ({ ...r, median: median(r.entriesPerSec) }));
}

async function restartSection(): Promise<void> {
  process.stderr.write('restart latency...\n');
  const crashes = quick ? 10 : 50;
  const restarts = { throw: await restartLatency('throw', crashes), exit: await restartLatency('exit', crashes) };
  printTable(`Crash to first frame handled by the restarted actor (${crashes} crashes each, backoff 0)`, [
    {
      failure: 'exception in the behaviour (actor restarts in place)',
      p50: `${percentile(restarts.throw, 50).toFixed(2)} ms`,
      p99: `${percentile(restarts.throw, 99).toFixed(2)} ms`,
    },
    {
      failure: 'process.exit in the worker (thread restarts)',
      p50: `${percentile(restarts.exit, 50).toFixed(2)} ms`,
      p99: `${percentile(restarts.exit, 99).toFixed(2)} ms`,
    },
  ]);
  results.restartMs = {
    throw: { p50: percentile(restarts.throw, 50), p99: percentile(restarts.throw, 99), samples: restarts.throw },
    exit: { p50: percentile(restarts.exit, 50), p99: percentile(restarts.exit, 99), samples: restarts.exit },
  };
}

async function askSection(): Promise<void> {
  process.stderr.write('ask latency...\n');
  const asks = await askLatency(quick ? 500 : 5000);
  const row = (name: string, xs: number[]) => ({
    call: name,
    p50: `${percentile(xs, 50).toFixed(1)} us`,
    p99: `${percentile(xs, 99).toFixed(1)} us`,
    'x port': (percentile(xs, 50) / percentile(asks.port, 50)).toFixed(2),
  });
  printTable('Round trips main thread -> worker -> main thread', [
    row('MessagePort echo (baseline)', asks.port),
    row('comlink call (baseline)', asks.comlink),
    row('system.ask to an actor', asks.ask),
  ]);
  results.askUs = Object.fromEntries(Object.entries(asks).map(([k, xs]) => [k, { p50: percentile(xs, 50), p99: percentile(xs, 99) }]));
}

if (only.includes('throughput')) await throughputSection();
if (only.includes('restart')) await restartSection();
if (only.includes('ask')) await askSection();
const path = writeResults(quick ? 'actors-quick' : only.length === 3 ? 'actors' : `actors-${only.join('-')}`, results);
console.log(`\nwrote ${path}`);
rmSync(dir, { recursive: true, force: true });
