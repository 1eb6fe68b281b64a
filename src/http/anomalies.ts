import type { FastifyInstance } from 'fastify';
import type { AnomalyMonitor } from '../anomaly/monitor.js';
import { int, type Query } from './common.js';
import { sseStreams } from './sse.js';

/**
 * The anomaly API:
 * - `GET /api/v1/anomalies`: the services flagged now and the recent
 *   events (`?limit=`), JSON;
 * - `GET /api/v1/anomalies/stream`: Server-Sent Events, first one `flag`
 *   per service flagged now, then every flag and clear as it happens.
 */
export function registerAnomalyApi(app: FastifyInstance, monitor: AnomalyMonitor): void {
  const stream = sseStreams(app);

  app.get('/api/v1/anomalies', async (req) => {
    const q = req.query as Query;
    const limit = Math.max(0, Math.min(10_000, int(q.limit, 'limit', 100)));
    return { status: 'success', data: { current: monitor.current(), history: monitor.history(limit) } };
  });

  app.get('/api/v1/anomalies/stream', { exposeHeadRoute: false }, (_req, reply) => {
    let unsubscribe = () => {};
    const sse = stream(reply, () => unsubscribe());
    const send = (e: { type: string }) => void sse.send(e.type, e);
    for (const e of monitor.current()) send(e);
    unsubscribe = monitor.subscribe(send);
  });
}
