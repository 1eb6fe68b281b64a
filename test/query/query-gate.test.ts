import test from 'ava';
import { isTributaryError } from '../../src/errors.js';
import { QueryGate } from '../../src/query/query-gate.js';
import { SimulatedClock } from '../../src/supervisor/clock.js';
import type { MemoryPressure } from '../../src/util/memory-pressure.js';

/** A query that answers when told to. */
function held() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { release, answer: () => done };
}

/** Lets the microtasks run (admissions and completions settle). */
const settle = () => new Promise<void>((r) => setImmediate(r));

class Pressure implements MemoryPressure {
  high = false;
  private readonly listeners = new Set<(high: boolean) => void>();
  set(high: boolean) {
    this.high = high;
    for (const l of this.listeners) l(high);
  }
  onChange(l: (high: boolean) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

test('past maxConcurrent queries wait their turn in arrival order; past maxQueued one is refused with E_OVERLOADED', async (t) => {
  const gate = new QueryGate({ maxConcurrent: 2, maxQueued: 2, clock: new SimulatedClock() });
  const order: number[] = [];
  const qs = Array.from({ length: 4 }, () => held());
  const runs = qs.map((q, i) =>
    gate.run(async () => {
      order.push(i);
      await q.answer();
      return i;
    }),
  );
  await settle();
  t.deepEqual(order, [0, 1]);
  t.deepEqual(gate.load, { running: 2, waiting: 2 });
  const refused = await gate.run(async () => 99).catch((e: unknown) => e);
  t.true(isTributaryError(refused, 'E_OVERLOADED'));
  t.is(gate.refused, 1);
  qs[1]!.release();
  await settle();
  t.deepEqual(order, [0, 1, 2]);
  qs[0]!.release();
  await settle();
  t.deepEqual(order, [0, 1, 2, 3]);
  qs[2]!.release();
  qs[3]!.release();
  t.deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  t.deepEqual(gate.load, { running: 0, waiting: 0 });
});

test('a query that waits past maxWaitMs is refused, and the queue goes on without it', async (t) => {
  const clock = new SimulatedClock();
  const gate = new QueryGate({ maxConcurrent: 1, maxWaitMs: 1000, clock });
  const first = held();
  const running = gate.run(first.answer);
  const waiting = gate.run(async () => 'late').catch((e: unknown) => e);
  clock.advance(999);
  await settle();
  t.deepEqual(gate.load, { running: 1, waiting: 1 });
  clock.advance(1);
  const err = await waiting;
  t.true(isTributaryError(err, 'E_OVERLOADED'));
  t.regex((err as Error).message, /waited 1000 ms/);
  first.release();
  await running;
  t.is(await gate.run(async () => 'next'), 'next');
  t.is(clock.pending, 0);
});

test('under memory pressure one query runs at a time; when it ends, the waiting ones are let in up to maxConcurrent', async (t) => {
  const memory = new Pressure();
  const gate = new QueryGate({ maxConcurrent: 3, memory, clock: new SimulatedClock() });
  memory.set(true);
  const qs = Array.from({ length: 3 }, () => held());
  const started: number[] = [];
  const runs = qs.map((q, i) => gate.run(async () => (started.push(i), q.answer())));
  await settle();
  t.deepEqual(started, [0]);
  qs[0]!.release();
  await settle();
  t.deepEqual(started, [0, 1]);
  memory.set(false);
  await settle();
  t.deepEqual(started, [0, 1, 2]);
  t.deepEqual(gate.load, { running: 2, waiting: 0 });
  qs[1]!.release();
  qs[2]!.release();
  await Promise.all(runs);
});

test('a query that fails gives its turn back', async (t) => {
  const gate = new QueryGate({ maxConcurrent: 1, clock: new SimulatedClock() });
  await t.throwsAsync(
    gate.run(() => Promise.reject(new Error('bad query'))),
    { message: 'bad query' },
  );
  t.deepEqual(gate.load, { running: 0, waiting: 0 });
  t.is(await gate.run(async () => 1), 1);
});
