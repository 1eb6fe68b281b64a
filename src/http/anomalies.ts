import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { AnomalyMonitor } from '../anomaly/monitor.js';
import { int, type Query } from './common.js';

/** A subscriber this far behind (bytes not yet taken by its socket) is cut off: memory stays bounded. */
const MAX_SSE_BACKLOG = 1 << 20;

/**
 * The anomaly API:
 * - `GET /api/v1/anomalies`: the services flagged now and the recent
 *   events (`?limit=`), JSON;
 * - `GET /api/v1/anomalies/stream`: Server-Sent Events, first one `flag`
 *   per service flagged now, then every flag and clear as it happens.
 */
export function registerAnomalyApi(app: FastifyInstance, monitor: AnomalyMonitor): void {
  // Streams never end by themselves: a closing server ends them, or it would wait on them forever.
  const open = new Map<ServerResponse, () => void>();
  app.addHook('preClose', (done) => {
    for (const [res, stop] of open) {
      stop();
      res.end();
    }
    done();
  });

  app.get('/api/v1/anomalies', async (req) => {
    const q = req.query as Query;
    const limit = Math.max(0, Math.min(10_000, int(q.limit, 'limit', 100)));
    return { status: 'success', data: { current: monitor.current(), history: monitor.history(limit) } };
  });

  app.get('/api/v1/anomalies/stream', (req, reply) => {
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (e: { type: string }) => {
      if (res.writableLength > MAX_SSE_BACKLOG) {
        res.destroy();
        return;
      }
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    res.write(': connected\n\n'); // the headers go out now, not with the first event
    for (const e of monitor.current()) send(e);
    const unsubscribe = monitor.subscribe(send);
    // A comment now and then keeps proxies from closing an idle stream.
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000).unref();
    const stop = () => {
      open.delete(res);
      clearInterval(heartbeat);
      unsubscribe();
    };
    open.set(res, stop);
    res.on('close', stop);
    reply.hijack();
  });
}
