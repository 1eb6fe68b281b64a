import { defineBehaviour } from '../actors/behaviour.js';
import { Collector, type CollectorOptions, type CollectorSourceAccount, type CollectorStats } from './collector.js';

/** A collector's options as actor args: plain data (no functions cross threads). */
export type CollectorActorArgs = Omit<CollectorOptions, 'transportFor' | 'log'>;

export type CollectorRequest = { op: 'stats' } | { op: 'sources' };

/**
 * A collector hosted as an actor on a worker thread, so tailing and parsing
 * run beside the shards instead of on the daemon's main thread. Its state
 * is its checkpoint on disk: when the thread dies, the supervisor starts it
 * again and it resumes from the checkpoint, resending only what was not
 * acknowledged (stored once by the shards' deduplication). It takes no
 * frames; it sends over its transport (gRPC PushBatches by default), the
 * one seam between collectors and aggregators.
 */
export const collectorActor = defineBehaviour<Collector, CollectorActorArgs, CollectorRequest, CollectorStats | CollectorSourceAccount[]>({
  init(args, ctx) {
    return Collector.start({ ...args, log: (level, message) => ctx.log(level, message) });
  },
  receive() {
    // No frames are addressed to a collector.
  },
  ask(collector, req) {
    return req.op === 'sources' ? collector.sources() : collector.stats();
  },
  async stop(collector) {
    await collector.stop();
  },
  dispose(collector) {
    void collector.stop().catch(() => {});
  },
});
