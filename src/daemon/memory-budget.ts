import type { ResourceLimits } from 'node:worker_threads';
import { TributaryError } from '../errors.js';

/** The default memory budget of a daemon: resident memory of the whole process. */
export const DEFAULT_MEMORY_BUDGET = 512 * MiB(1);

/** What the daemon runs, which decides how a budget is shared out. */
export interface MemoryShape {
  readonly shards: number;
  /** Replicas per shard (each keeps a tail of recent batches in memory). */
  readonly replicas: number;
  /** Actor worker threads; each also starts one seal thread when it hosts a primary. */
  readonly workers: number;
  /** Threads that parse request bodies for the front doors (default 1). */
  readonly parseThreads?: number;
}

/** Sizes derived from one budget, every one of them a limit with a defined behaviour when reached. */
export interface MemoryPlan {
  readonly budgetBytes: number;
  /** Runtime cost of the threads themselves (code, isolates, stacks): not tunable, only counted. */
  readonly runtimeBytes: number;
  /** Per shard store: memtable bounds (reserved up front), page cache. */
  readonly shard: {
    readonly sealBytes: number;
    readonly maxMemtableBytes: number;
    readonly pageCacheBytes: number;
    readonly replicaTailBytes: number;
    readonly reserveMemtable: true;
  };
  /** V8 heap limits of each actor thread (queries and ingest work there). */
  readonly actorThread: ResourceLimits;
  /**
   * The most bytes one query's answer may hold per shard (a quarter of an
   * actor thread's heap limit): past it the answer is what was found so
   * far, marked partial, never an out-of-memory crash of the thread.
   */
  readonly queryResultBytes: number;
  /** V8 heap limits of each seal thread (sorting and compressing a memtable). */
  readonly sealThread: ResourceLimits;
  /** V8 heap limits of each parse thread (one request body and its batches at a time). */
  readonly parseThread: ResourceLimits;
}

function MiB(n: number): number {
  return n * 1024 * 1024;
}

/**
 * What the threads cost before they hold any data, with a margin. Measured
 * idle on this project's machine (Node 20, one malloc arena): a bare process
 * 50 MiB, plus 14 MiB once the HTTP and gRPC servers are loaded; each actor
 * or seal thread about 10 MiB. The main thread's allowance adds the content
 * deduplication tables (8 MiB); both leave room for the code compiled and
 * the stacks grown under load.
 */
const MAIN_RUNTIME = MiB(72);
const THREAD_RUNTIME = MiB(24);
/** Young generation per thread: V8's default lets each isolate's nursery grow to 48 MiB, a large and wandering share of a small budget. */
const YOUNG_GENERATION_MB = 8;

/**
 * Shares one memory budget out, so an operator sets one number:
 *
 *   runtime      threads themselves (counted first, not tunable)
 *   25 %         memtables: reserved and touched at open, so memory does not
 *                creep up as data arrives; when full, the shard holds frames
 *                in its mailbox (backpressure) until a seal frees room
 *   35 %         block caches: decoded sealed pages, and the texts and
 *                postings they are read with, in one budget (LRU: evicts
 *                when full)
 *    5 %         replica tails (oldest batch dropped when full: it is durable
 *                on the primary already)
 *   10 %         headroom for what moves with the load (bodies in flight,
 *                answers being built, garbage not yet collected): the
 *                memory governor slows ingest and queries down when resident
 *                memory nears the budget (memory-governor.ts)
 *   the rest     (25 %) working heaps, as V8 old-generation limits: 60 % for the
 *                actor threads (queries and ingest), 20 % for the seal
 *                threads, 20 % for the parse threads; floors of 128, 64
 *                and 64 MiB. A query past
 *                its byte bound (a quarter of its thread's limit) answers
 *                partial. These are caps the threads grow into, not
 *                reservations.
 *
 * Throws E_INVALID_ARGUMENT when the budget cannot hold even the runtime and
 * 2 MiB memtables.
 */
export function planMemory(budgetBytes: number, shape: MemoryShape): MemoryPlan {
  const sealThreads = shape.workers;
  const parseThreads = shape.parseThreads ?? 1;
  const runtimeBytes = MAIN_RUNTIME + THREAD_RUNTIME * (shape.workers + sealThreads + parseThreads);
  const rest = budgetBytes - runtimeBytes;
  const shards = Math.max(1, shape.shards);
  // A store reserves 2 x maxMemtableBytes (memtable plus the generation being sealed).
  const maxMemtableBytes = Math.floor((rest * 0.25) / shards / 2 / MiB(1)) * MiB(1);
  if (!Number.isFinite(budgetBytes) || maxMemtableBytes < MiB(2)) {
    throw new TributaryError(
      'E_INVALID_ARGUMENT',
      `memory budget of ${(budgetBytes / MiB(1)).toFixed(0)} MiB is too small for ${shards} shards on ${shape.workers} threads: ` +
        `the threads alone take about ${(runtimeBytes / MiB(1)).toFixed(0)} MiB`,
      { budgetBytes, ...shape },
    );
  }
  const heaps = rest * 0.25;
  const actorHeapMb = Math.max(128, Math.floor((heaps * 0.6) / shape.workers / MiB(1)));
  const sealHeapMb = Math.max(64, Math.floor((heaps * 0.2) / sealThreads / MiB(1)));
  const parseHeapMb = Math.max(64, Math.floor((heaps * 0.2) / Math.max(1, parseThreads) / MiB(1)));
  return {
    budgetBytes,
    runtimeBytes,
    shard: {
      sealBytes: Math.min(MiB(64), maxMemtableBytes / 2),
      maxMemtableBytes,
      pageCacheBytes: Math.floor((rest * 0.35) / shards),
      replicaTailBytes: shape.replicas > 0 ? Math.floor((rest * 0.05) / (shards * shape.replicas)) : 0,
      reserveMemtable: true,
    },
    actorThread: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: actorHeapMb },
    queryResultBytes: Math.floor(MiB(actorHeapMb) / 4),
    sealThread: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: sealHeapMb },
    parseThread: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: parseHeapMb },
  };
}
