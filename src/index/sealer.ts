import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BlockIndex } from './block-format.js';
import { writeBlock } from './block-writer.js';
import type { StorageFs } from './fs.js';
import { buildColumnsFromBlocks, buildSealColumns, type SealBatch } from './seal.js';
import type { WalPosition } from './wal.js';

export interface SealTask {
  readonly dir: string;
  readonly id: number;
  /** Batch bytes in SharedArrayBuffers: a pool thread reads them without a copy. */
  readonly batches: readonly SealBatch[];
  readonly labelCount: number;
  readonly walEnd: WalPosition;
  readonly now: number;
}

/** Merge sealed blocks into one (the new block's footer names the ones it replaces). */
export interface CompactTask {
  readonly dir: string;
  readonly id: number;
  readonly blocks: readonly BlockIndex[];
  readonly labelCount: number;
  readonly walEnd: WalPosition;
  readonly now: number;
}

/** Where seals and compactions run: a narrow seam, swapped in tests. */
export interface Sealer {
  seal(task: SealTask): Promise<BlockIndex>;
  compact(task: CompactTask): Promise<BlockIndex>;
  release(): Promise<void>;
}

export function runCompaction(fs: StorageFs, t: CompactTask): BlockIndex {
  const columns = buildColumnsFromBlocks(fs, t.blocks);
  return writeBlock(
    fs,
    t.dir,
    t.id,
    columns,
    t.labelCount,
    t.walEnd,
    t.now,
    t.blocks.map((b) => b.id),
  );
}

/** Seals on the calling thread (used with an injected file layer, and where threads are not wanted). */
export function inlineSealer(fs: StorageFs): Sealer {
  return {
    seal: async (t) => writeBlock(fs, t.dir, t.id, buildSealColumns(t.batches), t.labelCount, t.walEnd, t.now),
    compact: async (t) => runCompaction(fs, t),
    release: async () => {},
  };
}

/**
 * Seals on a piscina pool shared by every store of this thread: the sort and
 * compression of a seal (the larger part of a shard's CPU time) run beside
 * ingest instead of stalling it. Stateless work, which is what piscina is
 * for: a crashed seal task rejects, the store keeps the batches and seals
 * them next time. The pool is reference-counted by the stores that use it
 * and destroyed with the last, so no thread outlives its users.
 */
let pool: Piscina | undefined;
let users = 0;

export function poolSealer(resourceLimits?: ResourceLimits): Sealer {
  if (!pool) {
    pool = new Piscina({
      filename: new URL('./seal-task.js', import.meta.url).href,
      // One thread kept while the pool lives: its memory is part of the budget, not a wave that comes and goes.
      minThreads: 1,
      maxThreads: 1,
      resourceLimits,
    });
  }
  users++;
  const mine = pool;
  let released = false;
  return {
    seal: (t) => mine.run({ kind: 'seal', task: t }) as Promise<BlockIndex>,
    compact: (t) => mine.run({ kind: 'compact', task: t }) as Promise<BlockIndex>,
    release: async () => {
      if (released) return;
      released = true;
      if (--users === 0 && pool === mine) {
        pool = undefined;
        await mine.destroy();
      }
    },
  };
}
