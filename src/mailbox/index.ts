export { Doorbell } from './doorbell.js';
export { Inbox } from './inbox.js';
export { FrameKind, RingState, FRAME_HEADER_BYTES, frameBytes } from './layout.js';
export { Frame, RingReader, RingWriter, createRing, ringStats, shutdownRing, type FrameHandler, type RingHandle, type RingStats } from './ring.js';
export { DEFAULT_WAIT, type WaitOutcome, type WaitStrategy } from './wait.js';
