import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { TributaryError, type SerializedError } from '../errors.js';
import type { BlockIndex } from './block-format.js';
import { writeBlock } from './block-writer.js';
import type { StorageFs } from './fs.js';
import { buildColumnsFromBlocks, buildSealColumns, type SealBatch } from './seal.js';
import type { WalPosition } from './wal.js';
import type { ThreadMemory } from '../util/thread-memory.js';

export interface SealTask {
  readonly dir: string;
  readonly id: number;
  /** Batch bytes in SharedArrayBuffers: a pool thread reads them without a copy. */
  readonly batches: readonly SealBatch[];
  readonly labelCount: number;
  readonly walEnd: WalPosition;
  readonly now: number;
}

/** What a pool thread is given (seal-task.ts). */
export type StorageJob = ({ kind: 'seal'; task: SealTask } | { kind: 'compact'; task: CompactTask }) & { readonly cancel: CancelFlag };

export type StorageOutcome = ({ readonly ok: true; readonly block: BlockIndex } | { readonly ok: false; readonly error: SerializedError }) & {
  /** The seal thread's memory as the job ended. */
  readonly memory?: ThreadMemory;
};

/** The memory of this thread's seal thread as its last job ended (undefined before the first): the status and metrics show it. */
let sealThreadMemory: ThreadMemory | undefined;
export function lastSealThreadMemory(): ThreadMemory | undefined {
  return sealThreadMemory;
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
  /**
   * Abandons the work in flight at its next page: it rejects with E_CANCELLED
   * and leaves no file. Nothing is lost, the WAL (or the merged blocks) still
   * hold it. A store closing calls this, so a stop never waits for a seal.
   */
  cancel(): void;
  release(): Promise<void>;
}

/** A flag another thread can raise; `interrupt` throws once it is up. Work checks it between pages. */
export type CancelFlag = Int32Array;

export function cancelFlag(): CancelFlag {
  return new Int32Array(new SharedArrayBuffer(4));
}

export function interruptOn(flag: CancelFlag | undefined, doing: string): () => void {
  return () => {
    if (flag && Atomics.load(flag, 0) !== 0) throw new TributaryError('E_CANCELLED', `${doing} cancelled: the store is closing`, { doing });
  };
}

export function runSeal(fs: StorageFs, t: SealTask, interrupt?: () => void): BlockIndex {
  return writeBlock(fs, t.dir, t.id, buildSealColumns(t.batches), t.labelCount, t.walEnd, t.now, undefined, interrupt);
}

export function runCompaction(fs: StorageFs, t: CompactTask, interrupt?: () => void): BlockIndex {
  const columns = buildColumnsFromBlocks(fs, t.blocks, interrupt);
  return writeBlock(
    fs,
    t.dir,
    t.id,
    columns,
    t.labelCount,
    t.walEnd,
    t.now,
    t.blocks.map((b) => b.id),
    interrupt,
  );
}

/** Seals on the calling thread (used with an injected file layer, and where threads are not wanted). */
export function inlineSealer(fs: StorageFs): Sealer {
  return {
    seal: async (t) => runSeal(fs, t),
    compact: async (t) => runCompaction(fs, t),
    cancel: () => {}, // a seal on this thread has finished before anyone else runs
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
  // Per user, not per pool: one store closing must not cancel another's seal.
  const cancel = cancelFlag();
  return {
    seal: (t) => outcome(mine.run({ kind: 'seal', task: t, cancel } satisfies StorageJob)),
    compact: (t) => outcome(mine.run({ kind: 'compact', task: t, cancel } satisfies StorageJob)),
    cancel: () => Atomics.store(cancel, 0, 1),
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

async function outcome(run: Promise<StorageOutcome>): Promise<BlockIndex> {
  const o = await run;
  if (o.memory) sealThreadMemory = o.memory;
  if (!o.ok) throw TributaryError.fromJSON(o.error);
  return o.block;
}
