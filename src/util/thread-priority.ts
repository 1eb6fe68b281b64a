import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the calling thread's CPU priority (its nice value), so background
 * work (seals, compaction) yields the cores to ingest and queries when they
 * compete, and still gets every idle cycle; RocksDB does the same for its
 * compaction pool. Linux schedules threads as tasks with their own nice
 * value: /proc/thread-self names this thread's task id. Elsewhere, or if it
 * is refused, nothing changes and it returns false.
 */
export function lowerThisThreadPriority(nice = 10): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
