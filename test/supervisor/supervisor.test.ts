import test from 'ava';
import fc from 'fast-check';
import { backoffDelay } from '../../src/supervisor/backoff.js';
import { SimulatedClock } from '../../src/supervisor/clock.js';
import { IntensityWindow } from '../../src/supervisor/intensity.js';
import { restartTargets } from '../../src/supervisor/strategy.js';
import { Supervisor, type Supervisable } from '../../src/supervisor/supervisor.js';
import { EventBus, type RuntimeEvent } from '../../src/actors/events.js';
import type { TributaryError } from '../../src/errors.js';

/** A child that logs what the supervisor does to it. */
class Child implements Supervisable {
  constructor(
    readonly name: string,
    private readonly log: string[],
    public failRestart = false,
  ) {}
  async restart(): Promise<void> {
    this.log.push(`restart ${this.name}`);
    if (this.failRestart) throw new Error(`${this.name} cannot start`);
  }
  async halt(): Promise<void> {
    this.log.push(`halt ${this.name}`);
  }
}

/** Lets pending promise chains run (no timers involved). */
const settle = () => new Promise<void>((r) => setImmediate(r));

function setup(strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one', maxRestarts = 3) {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const events: RuntimeEvent[] = [];
  const bus = new EventBus();
  bus.subscribe((e) => events.push(e));
  let fatal: TributaryError | undefined;
  const sup = new Supervisor(
    { name: 'sup', strategy, intensity: { maxRestarts, withinMs: 1000 }, backoff: { initialMs: 100, maxMs: 1000, jitter: 0 } },
    { clock, events: bus, random: () => 0.5, onFatal: (e) => (fatal = e) },
  );
  const kids = ['a', 'b', 'c'].map((n) => new Child(n, log));
  for (const k of kids) sup.add(k);
  return { clock, log, events, sup, kids, fatal: () => fatal };
}

test('one_for_one restarts only the failed child, after the backoff', async (t) => {
  const { clock, log, sup, kids } = setup('one_for_one');
  const done = sup.childFailed(kids[1]!, new Error('x'));
  await settle();
  t.deepEqual(log, [], 'nothing before the backoff delay');
  clock.advance(99);
  await settle();
  t.deepEqual(log, []);
  clock.advance(1);
  await done;
  t.deepEqual(log, ['restart b']);
});

test('one_for_all halts the others (latest first) and restarts all in start order', async (t) => {
  const { clock, log, sup, kids } = setup('one_for_all');
  const done = sup.childFailed(kids[0]!, new Error('x'));
  await settle();
  clock.advance(100);
  await done;
  t.deepEqual(log, ['halt c', 'halt b', 'restart a', 'restart b', 'restart c']);
});

test('rest_for_one restarts the failed child and those started after it', async (t) => {
  const { clock, log, sup, kids } = setup('rest_for_one');
  const done = sup.childFailed(kids[1]!, new Error('x'));
  await settle();
  clock.advance(100);
  await done;
  t.deepEqual(log, ['halt c', 'restart b', 'restart c']);
});

test('backoff doubles with consecutive failures and resets after a stable window', async (t) => {
  const { clock, events, sup, kids } = setup('one_for_one', 100);
  const delays = () => events.filter((e) => e.type === '@supervisor.restarting').map((e) => (e as { delayMs: number }).delayMs);
  for (let i = 0; i < 4; i++) {
    const p = sup.childFailed(kids[0]!, new Error('x'));
    await settle();
    clock.advance(10_000);
    await p;
  }
  t.deepEqual(delays(), [100, 200, 400, 800]);
  clock.advance(5000); // the child ran longer than the intensity window
  const p = sup.childFailed(kids[0]!, new Error('x'));
  await settle();
  clock.advance(10_000);
  await p;
  t.is(delays()[4], 100);
});

test('more than maxRestarts within the window escalates: children halted, fatal reported', async (t) => {
  // Four failures spread wider than the window: the window slides, so no escalation.
  const { clock, sup, kids, fatal } = setup('one_for_one', 3);
  for (let i = 0; i < 4; i++) {
    const p = sup.childFailed(kids[0]!, new Error(`fail ${i}`));
    await settle();
    clock.advance(50);
    clock.advance(1000);
    await p;
  }
  t.is(fatal(), undefined, 'four failures, but never more than three within one window');
  // Now four failures inside one window.
  const quick = setup('one_for_one', 3);
  for (let i = 0; i < 4; i++) {
    const p = quick.sup.childFailed(quick.kids[0]!, new Error(`fail ${i}`));
    await settle();
    quick.clock.advance(100 * 2 ** i);
    await p;
  }
  t.is(quick.fatal()?.code, 'E_RESTART_INTENSITY');
  t.is(quick.sup.status, 'failed');
  t.deepEqual(quick.log.slice(-3), ['halt c', 'halt b', 'halt a']);
  t.true(quick.events.some((e) => e.type === '@supervisor.escalated'));
});

test('a nested supervisor that escalates is restarted by its parent', async (t) => {
  const clock = new SimulatedClock();
  const log: string[] = [];
  const root = new Supervisor({ name: 'root', intensity: { maxRestarts: 5, withinMs: 1000 }, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } }, { clock });
  const inner = root.supervisor({ name: 'inner', intensity: { maxRestarts: 0, withinMs: 1000 }, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
  const kid = new Child('k', log);
  inner.add(kid);
  const p = inner.childFailed(kid, new Error('boom'));
  await settle();
  clock.advance(10);
  await p;
  await settle();
  t.deepEqual(log, ['halt k', 'restart k'], 'inner gave up at once (intensity 0), root restarted it with its child');
  t.is(inner.status, 'running');
});

test('a child that fails to restart counts as another failure, up to escalation', async (t) => {
  const clock = new SimulatedClock();
  const log: string[] = [];
  let fatal: TributaryError | undefined;
  const sup = new Supervisor(
    { name: 'sup', intensity: { maxRestarts: 2, withinMs: 10_000 }, backoff: { initialMs: 100, maxMs: 1000, jitter: 0 } },
    { clock, onFatal: (e) => (fatal = e) },
  );
  const kid = new Child('a', log, true);
  sup.add(kid);
  let settled = false;
  const p = sup.childFailed(kid, new Error('x')).then(() => (settled = true));
  for (let i = 0; i < 10 && !settled; i++) {
    await settle();
    clock.advance(1000);
    await settle();
  }
  await p;
  t.deepEqual(log, ['restart a', 'restart a', 'halt a'], 'two failed restarts, then the third failure exceeds the intensity');
  t.is(fatal?.code, 'E_RESTART_INTENSITY');
});

test('restartTargets matches the OTP definitions (property)', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1))),
      ([n, failed]) => {
        const one = restartTargets('one_for_one', n, failed);
        const all = restartTargets('one_for_all', n, failed);
        const rest = restartTargets('rest_for_one', n, failed);
        return one.length === 1 && one[0] === failed && all.length === n && rest[0] === failed && rest.length === n - failed;
      },
    ),
  );
  t.pass();
});

test('backoff stays within [floor, cap] and grows (property)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
      const policy = { initialMs: 10, maxMs: 2000, jitter: 0.5 };
      const d = backoffDelay(policy, attempt, () => r);
      const exp = Math.min(2000, 10 * 2 ** (attempt - 1));
      return d >= exp / 2 && d <= exp;
    }),
  );
  t.pass();
});

test('the intensity window slides', (t) => {
  const w = new IntensityWindow({ maxRestarts: 2, withinMs: 100 });
  t.true(w.record(0));
  t.true(w.record(50));
  t.false(w.record(60));
  t.true(new IntensityWindow({ maxRestarts: 2, withinMs: 100 }).record(0));
  const w2 = new IntensityWindow({ maxRestarts: 2, withinMs: 100 });
  w2.record(0);
  w2.record(50);
  t.true(w2.record(150), 'the restart at 0 has left the window');
});
