import test from 'ava';
import fc from 'fast-check';
import { isTributaryError } from '../../src/errors.js';
import { Doorbell, FRAME_HEADER_BYTES, FrameKind, RingReader, RingWriter, createRing, frameBytes, ringStats, shutdownRing } from '../../src/mailbox/index.js';

function body(length: number, tag: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (tag * 31 + i) & 0xff;
  return b;
}

function pair(capacity: number) {
  const handle = createRing(capacity);
  return { handle, writer: new RingWriter(handle), reader: new RingReader(handle) };
}

test('capacity must be a power of two within bounds', (t) => {
  for (const bad of [0, 1000, 3000, 512, 2 ** 31])
    t.true(
      isTributaryError(
        t.throws(() => createRing(bad)),
        'E_INVALID_ARGUMENT',
      ),
    );
});

test('frames carry kind, flags, destination, sender, sequence and body', (t) => {
  const { writer, reader } = pair(4096);
  const view = writer.tryReserve(5)!;
  view.set([1, 2, 3, 4, 5]);
  writer.commit(FrameKind.DATA, 42, 7, 5, 0xfffffffe, 0xbeef);
  const f = reader.poll()!;
  t.is(f.kind, FrameKind.DATA);
  t.is(f.flags, 0xbeef);
  t.is(f.dest, 42);
  t.is(f.sender, 7);
  t.is(f.seq, 0xfffffffe);
  t.deepEqual([...f.body], [1, 2, 3, 4, 5]);
  t.is(f.offset % 8, 0, 'bodies are 8-byte aligned');
  t.is(reader.poll(), null);
});

test('reserve then commit a shorter length returns the unused room', (t) => {
  const { writer, reader } = pair(4096);
  const view = writer.tryReserve(1000)!;
  t.is(view.byteLength, 1000);
  view.set([9, 9, 9]);
  writer.commit(FrameKind.DATA, 1, 0, 3);
  t.is(writer.freeBytes, 4096 - frameBytes(3));
  t.deepEqual([...reader.poll()!.body], [9, 9, 9]);
});

test('a frame larger than the ring is rejected with E_FRAME_TOO_LARGE', (t) => {
  const { writer } = pair(1024);
  t.true(
    isTributaryError(
      t.throws(() => writer.tryReserve(1024)),
      'E_FRAME_TOO_LARGE',
    ),
  );
  t.truthy(writer.tryReserve(1024 - FRAME_HEADER_BYTES), 'exactly the capacity fits in an empty ring');
});

test('full ring: tryReserve returns null until the consumer commits', (t) => {
  const { writer, reader } = pair(1024);
  let pushed = 0;
  while (writer.tryPush(FrameKind.DATA, 1, body(100, pushed))) pushed++;
  t.is(pushed, Math.floor(1024 / frameBytes(100)));
  const f = reader.poll()!;
  t.deepEqual(f.body, body(100, 0));
  t.false(writer.tryPush(FrameKind.DATA, 1, body(100, 99)), 'polled but not committed: still occupied');
  reader.commit();
  t.true(writer.tryPush(FrameKind.DATA, 1, body(100, pushed)));
});

test('wrap-around at every boundary: every start offset and every frame size', (t) => {
  const capacity = 1024;
  let checked = 0;
  for (let start = 0; start < capacity; start += 8) {
    for (let size = 0; size <= 200; size += 1) {
      const { writer, reader } = pair(capacity);
      // Move both positions to `start` with a filler frame (or an implicit skip).
      if (start > 0) {
        if (start >= FRAME_HEADER_BYTES) {
          writer.tryReserve(start - FRAME_HEADER_BYTES)!;
          writer.commit(FrameKind.DATA, 0, 0);
          reader.drain(() => {});
        }
      }
      // Several frames so that one of them meets the end of the data area.
      const n = Math.ceil((capacity - (start % capacity)) / frameBytes(size)) + 2;
      for (let k = 0; k < n; k++) {
        t.true(writer.tryPush(FrameKind.DATA, k, body(size, k)) || (reader.drain(() => {}) >= 0 && writer.tryPush(FrameKind.DATA, k, body(size, k))));
        const f = reader.poll()!;
        if (f.dest !== k || f.length !== size || !Buffer.from(f.body).equals(Buffer.from(body(size, k)))) {
          t.fail(`start ${start} size ${size} frame ${k} came back wrong`);
          return;
        }
        reader.commit();
        checked++;
      }
    }
  }
  t.true(checked > 10_000);
});

test('FIFO order and content under any interleaving of pushes and drains (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 700 }) }), fc.record({ drain: fc.integer({ min: 1, max: 5 }) })), { maxLength: 200 }),
      (ops) => {
        const { writer, reader } = pair(2048);
        const model: Uint8Array[] = [];
        let tag = 0;
        for (const op of ops) {
          if ('push' in op) {
            const b = body(op.push, tag++);
            if (writer.tryPush(FrameKind.DATA, tag, b)) model.push(b);
            else if (model.length === 0 && frameBytes(op.push) <= 2048) {
              // Only padding is left (a frame cannot wrap); after the consumer passes it the push fits.
              reader.drain(() => {});
              if (!writer.tryPush(FrameKind.DATA, tag, b)) return false;
              model.push(b);
            }
          } else {
            let bad = false;
            reader.drain((f) => {
              const expected = model.shift();
              if (!expected || !Buffer.from(f.body).equals(Buffer.from(expected))) bad = true;
            }, op.drain);
            if (bad) return false;
          }
        }
        reader.drain((f) => {
          const expected = model.shift();
          if (!expected || !Buffer.from(f.body).equals(Buffer.from(expected))) throw new Error('mismatch');
        });
        return model.length === 0;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('a new reader starts at the last commit: polled but uncommitted frames are read again', (t) => {
  const { handle, writer, reader } = pair(4096);
  for (let i = 0; i < 5; i++) writer.push(FrameKind.DATA, i, body(10, i));
  reader.poll();
  reader.poll();
  reader.commit(); // frames 0 and 1 handled
  reader.poll(); // frame 2 read, then the reader "crashes"
  const restarted = new RingReader(handle);
  const seen: number[] = [];
  restarted.drain((f) => seen.push(f.dest));
  t.deepEqual(seen, [2, 3, 4]);
});

test('drain commits the frames before a throwing handler and leaves the failing one unread', (t) => {
  const { handle, writer, reader } = pair(4096);
  for (let i = 0; i < 5; i++) writer.push(FrameKind.DATA, i, body(8, i));
  const seen: number[] = [];
  const err = t.throws(() =>
    reader.drain((f) => {
      if (f.dest === 3) throw new Error('poison');
      seen.push(f.dest);
    }),
  );
  t.is(err?.message, 'poison');
  t.deepEqual(seen, [0, 1, 2]);
  t.is(ringStats(handle).pendingBytes, 2 * frameBytes(8), 'frames 3 and 4 are still in the ring');
  const again: number[] = [];
  new RingReader(handle).drain((f) => again.push(f.dest));
  t.deepEqual(again, [3, 4]);
});

test('rewind re-delivers uncommitted frames in the same reader', (t) => {
  const { writer, reader } = pair(4096);
  for (let i = 0; i < 3; i++) writer.push(FrameKind.DATA, i, body(8, i));
  reader.poll();
  reader.poll();
  reader.rewind();
  t.is(reader.poll()!.dest, 0);
});

test('close lets the consumer drain, then reports closed; shutdown fails writers', (t) => {
  const { handle, writer, reader } = pair(4096);
  writer.push(FrameKind.DATA, 1, body(8, 1));
  writer.close();
  t.is(reader.waitForData(0), 'ok');
  t.false(reader.done);
  t.is(
    reader.drain(() => {}),
    1,
  );
  t.true(reader.done);
  t.is(reader.waitForData(10), 'closed');
  t.true(
    isTributaryError(
      t.throws(() => writer.tryReserve(8)),
      'E_MAILBOX_CLOSED',
    ),
  );
  const other = pair(4096);
  shutdownRing(other.handle);
  t.true(
    isTributaryError(
      t.throws(() => other.writer.tryReserve(8)),
      'E_MAILBOX_CLOSED',
    ),
  );
  t.is(ringStats(handle).framesWritten, 1);
});

test('a blocked reserve times out with E_TIMEOUT; waitForData times out when empty', (t) => {
  const { writer, reader } = pair(1024);
  writer.push(FrameKind.DATA, 1, body(900, 1));
  t.true(
    isTributaryError(
      t.throws(() => writer.reserve(900, 20)),
      'E_TIMEOUT',
    ),
  );
  t.is(reader.waitForData(20), 'ok');
  reader.drain(() => {});
  t.is(reader.waitForData(20), 'timed-out');
});

test('reserveAsync resolves once the consumer frees room (main thread)', async (t) => {
  const { writer, reader } = pair(1024);
  writer.push(FrameKind.DATA, 1, body(900, 1));
  const pending = writer.reserveAsync(900, 5000);
  let resolved = false;
  void pending.then(() => (resolved = true));
  await Promise.resolve();
  t.false(resolved);
  reader.drain(() => {});
  const view = await pending;
  t.is(view.byteLength, 900);
});

test('waitForDataAsync resolves when a frame is committed', async (t) => {
  const { writer, reader } = pair(1024);
  const waiting = reader.waitForDataAsync(5000);
  setImmediate(() => writer.push(FrameKind.DATA, 5, body(4, 5)));
  t.is(await waiting, 'ok');
  t.is(reader.poll()!.dest, 5);
});

test('a handler returning false leaves its frame unconsumed and stops the drain', (t) => {
  const { writer, reader } = pair(4096);
  for (let i = 0; i < 4; i++) writer.push(FrameKind.DATA, i, body(8, i), 0, 100 + i);
  const seen: number[] = [];
  t.is(
    reader.drain((f) => {
      if (f.dest === 2) return false;
      seen.push(f.seq);
    }),
    2,
  );
  t.deepEqual(seen, [100, 101]);
  const rest: number[] = [];
  reader.drain((f) => rest.push(f.dest));
  t.deepEqual(rest, [2, 3]);
});

test("requestRoom: the consumer rings the producer's doorbell once half the ring is free, not per frame", (t) => {
  const handle = createRing(4096);
  const producerBell = new Doorbell();
  const writer = new RingWriter(handle);
  const reader = new RingReader(handle, { producerDoorbell: producerBell.sab });
  while (writer.tryPush(FrameKind.DATA, 1, body(100, 0)));
  t.false(writer.requestRoom(100), 'no room now');
  t.false(writer.roomGranted());
  // Free one frame: not enough to wake a producer that waits with hysteresis.
  reader.poll();
  reader.commit();
  t.false(writer.roomGranted(), 'one freed frame does not wake it');
  // Free more than half: granted (the consumer cleared the flag and rang the producer's doorbell).
  for (let i = 0; i < 20; i++) reader.poll();
  reader.commit();
  t.true(writer.roomGranted());
  t.true(writer.tryPush(FrameKind.DATA, 1, body(100, 1)));
});

test('requestRoom returns true at once when room is already there', (t) => {
  const { writer } = pair(4096);
  t.true(writer.requestRoom(100));
  t.true(writer.roomGranted(), 'the flag is not left set');
});
