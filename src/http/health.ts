import type { FastifyInstance } from 'fastify';
import type { ActorStats, ActorSystem } from '../actors/system.js';

/**
 * `GET /healthz`: the process answers (liveness; a restart is the cure
 * when it does not). `GET /readyz`: every shard primary is running and
 * taking writes, so a load balancer may send traffic; otherwise 503 with
 * the reasons (a shard restarting, a full disk).
 */
export function registerHealthRoutes(app: FastifyInstance, system: ActorSystem, shardNames: () => readonly string[]): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  const notReady = (): string[] => {
    const names = new Set(shardNames());
    const reasons: string[] = [];
    for (const a of system.stats() as ActorStats[]) {
      if (!names.has(a.name)) continue;
      if (a.status !== 'running') reasons.push(`${a.name} is ${a.status}`);
      else if (a.health) reasons.push(`${a.name} holds writes back: ${a.health}`);
    }
    return reasons;
  };
  app.get('/readyz', async (_req, reply) => {
    const reasons = notReady();
    if (reasons.length > 0) return reply.code(503).send({ status: 'not ready', reasons });
    return { status: 'ready' };
  });
  // Loki's probe, as Kubernetes manifests and Alloy's docs use it: plain text.
  app.get('/ready', async (_req, reply) => {
    const reasons = notReady();
    if (reasons.length > 0)
      return reply
        .code(503)
        .type('text/plain')
        .send(`not ready: ${reasons.join('; ')}\n`);
    return reply.type('text/plain').send('ready\n');
  });
}
