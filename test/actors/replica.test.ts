import test from 'ava';
import type { CounterState } from '../fixtures/actors/counter.js';
import { valueFrame } from '../fixtures/actors/counter.js';
import { waitUntil } from '../helpers/workers.js';
import { fixture, nextEvent, startSystem } from '../helpers/system.js';

type Answer = CounterState & { role: string };

test('a restarted primary restores its state exactly from its replica, which answers meanwhile', async (t) => {
  // A 300 ms restart backoff keeps the primary down long enough to see who answers.
  const { system } = await startSystem(t, { workers: 2, supervisor: { backoff: { initialMs: 300, maxMs: 300, jitter: 0 } } });
  const counter = await system.spawn({ name: 'counter', behaviour: { module: fixture('counter') }, replicas: 1 });
  const stats = system.stats(counter);
  t.not(stats.thread, stats.replicas[0]!.thread);
  for (let v = 1; v <= 5000; v++) await system.send(counter, valueFrame(v));
  await waitUntil('both copies handled every frame', () => {
    const s = system.stats(counter);
    return s.framesHandled === 5000 && s.replicas[0]!.framesHandled === 5000;
  });

  const restarted = nextEvent(system, '@actor.started', (e) => e.actor.id === counter.id && e.restored);
  await system.killThread(stats.thread);
  // While the primary is down, asks are answered by the replica.
  const during = await system.ask<Answer>(counter, 'get');
  t.is(during.role, 'replica');
  t.is(during.count, 5000);
  const started = await restarted;
  t.true(started.restored, 'the primary came back from a snapshot, not from init');

  for (let v = 5001; v <= 6000; v++) await system.send(counter, valueFrame(v));
  await waitUntil('the restarted primary caught up', () => system.stats(counter).status === 'running' && system.stats(counter).mailboxDepth === 0);
  let after: Answer;
  do after = await system.ask<Answer>(counter, 'get');
  while (after.role !== 'primary' || after.count < 6000);
  t.is(after.count, 6000);
  t.deepEqual(
    after.values,
    Array.from({ length: 6000 }, (_, i) => i + 1),
    'every value exactly once, in order: nothing lost, nothing applied twice',
  );
  t.is(system.stats(counter).restarts, 1);
});

test('a replica that dies is restored from its primary', async (t) => {
  const { system } = await startSystem(t, { workers: 2 });
  const counter = await system.spawn({ behaviour: { module: fixture('counter') }, replicas: 1 });
  for (let v = 1; v <= 1000; v++) await system.send(counter, valueFrame(v));
  const replicaThread = system.stats(counter).replicas[0]!.thread;
  const replicaId = system.stats(counter).replicas[0]!.id;
  const back = nextEvent(system, '@actor.started', (e) => e.actor.id === replicaId && e.restored);
  await system.killThread(replicaThread);
  await back;
  // The primary's thread was the replica's thread? No: they differ, so the primary kept running.
  t.is(system.stats(counter).restarts, 0);
  for (let v = 1001; v <= 2000; v++) await system.send(counter, valueFrame(v));
  await waitUntil('the replica caught up', () => system.stats(counter).replicas[0]!.framesHandled > 0 && system.stats(counter).replicas[0]!.mailboxDepth === 0);
  // Kill the primary now: it must restore from the restored replica with all 2000 values.
  const primaryBack = nextEvent(system, '@actor.started', (e) => e.actor.id === counter.id && e.restored);
  await system.killThread(system.stats(counter).thread);
  await primaryBack;
  let after: Answer;
  do after = await system.ask<Answer>(counter, 'get');
  while (after.role !== 'primary');
  t.deepEqual(
    after.values,
    Array.from({ length: 2000 }, (_, i) => i + 1),
  );
});

test('repeated worker deaths cause one restart each: a restart waits for the next worker, no storm', async (t) => {
  const { system, events } = await startSystem(t, {
    workers: 1,
    supervisor: { intensity: { maxRestarts: 50, withinMs: 60_000 }, backoff: { initialMs: 0, maxMs: 0, jitter: 0 } },
    workerRestartBackoff: { initialMs: 0, maxMs: 0, jitter: 0 },
  });
  const counter = await system.spawn({ behaviour: { module: fixture('counter') } });
  for (let i = 0; i < 5; i++) {
    const back = nextEvent(system, '@actor.restarted', (e) => e.actor.id === counter.id && e.restarts === i + 1);
    await system.killThread(1);
    await back;
  }
  t.is(events.filter((e) => e.type === '@supervisor.restarting').length, 5);
  t.false(events.some((e) => e.type === '@supervisor.escalated'));
  t.is(system.status, 'running');
  await system.send(counter, valueFrame(3));
  let s: Answer;
  do s = await system.ask<Answer>(counter, 'get');
  while (s.count < 1);
  t.is(s.sum, 3);
});
