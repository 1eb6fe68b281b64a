// A piscina task: seals batches into a block, or merges blocks into one, on a
// pool thread, so the shard's own thread keeps ingesting meanwhile.
import { writeBlock } from './block-writer.js';
import type { BlockIndex } from './block-format.js';
import { nodeFs } from './fs.js';
import { buildSealColumns } from './seal.js';
import { runCompaction, type CompactTask, type SealTask } from './sealer.js';
import { lowerThisThreadPriority } from '../util/thread-priority.js';

// Seals and merges are background work: when the cores are contended, ingest and queries go first.
lowerThisThreadPriority();

export default function storageTask(job: { kind: 'seal'; task: SealTask } | { kind: 'compact'; task: CompactTask }): BlockIndex {
  if (job.kind === 'compact') return runCompaction(nodeFs, job.task);
  const t = job.task;
  return writeBlock(nodeFs, t.dir, t.id, buildSealColumns(t.batches), t.labelCount, t.walEnd, t.now);
}
