import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** A subscriber this far behind (bytes not yet taken by its socket) is cut off: memory stays bounded. */
export const MAX_SSE_BACKLOG = 1 << 20;

export interface SseStream {
  /** One event; false (and the stream is closed) when the peer is too far behind. */
  send(event: string, data: unknown): boolean;
  /** Bytes written but not yet taken by the peer. */
  backlog(): number;
  readonly raw: ServerResponse;
}

/**
 * Server-Sent Events on a server: `start` turns a reply into a stream whose
 * `onClose` runs when the peer goes or the server closes (a closing server
 * ends its streams, or it would wait on them forever). A comment now and
 * then keeps proxies from closing an idle stream.
 */
export function sseStreams(app: FastifyInstance): (reply: FastifyReply, onClose: () => void) => SseStream {
  const open = new Map<ServerResponse, () => void>();
  app.addHook('preClose', (done) => {
    for (const [res, stop] of open) {
      stop();
      res.end();
    }
    done();
  });
  return (reply, onClose) => {
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': connected\n\n'); // the headers go out now, not with the first event
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000).unref();
    const stop = () => {
      if (!open.delete(res)) return;
      clearInterval(heartbeat);
      onClose();
    };
    open.set(res, stop);
    res.on('close', stop);
    reply.hijack();
    return {
      raw: res,
      backlog: () => res.writableLength,
      send(event, data) {
        if (res.writableLength > MAX_SSE_BACKLOG) {
          res.destroy();
          return false;
        }
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        return true;
      },
    };
  };
}
