/**
 * Every shared-memory slot and byte offset of the mailbox, named once.
 *
 * A ring is one SharedArrayBuffer: a control block followed by the data area.
 * Positions are byte counters that only grow (wrapping at 2^32, compared with
 * unsigned 32-bit arithmetic); the data offset of a position is
 * `pos & (capacity - 1)`. Each position sits on its own 64-byte cache line so
 * the producer's and consumer's stores do not contend for one line.
 */

export const CACHE_LINE = 64;
/** Int32 slot indexes in the ring's control block. */
export const WRITE_POS = 0; // byte 0: end of the last committed frame (producer stores)
export const READ_POS = CACHE_LINE / 4; // byte 64: end of the last handled frame (consumer stores)
export const PRODUCER_PARKED = (2 * CACHE_LINE) / 4; // byte 128: ProducerWait
/** What the producer is waiting for room with. */
export const ProducerWait = {
  NONE: 0,
  /** Blocked in Atomics.wait on PRODUCER_PARKED: the consumer's commit notifies it. */
  PARKED: 1,
  /** Parked on its own thread's doorbell: the consumer's commit rings that doorbell. */
  DOORBELL: 2,
} as const;
export const STATE = (3 * CACHE_LINE) / 4; // byte 192: RingState
export const CAPACITY = STATE + 1; // byte 196: capacity of the data area, for validation
export const MAGIC = STATE + 2; // byte 200
export const FRAMES_WRITTEN = STATE + 3; // byte 204: committed frames (wrapping), for stats
export const FRAMES_READ = STATE + 4; // byte 208: handled frames (wrapping), for stats
export const ROOM_WANTED = STATE + 5; // byte 212: free bytes a DOORBELL-waiting producer wants before it is woken
export const CONTROL_BYTES = 4 * CACHE_LINE;
export const DATA_OFFSET = CONTROL_BYTES;
export const RING_MAGIC = 0x52494e47; // 'RING'

export const RingState = {
  OPEN: 0,
  /** The producer will write no more; the consumer drains what is left. */
  CLOSED: 1,
  /** Torn down by its owner: both sides stop waiting and writes fail. */
  SHUTDOWN: 2,
} as const;
export type RingState = (typeof RingState)[keyof typeof RingState];

/** Doorbell: its own SharedArrayBuffer so several rings (an inbox) can share one. */
export const DOORBELL_PARKED = 0; // 1 while the consumer sleeps on this doorbell
export const DOORBELL_BYTES = CACHE_LINE;

/**
 * Frame header, 24 bytes, at an 8-byte aligned data offset:
 *   [0] u32 body length in bytes
 *   [1] u16 kind | u16 flags << 16
 *   [2] u32 destination actor id
 *   [3] u32 sender actor id
 *   [4] u32 sequence number of this frame in its (sending thread, destination) stream
 *   [5] u32 reserved, zero
 * The frame occupies align8(24 + length) bytes. A frame never wraps: when it
 * does not fit before the end of the data area, the producer fills the tail
 * with a PADDING frame, or, when fewer than 24 bytes remain, both sides skip
 * the tail implicitly.
 */
export const FRAME_HEADER_BYTES = 24;
export const F_LENGTH = 0;
export const F_KIND_FLAGS = 1;
export const F_DEST = 2;
export const F_SENDER = 3;
export const F_SEQ = 4;
export const F_RESERVED = 5;

export const FrameKind = {
  PADDING: 0,
  DATA: 1,
  ACK: 2,
  CONTROL: 3,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
export const MAX_FRAME_KIND = 255;

export const MIN_CAPACITY = 1024;
export const MAX_CAPACITY = 1 << 30;

export function frameBytes(bodyLength: number): number {
  return (FRAME_HEADER_BYTES + bodyLength + 7) & ~7;
}
