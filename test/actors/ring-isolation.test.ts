import test from 'ava';
import { fixture, startSystem } from '../helpers/system.js';
import { waitForCounter } from '../helpers/workers.js';

// 64 KiB rings and 16 KiB frames: the stalled thread's ring is full after a few.
const RING = 64 * 1024;
const FRAME = 16 * 1024;

test("a full ring holds back only the frames for its own thread: the other thread's actor is written and acknowledged meanwhile", async (t) => {
  const { system } = await startSystem(t, { workers: 2, ringBytes: RING, hangTimeoutMs: 120_000, sendTimeoutMs: 60_000 });
  const gate = new Int32Array(new SharedArrayBuffer(8));
  t.teardown(() => {
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
  });
  const stalled = await system.spawn({ name: 'stalled', behaviour: { module: fixture('gate') }, thread: 1, args: { gate: gate.buffer } });
  const open = new Int32Array(new SharedArrayBuffer(8));
  open[0] = 1;
  const free = await system.spawn({ name: 'free', behaviour: { module: fixture('gate') }, thread: 2, args: { gate: open.buffer } });

  // The first frame stops thread 1 inside its handler; the rest fill its ring past what fits.
  const first = system.send(stalled, new Uint8Array(FRAME));
  await waitForCounter(gate, 1, 1);
  await first;
  const frames = (2 * RING) / FRAME;
  let settled = 0;
  const held = Array.from({ length: frames }, () => system.send(stalled, new Uint8Array(FRAME)).finally(() => settled++));

  // Writes to thread 2 go on: sent, handled and acknowledged while thread 1's writes wait.
  for (let i = 0; i < 20; i++) await system.whenAcked(free, await system.send(free, new Uint8Array(FRAME)));
  t.is(Atomics.load(open, 1), 20);
  t.true(settled < frames, `the stalled ring took only ${settled} of ${frames} frames: the rest wait for room`);
  t.is(Atomics.load(gate, 1), 1, 'thread 1 is still inside its first frame');

  // Released, thread 1 drains its ring and every held frame is written, in order.
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  const seqs = await Promise.all(held);
  t.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'frames to one actor keep their call order',
  );
  await system.whenAcked(stalled, seqs.at(-1)!);
  t.is(Atomics.load(gate, 1), frames + 1);
});
