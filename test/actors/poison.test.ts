import test from 'ava';
import { readFileSync } from 'node:fs';
import type { CounterState } from '../fixtures/actors/counter.js';
import { valueFrame } from '../fixtures/actors/counter.js';
import { waitUntil } from '../helpers/workers.js';
import { fixture, nextEvent, startSystem } from '../helpers/system.js';

test('a frame that crashes its actor K times in a row goes to the dead-letter file and is skipped', async (t) => {
  const { system, events, deadLetters } = await startSystem(t, {
    workers: 1,
    poisonAttempts: 3,
    supervisor: { backoff: { initialMs: 1, maxMs: 5, jitter: 0 } },
  });
  const counter = await system.spawn({ name: 'victim', behaviour: { module: fixture('counter') } });
  const dead = nextEvent(system, '@actor.dead-letter');
  await system.send(counter, valueFrame(1));
  await system.send(counter, new Uint8Array([0xff, 1, 2, 3]));
  await system.send(counter, valueFrame(2));
  const letter = await dead;
  t.regex(letter.reason, /crashed its actor 3 times in a row: poison frame/);
  await waitUntil('the frame after the poison was handled', () => system.stats(counter).mailboxDepth === 0 && system.stats(counter).status === 'running');
  t.is(events.filter((e) => e.type === '@actor.failed' && e.actor.id === counter.id).length, 3);
  t.is(system.stats(counter).restarts, 3);
  const state = await system.ask<CounterState>(counter, 'get');
  t.deepEqual(state.values, [2], 'it restarted from init (no replica), then handled what followed the poison');
  const records = readFileSync(deadLetters, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.is(records.length, 1);
  t.is(records[0]!.name, 'victim');
  t.is(records[0]!.actor, counter.id);
  t.is(Buffer.from(records[0]!.body as string, 'base64').toString('hex'), 'ff010203');
});

test('a frame that kills its worker thread K times is dead-lettered too', async (t) => {
  const { system, deadLetters } = await startSystem(t, { workers: 1, poisonAttempts: 2, supervisor: { backoff: { initialMs: 1, maxMs: 5, jitter: 0 } } });
  const counter = await system.spawn({ behaviour: { module: fixture('counter') } });
  const dead = nextEvent(system, '@actor.dead-letter');
  await system.send(counter, new Uint8Array([0xfe]));
  await system.send(counter, valueFrame(9));
  t.regex((await dead).reason, /crashed its actor 2 times/);
  let state: CounterState;
  do state = await system.ask<CounterState>(counter, 'get');
  while (state.count < 1);
  t.deepEqual(state.values, [9]);
  t.is(readFileSync(deadLetters, 'utf8').trim().split('\n').length, 1);
});

test('too many restarts escalate to the root, which stops the system with E_RESTART_INTENSITY', async (t) => {
  const { system, events } = await startSystem(t, {
    workers: 1,
    poisonAttempts: 100,
    supervisor: { intensity: { maxRestarts: 2, withinMs: 60_000 }, backoff: { initialMs: 1, maxMs: 2, jitter: 0 } },
  });
  const counter = await system.spawn({ behaviour: { module: fixture('counter') } });
  await system.send(counter, new Uint8Array([0xff]));
  await waitUntil('the system gave up', () => system.status === 'stopped');
  t.is(system.failure?.code, 'E_RESTART_INTENSITY');
  t.true(events.some((e) => e.type === '@supervisor.escalated' && e.supervisor === 'root'));
  t.is(events.filter((e) => e.type === '@actor.failed').length, 3, 'two restarts allowed, the third failure escalated');
});

test('frames for a stopped actor are dead-lettered, not left to block its thread', async (t) => {
  const { system } = await startSystem(t, { workers: 1 });
  const a = await system.spawn({ behaviour: { module: fixture('counter') } });
  const b = await system.spawn({ behaviour: { module: fixture('counter') } });
  await system.stopActor(a);
  t.is(system.stats(a).status, 'stopped');
  await t.throwsAsync(system.send(a, valueFrame(1)), { code: 'E_NO_SUCH_ACTOR' } as never);
  await system.send(b, valueFrame(5));
  let state: CounterState;
  do state = await system.ask<CounterState>(b, 'get');
  while (state.count < 1);
  t.is(state.sum, 5);
});

test('an unhandled rejection ends the worker thread; its actors come back and handle what follows', async (t) => {
  const { system, events } = await startSystem(t, { workers: 1 });
  const counter = await system.spawn({ behaviour: { module: fixture('counter') } });
  const back = nextEvent(system, '@actor.restarted', (e) => e.actor.id === counter.id);
  await system.send(counter, new Uint8Array([0xfd]));
  await back;
  const exit = events.find((e) => e.type === '@worker.exited') as { error?: { message: string } } | undefined;
  t.regex(exit?.error?.message ?? '', /nobody handles this rejection/);
  await system.send(counter, valueFrame(4));
  let state: CounterState;
  do state = await system.ask<CounterState>(counter, 'get');
  while (state.count < 1);
  t.deepEqual(state.values, [4], 'the rejecting frame was handled (committed) before the thread ended: it is not replayed');
});
