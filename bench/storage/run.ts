// npm run bench:storage — durable ingest through the actor system into shards,
// beside a raw append-and-fdatasync baseline in the same run; bytes on disk per
// entry (synthetic templates and the Loghub samples); resident memory after
// 1 M and 10 M stored entries; recovery time of a 10 M-entry store.
import { spawnSync } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MALLOC_ENV } from '../../src/daemon/malloc-env.js';
import { ActorSystem } from '../../src/actors/system.js';
import type { ActorRef } from '../../src/actors/behaviour.js';
import { BatchBuilder } from '../../src/batch/builder.js';
import { PER_BATCH, WINDOW, setFirstSeq, shardModule, templates } from './common.js';
import { ShardStore } from '../../src/index/store.js';
import { Level, type Level as LevelT } from '../../src/model/level.js';
import type { ShardStatsAnswer } from '../../src/shard/shard-actor.js';
import { dirBytes, printTable, si, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
const log = (s: string) => process.stderr.write(`  ${s}\n`);
const root = mkdtempSync(join(tmpdir(), 'tributary-storage-'));
async function ingest(shards: number, replicas: number, total: number): Promise<{ rate: number; dir: string; system: ActorSystem; refs: ActorRef[] }> {
  const dir = mkdtempSync(join(root, 'run-'));
  const system = await ActorSystem.start({ workers: 2, deadLetterPath: join(dir, 'dl.ndjson') });
  const refs: ActorRef[] = [];
  for (let s = 0; s < shards; s++)
    refs.push(await system.spawn({ name: `shard-${s}`, behaviour: shardModule, args: { dir: join(dir, `shard-${s}`) }, replicas }));
  // One template (source) per shard: each shard sees one contiguous stream.
  const tpl = templates(shards);
  const next = new Array<number>(shards).fill(0);
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total / PER_BATCH; i++) {
    const s = i % shards;
    setFirstSeq(tpl[s]!, next[s]!);
    next[s]! += PER_BATCH;
    const seq = await system.send(refs[s]!, tpl[s]!);
    inflight.push(system.whenAcked(refs[s]!, seq, { replicas, timeoutMs: 60_000 }));
    if (inflight.length >= WINDOW) await inflight.shift();
  }
  await Promise.all(inflight);
  return { rate: (total * 1000) / (performance.now() - start), dir, system, refs };
}

/** The same bytes appended to one file with the same group-commit policy (fdatasync every 2 ms or 1 MiB). */
function rawAppend(total: number): number {
  const path = join(root, 'raw.log');
  const fd = openSync(path, 'w');
  const tpl = templates(1)[0]!;
  let sinceSync = 0;
  let last = performance.now();
  const start = performance.now();
  for (let i = 0; i < total / PER_BATCH; i++) {
    writeSync(fd, tpl);
    sinceSync += tpl.byteLength;
    const now = performance.now();
    if (sinceSync >= 1 << 20 || now - last >= 2) {
      fdatasyncSync(fd);
      sinceSync = 0;
      last = now;
    }
  }
  fdatasyncSync(fd);
  closeSync(fd);
  rmSync(path);
  return (total * 1000) / (performance.now() - start);
}

async function blockBytesPerEntry(system: ActorSystem, refs: ActorRef[]): Promise<{ perEntry: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  for (const r of refs) {
    await system.ask(r, { op: 'seal' });
  }
  for (const r of refs) {
    for (;;) {
      const s = await system.ask<ShardStatsAnswer>(r, { op: 'stats' });
      if (s.store!.memtableEntries === 0) {
        bytes += s.store!.blockBytes;
        entries += s.store!.blockEntries;
        break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  return { perEntry: bytes / entries, entries };
}

/** Loghub samples, one shard store each: bytes per entry once sealed. */
async function loghub(): Promise<Record<string, string | number>[]> {
  const dataDir = fileURLToPath(new URL('../../../../shared/data/loghub/', import.meta.url));
  const rows: Record<string, string | number>[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dataDir).filter((n) => !n.includes('.'));
  } catch {
    log(`no Loghub samples at ${dataDir}: skipped`);
    return rows;
  }
  for (const name of names.sort()) {
    let text: string;
    try {
      text = readFileSync(join(dataDir, name, `${name}_2k.log`), 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n').filter((l) => l.length > 0);
    const dir = mkdtempSync(join(root, `loghub-${name}-`));
    const { store } = ShardStore.open({ dir });
    const buf = new Uint8Array(4 << 20);
    const b = new BatchBuilder(buf, { sourceId: 'loghub', firstSeq: 0n, maxEntries: lines.length });
    lines.forEach((line, i) => {
      const level: LevelT = /\b(ERROR|FATAL|SEVERE|FAILED)\b/i.test(line) ? Level.ERROR : /\bWARN/i.test(line) ? Level.WARN : Level.INFO;
      b.add(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, level, name.toLowerCase(), `${name}-host`, 'loghub', line);
    });
    store.append(buf.subarray(0, b.finish()));
    const block = (await store.seal())!;
    const raw = lines.reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);
    rows.push({
      dataset: name,
      entries: lines.length,
      'raw bytes/entry': (raw / lines.length).toFixed(1),
      'block bytes/entry': (block.bytes / lines.length).toFixed(1),
      ratio: (raw / block.bytes).toFixed(1),
    });
    await store.close();
  }
  return rows;
}

const total = quick ? 500_000 : 4_000_000;
process.stderr.write('durable ingest...\n');
const raw = rawAppend(total);
const ingestRows: { setup: string; rate: number }[] = [];
let synthetic = { perEntry: 0, entries: 0 };
for (const [shards, replicas] of [
  [1, 0],
  [2, 0],
  [4, 0],
  [2, 1],
] as const) {
  log(`${shards} shard(s), replicas ${replicas}`);
  const run = await ingest(shards, replicas, total);
  ingestRows.push({ setup: `${shards} shard${shards > 1 ? 's' : ''}, R = ${replicas + 1}`, rate: run.rate });
  if (shards === 2 && replicas === 0) synthetic = await blockBytesPerEntry(run.system, run.refs);
  await run.system.stop();
  rmSync(run.dir, { recursive: true, force: true });
}
printTable(
  `Entries acknowledged durable through the actor system (${total.toLocaleString('en')} synthetic entries, batches of ${PER_BATCH}, ${WINDOW} in flight)`,
  [
    { setup: 'baseline: the same bytes appended to one file, fdatasync every 2 ms or 1 MiB', 'entries/s': si(raw), 'x baseline': '1.00' },
    ...ingestRows.map((r) => ({ setup: r.setup, 'entries/s': si(r.rate), 'x baseline': (r.rate / raw).toFixed(2) })),
  ],
);

process.stderr.write('bytes on disk...\n');
const hub = await loghub();
printTable(
  `Bytes per entry in sealed blocks (synthetic templates: ${synthetic.perEntry.toFixed(1)} bytes/entry over ${synthetic.entries.toLocaleString('en')} entries)`,
  hub,
);

process.stderr.write('memory and recovery (in a fresh process)...\n');
const memTotal = quick ? 2_000_000 : 10_000_000;
const memDir = mkdtempSync(join(root, 'mem-'));
// With the malloc settings the daemon runs with (see src/daemon/malloc-env.ts).
const child = spawnSync(process.execPath, [fileURLToPath(new URL('./memory.js', import.meta.url)), String(memTotal), memDir], {
  encoding: 'utf8',
  env: { ...process.env, ...MALLOC_ENV },
});
if (child.status !== 0) throw new Error(`memory benchmark failed: ${child.stderr}`);
const mem = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
  budgetBytes: number;
  rss: Record<string, number>;
  recovery: { entries: number; ms: number };
};
const rss = mem.rss;
const onDisk = dirBytes(memDir);
const recoveredEntries = mem.recovery.entries;
const recoveryMs = mem.recovery.ms;
const rssValues = Object.values(rss);
const pct = (v: number) => `${(((v - rssValues[0]!) / rssValues[0]!) * 100).toFixed(1)} %`;
printTable(`Resident memory of a fresh process (main + 2 workers + 2 seal threads, 2 shards, budget ${(mem.budgetBytes / 2 ** 20).toFixed(0)} MiB)`, [
  ...Object.entries(rss).map(([k, v]) => ({ stored: k, 'RSS MiB': (v / 2 ** 20).toFixed(0) })),
  { stored: 'change from the first to the last', 'RSS MiB': pct(rssValues.at(-1)!) },
  { stored: 'largest change from the first', 'RSS MiB': pct(Math.max(...rssValues)) },
  {
    stored: `recovery of ${recoveredEntries.toLocaleString('en')} entries (${(onDisk / 2 ** 20).toFixed(0)} MiB on disk)`,
    'RSS MiB': `${recoveryMs.toFixed(0)} ms`,
  },
]);

const path = writeResults(quick ? 'storage-quick' : 'storage', {
  total,
  rawAppendEntriesPerSec: raw,
  ingest: ingestRows,
  syntheticBytesPerEntry: synthetic.perEntry,
  loghub: hub,
  memoryBudgetBytes: mem.budgetBytes,
  rssBytes: rss,
  recovery: { entries: recoveredEntries, ms: recoveryMs, diskBytes: onDisk },
});
console.log(`\nwrote ${path}`);
rmSync(root, { recursive: true, force: true });
