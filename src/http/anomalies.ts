import type { FastifyInstance } from 'fastify';
import type { AnomalyEvent } from '../anomaly/detector-actor.js';
import type { AnomalyMonitor } from '../anomaly/monitor.js';
import type { AnomalySnapshot } from '../cluster/cluster-query.js';
import { int, type Query } from './common.js';
import { sseStreams } from './sse.js';

/** Where the API reads anomalies from: this daemon's detectors, or, in a cluster, every member's. */
export interface AnomalySource {
  snapshot(limit: number): AnomalySnapshot | Promise<AnomalySnapshot>;
  /** Calls `listener` for every event from now on; returns the unsubscribe. */
  subscribe(listener: (e: AnomalyEvent) => void): () => void;
}

/** This daemon's own detectors, through their monitor. */
export function localAnomalySource(monitor: AnomalyMonitor): AnomalySource {
  return {
    snapshot: (limit) => ({ current: monitor.current(), history: monitor.history(limit) }),
    subscribe: (listener) => monitor.subscribe(listener),
  };
}

/**
 * The anomaly API:
 * - `GET /api/v1/anomalies`: the services flagged now and the recent
 *   events (`?limit=`), JSON; in a cluster, every member's, `partial`
 *   saying which member did not answer;
 * - `GET /api/v1/anomalies/stream`: Server-Sent Events, first one `flag`
 *   per service flagged now, then every flag and clear as it happens.
 */
export function registerAnomalyApi(app: FastifyInstance, source: AnomalySource): void {
  const stream = sseStreams(app);

  app.get('/api/v1/anomalies', async (req) => {
    const q = req.query as Query;
    const limit = Math.max(0, Math.min(10_000, int(q.limit, 'limit', 100)));
    return { status: 'success', data: await source.snapshot(limit) };
  });

  app.get('/api/v1/anomalies/stream', { exposeHeadRoute: false }, async (_req, reply) => {
    let closed = false;
    let stop = () => {};
    const sse = stream(reply, () => ((closed = true), stop()));
    const send = (e: { type: string }) => void sse.send(e.type, e);
    // Subscribed before the snapshot is read (in a cluster, a round trip): an event in between is sent after it,
    // at worst a flag twice, never lost.
    const early: AnomalyEvent[] = [];
    let live = false;
    stop = source.subscribe((e) => (live ? send(e) : early.push(e)));
    const { current } = await source.snapshot(0);
    if (closed) return;
    for (const e of [...current, ...early]) send(e);
    live = true;
  });
}
