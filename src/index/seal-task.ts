// A piscina task: seals batches into a block on a pool thread, so the shard's
// own thread keeps ingesting while the sort and compression run.
import { writeBlock } from './block-writer.js';
import type { BlockIndex } from './block-format.js';
import { nodeFs } from './fs.js';
import { buildSealColumns } from './seal.js';
import type { SealTask } from './sealer.js';

export default function sealTask(task: SealTask): BlockIndex {
  return writeBlock(nodeFs, task.dir, task.id, buildSealColumns(task.batches), task.labelCount, task.walEnd, task.now);
}
