// A piscina task: seals batches into a block, or merges blocks into one, on a
// pool thread, so the shard's own thread keeps ingesting meanwhile.
import { serializeError } from '../errors.js';
import { nodeFs } from './fs.js';
import { interruptOn, runCompaction, runSeal, type StorageJob, type StorageOutcome } from './sealer.js';
import { lowerThisThreadPriority } from '../util/thread-priority.js';
import { threadMemory } from '../util/thread-memory.js';

// Seals and merges are background work: when the cores are contended, ingest and queries go first.
lowerThisThreadPriority();

// Errors come back as values: a thrown one crosses the thread as a bare Error, without its code (E_DISK_FULL, E_CANCELLED).
export default function storageTask(job: StorageJob): StorageOutcome {
  const interrupt = interruptOn(job.cancel, `${job.kind} of block ${job.task.id}`);
  try {
    const block = job.kind === 'compact' ? runCompaction(nodeFs, job.task, interrupt) : runSeal(nodeFs, job.task, interrupt);
    // Read before the task's garbage is collected: what the seal thread holds at the end of its largest work.
    return { ok: true, block, memory: threadMemory() };
  } catch (err) {
    return { ok: false, error: serializeError(err), memory: threadMemory() };
  }
}
