import { BatchBuilder } from '../batch/builder.js';
import { defineBehaviour, type ActorContext } from '../actors/behaviour.js';
import { newSourceId } from '../model/source.js';
import { syntheticLevel, syntheticMessage } from './synthetic.js';

export interface SyntheticProducerArgs {
  /** Actor ids that receive the batches, round-robin. */
  readonly targets: readonly number[];
  readonly perBatch?: number;
  readonly services?: number;
  readonly servers?: number;
  readonly regions?: number;
}

interface State {
  readonly args: SyntheticProducerArgs;
  /** Entries still to produce: a burst larger than the rings can take waits here for the next turn. */
  budget: number;
  /** A new source per incarnation: a restarted producer starts its sequence again from 0. */
  readonly sourceId: string;
  seq: number;
  next: number;
  builder?: BatchBuilder;
  /** Pre-built messages and labels: a simulator replays templates, it should not spend its time formatting them. */
  readonly messages: string[];
  readonly services: string[];
  readonly servers: string[];
  readonly regions: string[];
}

const POOL = 4096;

/**
 * Simulated servers writing log entries. Each data frame it receives carries
 * a budget (u32, entries to produce now); the caller's clock sets the rate.
 * Entries are encoded once, in place, in the target's ring.
 */
export const syntheticProducer = defineBehaviour<State, SyntheticProducerArgs, 'stats', { produced: number; sourceId: string }>({
  init(args) {
    const { services = 20, servers = 500, regions = 10 } = args;
    return {
      args,
      sourceId: newSourceId(),
      seq: 0,
      next: 0,
      budget: 0,
      messages: Array.from({ length: POOL }, (_, i) => syntheticMessage(i)),
      services: Array.from({ length: services }, (_, i) => `svc-${i}`),
      servers: Array.from({ length: servers }, (_, i) => `srv-${i}`),
      regions: Array.from({ length: regions }, (_, i) => `region-${i}`),
    };
  },
  receive(state, frame, ctx) {
    const body = frame.body;
    const wasIdle = state.budget === 0;
    state.budget += body.byteLength >= 4 ? new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true) : 0;
    if (wasIdle) produce(state, ctx);
  },
  resume(state, ctx) {
    produce(state, ctx);
  },
  ask(state) {
    return { produced: state.seq, sourceId: state.sourceId };
  },
});

/**
 * Batches produced per call before yielding: about a millisecond of work, so
 * the actors sharing this thread (a co-located consumer above all) get their
 * turn. One long burst starved them and halved two cross-wired threads' rate.
 */
const BATCHES_PER_SLICE = 4;

/** Produces a slice of the budget (less if a target's ring is full), then resumes on a later turn. */
function produce(state: State, ctx: ActorContext): void {
  const { targets, perBatch = 1000 } = state.args;
  const { messages, services, servers, regions } = state;
  if (targets.length === 0) {
    state.budget = 0;
    return;
  }
  const now = BigInt(Date.now()) * 1_000_000n;
  for (let slice = 0; state.budget > 0; slice++) {
    if (slice === BATCHES_PER_SLICE) {
      ctx.resumeLater();
      return;
    }
    const count = Math.min(perBatch, state.budget);
    const first = state.seq;
    const target = targets[state.next % targets.length]!;
    const sent = ctx.trySendBuilt(target, count * 200 + 8192, (view) => {
      const opts = { sourceId: state.sourceId, firstSeq: BigInt(first), maxEntries: count };
      const b = state.builder ? (state.builder.reset(view, opts), state.builder) : (state.builder = new BatchBuilder(view, opts));
      let i = 0;
      for (; i < count; i++) {
        const n = first + i;
        const added = b.add(
          now + BigInt(i),
          syntheticLevel(n),
          services[n % services.length]!,
          servers[n % servers.length]!,
          regions[n % regions.length]!,
          messages[n % POOL]!,
        );
        if (!added) break;
      }
      state.seq += i;
      state.budget -= i;
      return b.finish();
    });
    if (!sent) {
      ctx.resumeLater(); // the target's ring is full: let the thread drain it first
      return;
    }
    state.next++;
  }
}

/** The body of a budget frame. */
export function budgetFrame(entries: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, entries, true);
  return b;
}
