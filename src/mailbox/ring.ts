import { TributaryError } from '../errors.js';
import { Doorbell } from './doorbell.js';
import {
  CAPACITY,
  CONTROL_BYTES,
  DATA_OFFSET,
  F_DEST,
  F_KIND_FLAGS,
  F_LENGTH,
  F_RESERVED,
  F_SENDER,
  F_SEQ,
  FRAME_HEADER_BYTES,
  FRAMES_READ,
  FRAMES_WRITTEN,
  FrameKind,
  MAGIC,
  MAX_CAPACITY,
  MAX_FRAME_KIND,
  MIN_CAPACITY,
  PRODUCER_PARKED,
  ProducerWait,
  READ_POS,
  RING_MAGIC,
  ROOM_WANTED,
  RingState,
  STATE,
  WRITE_POS,
  frameBytes,
} from './layout.js';
import { DEFAULT_WAIT, deadlineFrom, remaining, type WaitOutcome, type WaitStrategy } from './wait.js';

/**
 * What crosses threads to connect both ends of a ring: plain SharedArrayBuffers,
 * which structured clone shares rather than copies. Whoever holds the handle
 * (the supervisor) keeps the ring, and every unread frame in it, alive when
 * the consumer's thread dies.
 */
export interface RingHandle {
  readonly ring: SharedArrayBuffer;
  readonly doorbell: SharedArrayBuffer;
}

export function createRing(capacity: number, doorbell: Doorbell = new Doorbell()): RingHandle {
  if (!Number.isInteger(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new TributaryError('E_INVALID_ARGUMENT', `ring capacity must be a power of two between ${MIN_CAPACITY} and ${MAX_CAPACITY}, got ${capacity}`, {
      capacity,
    });
  }
  const ring = new SharedArrayBuffer(CONTROL_BYTES + capacity);
  const i32 = new Int32Array(ring, 0, CONTROL_BYTES / 4);
  i32[CAPACITY] = capacity;
  i32[MAGIC] = RING_MAGIC;
  return { ring, doorbell: doorbell.sab };
}

/**
 * Marks a ring as torn down and wakes both sides: a parked producer gets
 * E_MAILBOX_CLOSED at once instead of waiting forever for a consumer that
 * will not come back (thread-stream's in-band poison, as a state).
 */
export function shutdownRing(handle: RingHandle): void {
  const i32 = new Int32Array(handle.ring, 0, CONTROL_BYTES / 4);
  Atomics.store(i32, STATE, RingState.SHUTDOWN);
  Atomics.store(i32, PRODUCER_PARKED, 0);
  Atomics.notify(i32, PRODUCER_PARKED);
  new Doorbell(handle.doorbell).ring();
}

export interface RingStats {
  readonly capacity: number;
  /** Bytes committed by the producer and not yet committed as handled by the consumer. */
  readonly pendingBytes: number;
  readonly framesWritten: number;
  readonly framesRead: number;
  readonly state: RingState;
  /** True while the producer is parked waiting for room: the consumer is the bottleneck. */
  readonly producerParked: boolean;
}

export function ringStats(handle: RingHandle): RingStats {
  const i32 = new Int32Array(handle.ring, 0, CONTROL_BYTES / 4);
  return {
    capacity: i32[CAPACITY]!,
    pendingBytes: (Atomics.load(i32, WRITE_POS) - Atomics.load(i32, READ_POS)) >>> 0,
    framesWritten: i32[FRAMES_WRITTEN]! >>> 0,
    framesRead: i32[FRAMES_READ]! >>> 0,
    state: Atomics.load(i32, STATE) as RingState,
    producerParked: Atomics.load(i32, PRODUCER_PARKED) !== ProducerWait.NONE,
  };
}

/** Views shared by both ends. */
abstract class RingEnd {
  protected readonly i32: Int32Array;
  protected readonly d32: Uint32Array;
  /** The data area. Frame offsets are relative to it. */
  readonly data: Uint8Array;
  readonly capacity: number;
  protected readonly mask: number;
  protected readonly doorbell: Doorbell;
  protected readonly wait: WaitStrategy;

  constructor(handle: RingHandle, wait: WaitStrategy) {
    this.i32 = new Int32Array(handle.ring, 0, CONTROL_BYTES / 4);
    const capacity = this.i32[CAPACITY]!;
    if (this.i32[MAGIC] !== RING_MAGIC || capacity !== handle.ring.byteLength - CONTROL_BYTES) {
      throw new TributaryError('E_INVALID_ARGUMENT', 'not a ring: bad magic or capacity in the control block', {
        byteLength: handle.ring.byteLength,
      });
    }
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.data = new Uint8Array(handle.ring, DATA_OFFSET, capacity);
    this.d32 = new Uint32Array(handle.ring, DATA_OFFSET, capacity / 4);
    this.doorbell = new Doorbell(handle.doorbell);
    this.wait = wait;
  }

  get state(): RingState {
    return Atomics.load(this.i32, STATE) as RingState;
  }
}

/**
 * The producing end. One thread, one writer: claims are local, and only
 * commit publishes (a seq-cst store of WRITE_POS after the frame's bytes, so a
 * consumer that loads the new position also sees the bytes).
 */
export class RingWriter extends RingEnd {
  private writePos: number;
  private cachedRead: number;
  private reservedOffset = -1;
  private reservedLength = 0;
  private framesWritten: number;

  constructor(handle: RingHandle, wait: WaitStrategy = DEFAULT_WAIT) {
    super(handle, wait);
    // A restarted producer continues after the last committed frame; an
    // uncommitted reservation of its predecessor is simply never published.
    this.writePos = Atomics.load(this.i32, WRITE_POS);
    this.cachedRead = Atomics.load(this.i32, READ_POS);
    this.framesWritten = this.i32[FRAMES_WRITTEN]!;
  }

  /** Largest body a frame on this ring can carry. */
  get maxBodyBytes(): number {
    return this.capacity - FRAME_HEADER_BYTES;
  }

  get freeBytes(): number {
    return this.capacity - ((this.writePos - Atomics.load(this.i32, READ_POS)) >>> 0);
  }

  /**
   * Claims room for a frame body of `length` bytes and returns a view of it
   * (8-byte aligned, inside shared memory), or null when the ring is full now.
   * Fill it, then commit. One reservation at a time.
   */
  tryReserve(length: number): Uint8Array | null {
    if (this.reservedOffset >= 0) throw new TributaryError('E_MAILBOX_STATE', 'a reservation is already open: commit or abort it first');
    const state = Atomics.load(this.i32, STATE);
    if (state !== RingState.OPEN) throw closedError(state);
    const need = frameBytes(length);
    if (!(length >= 0) || need > this.capacity) {
      throw new TributaryError('E_FRAME_TOO_LARGE', `frame body of ${length} bytes does not fit a ring of ${this.capacity} bytes`, {
        length,
        capacity: this.capacity,
      });
    }
    for (;;) {
      const offset = this.writePos & this.mask;
      const tail = this.capacity - offset;
      if (need <= tail) {
        if (!this.hasRoom(need)) return null;
        this.reservedOffset = offset;
        this.reservedLength = length;
        return this.data.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
      }
      // Frames never wrap: fill the tail with padding and publish it on its own,
      // so the next frame can start at offset 0 once the consumer passes the end.
      if (!this.hasRoom(tail)) return null;
      if (tail >= FRAME_HEADER_BYTES) {
        const h = offset >> 2;
        this.d32[h + F_LENGTH] = tail - FRAME_HEADER_BYTES;
        this.d32[h + F_KIND_FLAGS] = FrameKind.PADDING;
        this.d32[h + F_DEST] = 0;
        this.d32[h + F_SENDER] = 0;
        this.d32[h + F_SEQ] = 0;
        this.d32[h + F_RESERVED] = 0;
      }
      this.writePos = (this.writePos + tail) | 0;
      Atomics.store(this.i32, WRITE_POS, this.writePos);
    }
  }

  /** Blocking reserve for worker threads: spins briefly, then parks until the consumer frees room. */
  reserve(length: number, timeoutMs?: number): Uint8Array {
    const deadline = deadlineFrom(timeoutMs);
    for (let spin = 0; ; spin++) {
      const view = this.tryReserve(length);
      if (view !== null) return view;
      if (spin < this.wait.spins) continue;
      const left = remaining(deadline);
      if (left === 0) throw timeoutError(length, this.capacity);
      Atomics.store(this.i32, PRODUCER_PARKED, 1);
      // Re-check after announcing the park (see Doorbell for the protocol).
      const again = this.tryReserve(length);
      if (again !== null) {
        Atomics.store(this.i32, PRODUCER_PARKED, 0);
        return again;
      }
      Atomics.wait(this.i32, PRODUCER_PARKED, 1, Math.min(left, this.wait.sliceMs ?? Infinity));
      Atomics.store(this.i32, PRODUCER_PARKED, 0);
      this.wait.onSlice?.();
    }
  }

  /** Non-blocking reserve for the main thread: awaits room with Atomics.waitAsync. */
  async reserveAsync(length: number, timeoutMs?: number): Promise<Uint8Array> {
    const deadline = deadlineFrom(timeoutMs);
    for (;;) {
      const view = this.tryReserve(length);
      if (view !== null) return view;
      const left = remaining(deadline);
      if (left === 0) throw timeoutError(length, this.capacity);
      Atomics.store(this.i32, PRODUCER_PARKED, 1);
      const again = this.tryReserve(length);
      if (again !== null) {
        Atomics.store(this.i32, PRODUCER_PARKED, 0);
        return again;
      }
      const w = Atomics.waitAsync(this.i32, PRODUCER_PARKED, 1, left);
      if (w.async) await w.value;
      Atomics.store(this.i32, PRODUCER_PARKED, 0);
    }
  }

  /**
   * Publishes the reserved frame. `length` may be less than reserved (a batch
   * builder that finished early); the unused room is returned to the ring.
   */
  commit(kind: FrameKind | number, dest: number, sender = 0, length = this.reservedLength, seq = 0, flags = 0): void {
    const offset = this.reservedOffset;
    if (offset < 0) throw new TributaryError('E_MAILBOX_STATE', 'commit without a reservation');
    if (length > this.reservedLength || length < 0) {
      throw new TributaryError('E_INVALID_ARGUMENT', `commit of ${length} bytes exceeds the ${this.reservedLength} reserved`, { length });
    }
    if (kind <= FrameKind.PADDING || kind > MAX_FRAME_KIND)
      throw new TributaryError('E_INVALID_ARGUMENT', `frame kind ${kind} is reserved or out of range`, { kind });
    const h = offset >> 2;
    this.d32[h + F_LENGTH] = length;
    this.d32[h + F_KIND_FLAGS] = kind | ((flags & 0xffff) << 16);
    this.d32[h + F_DEST] = dest;
    this.d32[h + F_SENDER] = sender;
    this.d32[h + F_SEQ] = seq;
    this.d32[h + F_RESERVED] = 0;
    this.reservedOffset = -1;
    this.writePos = (this.writePos + frameBytes(length)) | 0;
    Atomics.store(this.i32, WRITE_POS, this.writePos);
    // Stats only: a plain store, read racily by ringStats.
    this.i32[FRAMES_WRITTEN] = ++this.framesWritten;
    this.doorbell.ring();
  }

  /**
   * For a producer that cannot block (it also consumes, and the consumer of
   * this ring may be waiting on it): asks the consumer to ring the producer
   * thread's doorbell when it next frees room. Returns true if room for a
   * `length`-byte body is already there (retry now instead of parking).
   * Setting the flag before the re-check means no wake-up can fall between.
   */
  requestRoom(length: number): boolean {
    const need = frameBytes(length);
    // Hysteresis: be woken when half the ring is free, not when one frame's room is.
    // Waking per freed frame makes both threads trade tiny bursts, each wake-up
    // costing as much as the work it allows.
    Atomics.store(this.i32, ROOM_WANTED, Math.min(this.capacity, Math.max(2 * need, this.capacity >>> 1)));
    Atomics.store(this.i32, PRODUCER_PARKED, ProducerWait.DOORBELL);
    const offset = this.writePos & this.mask;
    const tail = this.capacity - offset;
    this.cachedRead = Atomics.load(this.i32, READ_POS);
    const free = this.capacity - ((this.writePos - this.cachedRead) >>> 0);
    const room = need <= tail ? free >= need : free >= tail + need;
    if (room) Atomics.compareExchange(this.i32, PRODUCER_PARKED, ProducerWait.DOORBELL, ProducerWait.NONE);
    return room;
  }

  /**
   * After requestRoom: true once the consumer has freed room since (it clears
   * the flag before ringing). Checked by the producer thread when it parks, so
   * a commit that happened while it was busy is not lost.
   */
  roomGranted(): boolean {
    return Atomics.load(this.i32, PRODUCER_PARKED) !== ProducerWait.DOORBELL;
  }

  /** Drops an open reservation without publishing anything. */
  abort(): void {
    this.reservedOffset = -1;
  }

  tryPush(kind: FrameKind | number, dest: number, body: Uint8Array, sender = 0, seq = 0): boolean {
    const view = this.tryReserve(body.byteLength);
    if (view === null) return false;
    view.set(body);
    this.commit(kind, dest, sender, body.byteLength, seq);
    return true;
  }

  push(kind: FrameKind | number, dest: number, body: Uint8Array, sender = 0, seq = 0, timeoutMs?: number): void {
    this.reserve(body.byteLength, timeoutMs).set(body);
    this.commit(kind, dest, sender, body.byteLength, seq);
  }

  async pushAsync(kind: FrameKind | number, dest: number, body: Uint8Array, sender = 0, seq = 0, timeoutMs?: number): Promise<void> {
    (await this.reserveAsync(body.byteLength, timeoutMs)).set(body);
    this.commit(kind, dest, sender, body.byteLength, seq);
  }

  /** End of stream: the consumer drains what is committed, then sees 'closed'. */
  close(): void {
    Atomics.compareExchange(this.i32, STATE, RingState.OPEN, RingState.CLOSED);
    this.doorbell.ring();
  }

  private hasRoom(need: number): boolean {
    if (this.capacity - ((this.writePos - this.cachedRead) >>> 0) >= need) return true;
    this.cachedRead = Atomics.load(this.i32, READ_POS);
    return this.capacity - ((this.writePos - this.cachedRead) >>> 0) >= need;
  }
}

/**
 * A frame as the consumer sees it. One object per reader, refilled by every
 * poll (a flyweight: handlers must not keep it, nor its body view, past the
 * commit that hands the bytes back to the producer).
 */
export class Frame {
  kind = 0;
  flags = 0;
  dest = 0;
  sender = 0;
  /** Sequence number in the (sending thread, destination) stream; 0 when the sender does not number frames. */
  seq = 0;
  length = 0;
  /** Offset of the body in the reader's `data`. */
  offset = 0;
  /** Ring position of the frame header: a stable identity until the ring wraps. */
  position = 0;
  /** Id of the ring this frame came from (set by the reader's owner, e.g. the sending thread). */
  from = 0;
  private readonly data: Uint8Array;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  /** The body, as a view into shared memory (no copy). */
  get body(): Uint8Array {
    return this.data.subarray(this.offset, this.offset + this.length);
  }
}

/**
 * Handles one frame. Returning false means "not now": the frame is left
 * unconsumed (not committed, polled again next time) and the drain stops.
 */
export type FrameHandler = (frame: Frame) => unknown;

/**
 * The consuming end. Reading and committing are separate: poll advances a
 * local cursor, commit publishes it. Only committed frames are gone; a reader
 * created after a crash starts at the last commit, so every frame that was
 * not fully handled is read again.
 */
export class RingReader extends RingEnd {
  readonly frame: Frame;
  private readPos: number;
  private committedPos: number;
  private cachedWrite: number;
  private framesRead: number;

  private readonly producerDoorbell: Doorbell | undefined;
  /** True when the last drain stopped because the handler deferred a frame (returned false). */
  deferred = false;

  /** `producerDoorbell`: the producing thread's doorbell, for producers that park on it (requestRoom). */
  constructor(handle: RingHandle, options: { wait?: WaitStrategy; id?: number; producerDoorbell?: SharedArrayBuffer } = {}) {
    super(handle, options.wait ?? DEFAULT_WAIT);
    this.producerDoorbell = options.producerDoorbell ? new Doorbell(options.producerDoorbell) : undefined;
    this.readPos = this.committedPos = Atomics.load(this.i32, READ_POS);
    this.cachedWrite = Atomics.load(this.i32, WRITE_POS);
    this.framesRead = this.i32[FRAMES_READ]!;
    this.frame = new Frame(this.data);
    this.frame.from = options.id ?? 0;
  }

  /** True when committed frames (or padding) lie beyond the local cursor. */
  hasData(): boolean {
    return this.readPos !== this.cachedWrite || this.readPos !== (this.cachedWrite = Atomics.load(this.i32, WRITE_POS));
  }

  /** True once the ring is closed or shut down and nothing is left to read. */
  get done(): boolean {
    return Atomics.load(this.i32, STATE) !== RingState.OPEN && !this.hasData();
  }

  /** Uncommitted bytes behind the local cursor (read, not yet committed). */
  get uncommittedBytes(): number {
    return (this.readPos - this.committedPos) >>> 0;
  }

  /** The next frame after the local cursor, without committing it; null when none is published. */
  poll(): Frame | null {
    for (;;) {
      if (this.readPos === this.cachedWrite) {
        this.cachedWrite = Atomics.load(this.i32, WRITE_POS);
        if (this.readPos === this.cachedWrite) return null;
      }
      const offset = this.readPos & this.mask;
      const tail = this.capacity - offset;
      if (tail < FRAME_HEADER_BYTES) {
        this.readPos = (this.readPos + tail) | 0;
        continue;
      }
      const h = offset >> 2;
      const length = this.d32[h + F_LENGTH]!;
      const kindFlags = this.d32[h + F_KIND_FLAGS]!;
      const kind = kindFlags & 0xffff;
      const available = (this.cachedWrite - this.readPos) >>> 0;
      if (kind === FrameKind.PADDING) {
        if (length !== tail - FRAME_HEADER_BYTES || tail > available) throw this.corrupt(`padding frame of ${length} bytes does not end the data area`);
        this.readPos = (this.readPos + tail) | 0;
        continue;
      }
      const size = frameBytes(length);
      if (size > tail || size > available || kind > MAX_FRAME_KIND) {
        throw this.corrupt(`frame of kind ${kind} and ${length} bytes overruns the published data`);
      }
      const f = this.frame;
      f.kind = kind;
      f.flags = kindFlags >>> 16;
      f.dest = this.d32[h + F_DEST]!;
      f.sender = this.d32[h + F_SENDER]!;
      f.seq = this.d32[h + F_SEQ]!;
      f.length = length;
      f.offset = offset + FRAME_HEADER_BYTES;
      f.position = this.readPos;
      this.readPos = (this.readPos + size) | 0;
      this.framesRead++;
      return f;
    }
  }

  /** Hands everything polled so far back to the producer. Call only once those frames are handled. */
  commit(): void {
    if (this.readPos === this.committedPos) return;
    this.committedPos = this.readPos;
    Atomics.store(this.i32, READ_POS, this.readPos);
    this.i32[FRAMES_READ] = this.framesRead;
    const waiting = Atomics.load(this.i32, PRODUCER_PARKED);
    if (waiting === ProducerWait.PARKED) {
      if (Atomics.compareExchange(this.i32, PRODUCER_PARKED, ProducerWait.PARKED, ProducerWait.NONE) === ProducerWait.PARKED)
        Atomics.notify(this.i32, PRODUCER_PARKED);
    } else if (waiting === ProducerWait.DOORBELL) {
      const free = this.capacity - ((Atomics.load(this.i32, WRITE_POS) - this.readPos) >>> 0);
      if (
        free >= Atomics.load(this.i32, ROOM_WANTED) &&
        Atomics.compareExchange(this.i32, PRODUCER_PARKED, ProducerWait.DOORBELL, ProducerWait.NONE) === ProducerWait.DOORBELL
      ) {
        this.producerDoorbell?.ring();
      }
    }
  }

  /** Moves the local cursor back to the last commit: the uncommitted frames will be polled again. */
  rewind(): void {
    this.readPos = this.committedPos;
    this.framesRead = this.i32[FRAMES_READ]!;
  }

  /**
   * Polls up to `maxFrames` frames, hands each to `handler`, then commits once.
   * If the handler throws, the frames before the failing one are committed and
   * the failing one is not, so it is read again; then the error propagates.
   * If it returns false, the drain stops there the same way, without an error.
   */
  drain(handler: FrameHandler, maxFrames = Infinity, deadline = Infinity): number {
    this.deferred = false;
    let n = 0;
    let f: Frame | null;
    // The deadline is checked after each frame (at least one is handled): a turn of large frames stays short.
    while (n < maxFrames && (n === 0 || deadline === Infinity || performance.now() < deadline) && (f = this.poll()) !== null) {
      const start = f.position;
      let handled: unknown;
      try {
        handled = handler(f);
      } catch (err) {
        this.readPos = start;
        this.framesRead--;
        this.commit();
        throw err;
      }
      if (handled === false) {
        this.readPos = start;
        this.framesRead--;
        this.deferred = true;
        break;
      }
      n++;
    }
    this.commit();
    return n;
  }

  /** Blocks (worker threads) until a frame is published, the ring closes, or the timeout passes. */
  waitForData(timeoutMs?: number): WaitOutcome {
    for (let spin = 0; spin < this.wait.spins; spin++) if (this.hasData()) return 'ok';
    const outcome = this.doorbell.park(() => this.hasData() || this.state !== RingState.OPEN, timeoutMs);
    return outcome === 'ok' && this.done ? 'closed' : outcome;
  }

  /** Main-thread form of waitForData. */
  async waitForDataAsync(timeoutMs?: number): Promise<WaitOutcome> {
    if (this.hasData()) return 'ok';
    const outcome = await this.doorbell.parkAsync(() => this.hasData() || this.state !== RingState.OPEN, timeoutMs);
    return outcome === 'ok' && this.done ? 'closed' : outcome;
  }

  private corrupt(reason: string): TributaryError {
    return new TributaryError('E_MAILBOX_CORRUPT', `ring corrupt at position ${this.readPos >>> 0}: ${reason}`, {
      position: this.readPos >>> 0,
      reason,
    });
  }
}

function closedError(state: number): TributaryError {
  return new TributaryError('E_MAILBOX_CLOSED', state === RingState.CLOSED ? 'ring closed by its producer' : 'ring shut down', { state });
}

function timeoutError(length: number, capacity: number): TributaryError {
  return new TributaryError('E_TIMEOUT', `ring stayed full: no room for a ${length}-byte frame before the timeout`, { length, capacity });
}
