// Child process of bench:storage: resident memory of a fresh process after
// every 1 M entries stored into 2 shards (up to N M), then the recovery time of
// the result. Prints one JSON line. argv: total dir
import { join } from 'node:path';
import { ActorSystem } from '../../src/actors/system.js';
import type { ActorRef } from '../../src/actors/behaviour.js';
import { ShardStore } from '../../src/index/store.js';
import { DEFAULT_MEMORY_BUDGET, planMemory } from '../../src/daemon/memory-budget.js';
import { setFirstSeq, templates, PER_BATCH, WINDOW, shardModule } from './common.js';

const total = Number(process.argv[2]);
const dir = process.argv[3]!;
// Sized as the daemon sizes itself: one budget shared out by planMemory.
const plan = planMemory(DEFAULT_MEMORY_BUDGET, { shards: 2, replicas: 0, workers: 2 });
const system = await ActorSystem.start({ workers: 2, resourceLimits: plan.actorThread, deadLetterPath: join(dir, 'dl.ndjson') });
const refs: ActorRef[] = [];
for (let s = 0; s < 2; s++) {
  refs.push(
    await system.spawn({
      name: `shard-${s}`,
      behaviour: shardModule,
      args: { ...plan.shard, sealThreadLimits: plan.sealThread, dir: join(dir, `shard-${s}`) },
    }),
  );
}
const tpl = templates(2);
const next = [0, 0];
const rss: Record<string, number> = {};
const inflight: Promise<void>[] = [];
for (let i = 0; i < total / PER_BATCH; i++) {
  const s = i % 2;
  setFirstSeq(tpl[s]!, next[s]!);
  next[s]! += PER_BATCH;
  inflight.push(system.whenAcked(refs[s]!, await system.send(refs[s]!, tpl[s]!), { timeoutMs: 60_000 }));
  if (inflight.length >= WINDOW) await inflight.shift();
  const stored = (i + 1) * PER_BATCH;
  if (stored % 1_000_000 === 0) {
    await Promise.all(inflight.splice(0));
    rss[`${stored / 1e6} M`] = process.memoryUsage().rss;
  }
}
await system.stop();
const t0 = performance.now();
let entries = 0;
for (let s = 0; s < 2; s++) {
  const { store, report } = ShardStore.open({ dir: join(dir, `shard-${s}`) });
  entries += report.blockEntries + report.replayedEntries;
  await store.close();
}
console.log(JSON.stringify({ budgetBytes: plan.budgetBytes, rss, recovery: { entries, ms: performance.now() - t0 } }));
