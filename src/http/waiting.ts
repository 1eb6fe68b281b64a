import { createServer, type Server } from 'node:http';

/**
 * What a cluster member's HTTP port answers while it waits for JetStream,
 * before its real server can start: `/healthz` 200 (the process is alive:
 * do not restart it), `/readyz` and Loki's `/ready` 503 with the reason,
 * anything else 503. Closed (connections and all) the moment the member
 * has joined, so the real server takes the port.
 */
export interface WaitingServer {
  close(): Promise<void>;
}

export async function startWaitingServer(host: string, port: number, reason: () => string): Promise<WaitingServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json', 'retry-after': '5' });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return json(200, { status: 'ok', phase: 'joining the cluster' });
    if (path === '/ready') {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      return res.end(`not ready: ${reason()}\n`);
    }
    if (path === '/readyz') return json(503, { status: 'not ready', reasons: [reason()] });
    return json(503, { status: 'error', error: { code: 'E_UNAVAILABLE', message: `not serving yet: ${reason()}` } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
