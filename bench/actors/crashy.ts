// Benchmark actor: a frame [1] crashes it once (by throw or by ending its
// thread) when the shared flag is armed; every other frame is "handled" and
// time-stamped, so crash-to-handled latency is measured in shared memory.
import { defineBehaviour } from '../../src/actors/behaviour.js';

export interface CrashyArgs {
  /** Int32 [armed, handledCount]. */
  readonly flags: SharedArrayBuffer;
  /** Float64 [crashAt, handledAt] (ms since the epoch, timeOrigin-based). */
  readonly clock: SharedArrayBuffer;
  readonly mode: 'throw' | 'exit';
}

interface State {
  flags: Int32Array;
  clock: Float64Array;
  mode: 'throw' | 'exit';
}

const now = () => performance.timeOrigin + performance.now();

export default defineBehaviour<State, CrashyArgs>({
  init: (args) => ({ flags: new Int32Array(args.flags), clock: new Float64Array(args.clock), mode: args.mode }),
  receive(state, frame) {
    if (frame.body[0] === 1 && Atomics.exchange(state.flags, 0, 0) === 1) {
      state.clock[0] = now();
      if (state.mode === 'throw') throw new Error('benchmark crash');
      process.exit(9);
    }
    state.clock[1] = now();
    Atomics.add(state.flags, 1, 1);
    Atomics.notify(state.flags, 1);
  },
  ask: () => 'pong',
});
