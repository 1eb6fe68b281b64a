import test from 'ava';
import { once } from 'node:events';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

const moduleUrl = new URL('../../src/util/thread-priority.js', import.meta.url).href;

test("lowering a worker thread's priority changes that thread only", async (t) => {
  if (process.platform !== 'linux') return t.pass('per-thread nice values are a Linux feature');
  const before = getPriority(process.pid);
  const target = Math.min(19, before + 5);
  const worker = new Worker(
    `import('${moduleUrl}').then(async (m) => {
       const { readlinkSync } = await import('node:fs');
       const { getPriority } = await import('node:os');
       const { parentPort } = await import('node:worker_threads');
       const lowered = m.lowerThisThreadPriority(${target});
       const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
       parentPort.postMessage({ lowered, nice: getPriority(tid) });
     });`,
    { eval: true },
  );
  const [answer] = (await once(worker, 'message')) as [{ lowered: boolean; nice: number }];
  await worker.terminate();
  t.true(answer.lowered);
  t.is(answer.nice, target);
  t.is(getPriority(process.pid), before, 'the main thread keeps its priority');
});
