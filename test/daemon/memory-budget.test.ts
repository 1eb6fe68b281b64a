import test from 'ava';
import fc from 'fast-check';
import { SlabArena } from '../../src/index/arena.js';
import { DEFAULT_MEMORY_BUDGET, planMemory } from '../../src/daemon/memory-budget.js';
import { isTributaryError } from '../../src/errors.js';

const MiB = 1024 * 1024;

test('a plan never hands out more than its budget, whatever the shape', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 256, max: 64 * 1024 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 1, max: 8 }),
      (budgetMiB, shards, replicas, workers) => {
        let plan;
        try {
          plan = planMemory(budgetMiB * MiB, { shards, replicas, workers });
        } catch (err) {
          return isTributaryError(err) && err.code === 'E_INVALID_ARGUMENT';
        }
        const s = plan.shard;
        const heaps = (plan.actorThread.maxOldGenerationSizeMb! + plan.sealThread.maxOldGenerationSizeMb!) * workers * MiB;
        const floors = (128 + 64) * workers * MiB;
        const planned = plan.runtimeBytes + shards * (2 * s.maxMemtableBytes + s.pageCacheBytes + replicas * s.replicaTailBytes) + heaps;
        // Heap caps have floors per thread, so a small budget may be exceeded by them alone (they are caps, not reservations).
        return (
          s.sealBytes <= s.maxMemtableBytes &&
          s.maxMemtableBytes >= 2 * MiB &&
          plan.queryResultBytes * 4 <= plan.actorThread.maxOldGenerationSizeMb! * MiB &&
          // Heap caps exceed their share only by their floors.
          planned <= budgetMiB * MiB + floors
        );
      },
    ),
  );
  t.pass();
});

test('the default budget fits the default daemon; one too small is refused with the reason', (t) => {
  const plan = planMemory(DEFAULT_MEMORY_BUDGET, { shards: 2, replicas: 1, workers: 2 });
  t.true(plan.shard.maxMemtableBytes >= 8 * MiB);
  t.true(plan.shard.replicaTailBytes > 0);
  const err = t.throws(() => planMemory(64 * MiB, { shards: 8, replicas: 1, workers: 8 }));
  t.true(isTributaryError(err) && err.code === 'E_INVALID_ARGUMENT');
  t.regex(err!.message, /too small/);
});

test('a reserved arena makes its slabs up front and reuses them: no growth across generations', (t) => {
  const arena = new SlabArena(64 * 1024, { reserve: 4 });
  t.is(arena.slabs, 4);
  for (let gen = 0; gen < 50; gen++) {
    for (let i = 0; i < 30; i++) arena.alloc(8000);
    arena.release(arena.cut());
  }
  t.is(arena.slabs, 4);
});
