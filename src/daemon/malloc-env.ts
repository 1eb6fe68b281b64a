/**
 * glibc malloc settings the daemon runs with (set before the process starts:
 * the `tributary` command's shebang, `npm start`, the benchmarks).
 *
 * Why: every worker thread gets its own malloc arena, and each arena keeps
 * the memory its thread freed (seal and compaction buffers, compression
 * state) instead of returning it. Measured with bench/storage/memory.ts, 2
 * shards at the default budget: resident memory climbed from 343 MiB after
 * 1 M entries to 446-455 MiB after 3-4 M with glibc's defaults, and stayed
 * at 349-374 MiB with one arena and a fixed mmap threshold (large buffers
 * are mapped and unmapped, not kept in an arena). The threads do their heavy
 * work in V8 heaps and shared slabs, so one arena costs no throughput
 * measurable in bench:storage.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/**
 * Node flags the daemon's main thread runs with (the worker threads get
 * theirs as resourceLimits, memory-budget.ts). V8 lets the main isolate's
 * nursery grow to 3 x 16 MiB; at 2 MiB semi-spaces it stays at 6 MiB.
 * Measured on a 2 M-entry import at the default budget: peak resident
 * memory 544 -> 484 MiB, at the same rate.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
