import test from 'ava';
import type { CounterState } from '../fixtures/actors/counter.js';
import { valueFrame } from '../fixtures/actors/counter.js';
import { newSourceId } from '../../src/model/source.js';
import { fixture, startSystem } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

test('a flooded actor does not starve another actor on its thread', async (t) => {
  const { system } = await startSystem(t, { workers: 2, framesPerTurn: 8 });
  const sources = [newSourceId()];
  const total = 20_000_000;
  const flooded = await system.spawn({
    behaviour: { module: fixture('recorder') },
    thread: 1,
    args: { seen: new SharedArrayBuffer(1), perSource: 0, sources },
  });
  const quiet = await system.spawn({ behaviour: { module: fixture('counter') }, thread: 1 });
  const producer = await system.spawn({
    behaviour: { module: fixture('producer') },
    thread: 2,
    args: { target: flooded.id, sourceId: sources[0], total, perBatch: 1000 },
  });
  await system.send(producer, new Uint8Array([1]));
  await waitUntil(
    "the flood has backed up the flooded actor's mailbox",
    () => system.stats(flooded).framesHandled > 100 && system.stats(flooded).mailboxDepth > 3,
  );
  const t0 = performance.now();
  // While the flood runs, frames to the quiet actor are still served promptly.
  for (let i = 0; i < 200; i++) await system.send(quiet, valueFrame(1));
  let state: CounterState;
  do state = await system.ask<CounterState>(quiet, 'get');
  while (state.count < 200);
  t.log(`quiet actor served in ${(performance.now() - t0).toFixed(0)} ms`);
  const progress = await system.ask<{ sent: number; done: boolean }>(producer, 'progress');
  t.false(progress.done, `the quiet actor was served while the flood was still going (${progress.sent} of ${total} sent)`);
  t.is(state.sum, 200);
  await system.stopActor(producer);
});

test('a producer bursting into a consumer on its own thread applies backpressure instead of failing', async (t) => {
  // A 64 KiB ring holds a handful of batches: the burst must wait for the co-located consumer, turn by turn.
  const { system, events } = await startSystem(t, { workers: 1, ringBytes: 1 << 16 });
  const src = (p: string) => new URL(`../../src/${p}`, import.meta.url);
  const counter = await system.spawn({ behaviour: { module: src('actors/builtin/level-counter.js'), export: 'levelCounter' } });
  const producer = await system.spawn({
    behaviour: { module: src('producers/synthetic-producer.js'), export: 'syntheticProducer' },
    args: { targets: [counter.id], perBatch: 100 },
  });
  const { budgetFrame } = await import('../../src/producers/synthetic-producer.js');
  await system.send(producer, budgetFrame(300_000));
  let counts: { entries: number };
  do counts = await system.ask<{ entries: number }>(counter, 'counts');
  while (counts.entries < 300_000);
  t.is(counts.entries, 300_000);
  t.false(
    events.some((e) => e.type === '@actor.failed'),
    'no E_MAILBOX_FULL, no restart',
  );
});
