import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../errors.js';
import type { ClusterMember } from '../cluster/member.js';
import type { ShardLag } from '../cluster/shard-consumer.js';

/** What `GET /api/v1/cluster` answers: `tributary cluster status`. */
export interface ClusterStatus {
  readonly member: string;
  readonly shards: number;
  readonly streamReplicas: number;
  /** How old the membership and ownership below are: the asked member's last balance tick (a quarter lease while NATS answers). */
  readonly viewAgeMs: number;
  /** Every shard is held by the member the assignment picks among the live ones (assignShards): no hand-over under way. */
  readonly balanced: boolean;
  /** `owns`: the shards whose lease it holds, in the same view as `shardOwners`; `serving`: those it answers queries for (restored and caught up), as its heartbeat says. */
  readonly members: { id: string; url: string; live: boolean; owns: string[]; serving: string[] }[];
  /**
   * Per shard: its lease holder; batches it has not stored yet (`pending`); batches and bytes its stream holds, not yet
   * archived or not yet trimmed (`unarchived`, `streamBytes`). Null where JetStream did not answer in time.
   */
  readonly shardOwners: (ShardLag & { owner: string | null })[];
  /** This member's consumers: batches stored, refused, retried per shard since it started. */
  readonly consumers: { shard: string; stored: number; refused: number; retried: number }[];
}

/**
 * `GET /api/v1/cluster` (members alive and registered, every shard's owner
 * and consumer lag) and `DELETE /api/v1/cluster/members/:id` (forget a
 * member that will not come back, so queries stop waiting for its data).
 * Answers 404 when the daemon runs alone.
 */
export function registerClusterRoutes(app: FastifyInstance, member: () => ClusterMember | undefined): void {
  const need = () => {
    const m = member();
    if (!m) throw new TributaryError('E_NOT_FOUND', 'this daemon runs alone: start it with --cluster', {});
    return m;
  };
  app.get('/api/v1/cluster', async () => {
    const m = need();
    const view = m.view();
    const lag = await m.lag();
    const ids = [...new Set([...view.nodes.map((n) => n.id), ...view.members.map((l) => l.id)])].sort();
    const data: ClusterStatus = {
      member: m.id,
      shards: m.config.shards.length,
      streamReplicas: m.config.streamReplicas,
      viewAgeMs: Date.now() - view.at,
      balanced: m.balanced(view),
      members: ids.map((id) => {
        const hb = view.members.find((l) => l.id === id);
        const node = view.nodes.find((n) => n.id === id);
        return {
          id,
          url: hb?.url ?? node?.url ?? '',
          live: hb !== undefined,
          owns: m.config.shards.filter((shard) => view.owners.get(shard) === id),
          serving: hb?.serving ?? [],
        };
      }),
      shardOwners: lag.map((l) => ({ ...l, owner: view.owners.get(l.shard) ?? null })),
      consumers: m.consumerStats(),
    };
    return { status: 'success', data };
  });
  app.delete<{ Params: { id: string } }>('/api/v1/cluster/members/:id', async (req) => {
    const m = need();
    if ((await m.members()).some((l) => l.id === req.params.id)) {
      throw new TributaryError('E_INVALID_ARGUMENT', `member ${req.params.id} is alive: stop it first`, { member: req.params.id });
    }
    await m.forget(req.params.id);
    return { status: 'success', data: { forgotten: req.params.id } };
  });
}
