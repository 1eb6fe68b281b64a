import test from 'ava';
import { isTributaryError } from '../../src/errors.js';
import { FrameKind, Inbox, RingWriter, createRing } from '../../src/mailbox/index.js';

test('an inbox merges rings with one doorbell and drains them fairly', (t) => {
  const inbox = new Inbox();
  const writers = [0, 1, 2].map((id) => new RingWriter(inbox.createRing(1 << 16, id)));
  // Sender 0 is busy; 1 and 2 send one frame each.
  for (let i = 0; i < 1000; i++) writers[0]!.push(FrameKind.DATA, i, new Uint8Array(8));
  writers[1]!.push(FrameKind.DATA, 1, new Uint8Array(8));
  writers[2]!.push(FrameKind.DATA, 2, new Uint8Array(8));
  const order: number[] = [];
  inbox.drain((f) => order.push(f.from), 4);
  t.deepEqual(order, [0, 0, 0, 0, 1, 2], 'each ring gets its turn within one drain');
  let rest = 0;
  while (inbox.hasData()) rest += inbox.drain(() => {}, 4);
  t.is(rest, 996);
});

test('a drain with a deadline stops taking frames once it has passed, and every ring still gets one', (t) => {
  const inbox = new Inbox();
  const writers = [0, 1].map((id) => new RingWriter(inbox.createRing(1 << 16, id)));
  for (let i = 0; i < 100; i++) for (const w of writers) w.push(FrameKind.DATA, i, new Uint8Array(8));
  // A deadline already past: one frame per ring, not the 64 the frame count allows.
  const order: number[] = [];
  t.is(
    inbox.drain((f) => order.push(f.from), 64, performance.now() - 1),
    2,
  );
  t.deepEqual([...order].sort(), [0, 1]);
  // A slow third frame: the ring stops after it; the other ring still gets its one frame.
  let handled = 0;
  const deadline = performance.now() + 20;
  const slowFrame = () => {
    if (++handled === 3) while (performance.now() < deadline); // a frame that costs past the deadline
  };
  t.is(inbox.drain(slowFrame, 64, deadline), 4);
  let rest = 0;
  while (inbox.hasData()) rest += inbox.drain(() => {}, 64);
  t.is(rest, 200 - 2 - 4);
});

test('the starting ring rotates so no ring always goes first', (t) => {
  const inbox = new Inbox();
  const writers = [0, 1].map((id) => new RingWriter(inbox.createRing(4096, id)));
  const firsts: number[] = [];
  for (let round = 0; round < 4; round++) {
    for (const w of writers) w.push(FrameKind.DATA, 0, new Uint8Array(8));
    let first = -1;
    inbox.drain((f) => {
      if (first < 0) first = f.from;
    });
    firsts.push(first);
  }
  t.deepEqual(firsts, [0, 1, 0, 1]);
});

test('waitForData wakes for any ring; done when every ring is closed and drained', async (t) => {
  const inbox = new Inbox();
  const a = new RingWriter(inbox.createRing(4096, 1));
  const b = new RingWriter(inbox.createRing(4096, 2));
  const waiting = inbox.waitForDataAsync(5000);
  setImmediate(() => b.push(FrameKind.DATA, 9, new Uint8Array(1)));
  t.is(await waiting, 'ok');
  t.is(
    inbox.drain(() => {}),
    1,
  );
  a.close();
  t.false(inbox.done);
  b.close();
  t.true(inbox.done);
  t.is(inbox.waitForData(10), 'closed');
});

test('attach rejects a ring of another doorbell and duplicate ids', (t) => {
  const inbox = new Inbox();
  t.true(
    isTributaryError(
      t.throws(() => inbox.attach(createRing(4096), 1)),
      'E_INVALID_ARGUMENT',
    ),
  );
  inbox.createRing(4096, 1);
  t.true(
    isTributaryError(
      t.throws(() => inbox.createRing(4096, 1)),
      'E_INVALID_ARGUMENT',
    ),
  );
  inbox.detach(1);
  t.is(inbox.size, 0);
});

test('a ring whose handler defers a frame is skipped until unblockAll; the other rings go on', (t) => {
  const inbox = new Inbox();
  const a = new RingWriter(inbox.createRing(4096, 1));
  const b = new RingWriter(inbox.createRing(4096, 2));
  for (let i = 0; i < 3; i++) {
    a.push(FrameKind.DATA, 100 + i, new Uint8Array(8));
    b.push(FrameKind.DATA, 200 + i, new Uint8Array(8));
  }
  let acceptA = false;
  const seen: number[] = [];
  const handler = (f: { dest: number; from: number }) => {
    if (f.from === 1 && !acceptA) return false; // ring 1's head cannot be taken yet
    seen.push(f.dest);
    return true;
  };
  inbox.drain(handler);
  inbox.drain(handler);
  t.deepEqual(seen, [200, 201, 202], 'ring 2 drained; ring 1 left alone after its first deferral');
  t.false(inbox.runnable(), 'a blocked ring does not count as work');
  t.true(inbox.hasData());
  acceptA = true;
  inbox.unblockAll();
  t.true(inbox.runnable());
  inbox.drain(handler);
  t.deepEqual(seen, [200, 201, 202, 100, 101, 102]);
});
