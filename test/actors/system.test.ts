import test from 'ava';
import { isTributaryError } from '../../src/errors.js';
import type { CounterState } from '../fixtures/actors/counter.js';
import { valueFrame } from '../fixtures/actors/counter.js';
import { fixture, startSystem } from '../helpers/system.js';

test('spawn, send, ask and stats on a two-thread system', async (t) => {
  const { system } = await startSystem(t);
  const counter = await system.spawn({ name: 'counter', behaviour: { module: fixture('counter') } });
  t.is(system.lookup('counter')?.id, counter.id);
  for (let i = 1; i <= 100; i++) await system.send(counter, valueFrame(i));
  // The ask is served between scheduler turns, so poll until all frames are in.
  let state: CounterState;
  do state = await system.ask<CounterState>(counter, 'get');
  while (state.count < 100);
  t.is(state.sum, 5050);
  t.deepEqual(
    state.values,
    Array.from({ length: 100 }, (_, i) => i + 1),
    'frames from one sender arrive in order',
  );
  const stats = system.stats(counter);
  t.is(stats.framesHandled, 100);
  t.is(stats.mailboxDepth, 0);
  t.is(stats.status, 'running');
  t.is(stats.restarts, 0);
});

test("actors are spread over threads; replicas never share their primary's thread", async (t) => {
  const { system } = await startSystem(t, { workers: 3 });
  const a = await system.spawn({ behaviour: { module: fixture('counter') }, replicas: 2 });
  const s = system.stats(a);
  const threads = [s.thread, ...s.replicas.map((r) => r.thread)];
  t.is(new Set(threads).size, 3);
  const err = await t.throwsAsync(system.spawn({ behaviour: { module: fixture('counter') }, replicas: 3 }));
  t.true(isTributaryError(err, 'E_PLACEMENT') || isTributaryError(err, 'E_INVALID_ARGUMENT'));
});

test('errors keep their codes across the thread boundary', async (t) => {
  const { system } = await startSystem(t);
  const counter = await system.spawn({ behaviour: { module: fixture('counter') } });
  const err = await t.throwsAsync(system.ask(counter, 'crash'));
  t.is(err?.message, 'ask failed on purpose');
  const bad = await t.throwsAsync(system.spawn({ behaviour: { module: fixture('counter'), export: 'valueFrame' } }));
  t.true(isTributaryError(bad, 'E_BEHAVIOUR_INVALID'), String(bad));
  const missing = await t.throwsAsync(system.spawn({ behaviour: { module: fixture('does-not-exist') } }));
  t.true(isTributaryError(missing, 'E_BEHAVIOUR_INVALID'));
  t.true(
    isTributaryError(
      t.throws(() => system.stats(9999)),
      'E_NO_SUCH_ACTOR',
    ),
  );
});

test('stop() drains the mailboxes first, then refuses work', async (t) => {
  const { system } = await startSystem(t);
  const counter = await system.spawn({ behaviour: { module: fixture('counter') } });
  for (let i = 0; i < 1000; i++) void system.send(counter, valueFrame(1));
  await system.send(counter, valueFrame(1));
  await system.stop();
  t.is(system.status, 'stopped');
  t.is(system.stats(counter).framesHandled, 1001, 'everything sent before stop was handled');
  t.true(isTributaryError(await t.throwsAsync(system.send(counter, valueFrame(1))), 'E_SYSTEM_STOPPED'));
});

test('an answer marked transferred moves its buffers to the asking thread instead of copying them', async (t) => {
  const { system } = await startSystem(t, { workers: 1 });
  const actor = await system.spawn({ behaviour: { module: fixture('binary-answer') } });
  const answer = await system.ask<{ bytes: Uint8Array }>(actor, 'give');
  t.is(answer.bytes.byteLength, 4096);
  t.true(answer.bytes.every((b) => b === 7));
  t.is(await system.ask<number>(actor, 'kept'), 0, "the actor's own view is detached: the bytes moved");
});
