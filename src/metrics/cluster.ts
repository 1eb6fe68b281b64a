import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterMember } from '../cluster/member.js';
import { oncePerScrape } from './scrape.js';

/**
 * A member's cluster metrics, read at scrape time. Each member reports the
 * shards it owns (lag, consumed batches), so a Prometheus summing over
 * members counts every shard once:
 * - `tributary_cluster_members_live`, `tributary_cluster_balanced` (this
 *   member's view), `tributary_cluster_shards_owned`;
 * - `tributary_cluster_stream_pending{shard}` and `_unarchived{shard}`:
 *   batches in an owned shard's stream not yet stored here (lag), and all
 *   it holds until a checkpoint trims it; a shard JetStream does not
 *   answer for within a second is left out of that scrape;
 * - `tributary_cluster_batches_total{shard, outcome}`: batches consumed
 *   here, by outcome (stored, refused as malformed, retried);
 * - `tributary_cluster_detection_feeds_dropped_total`.
 */
export function registerClusterMetrics(registry: Registry, member: ClusterMember, feedsDropped: () => number): void {
  new Gauge({
    name: 'tributary_cluster_members_live',
    help: 'Members whose heartbeat this member saw on its last tick.',
    registers: [registry],
    collect() {
      this.set(member.view().members.length);
    },
  });
  new Gauge({
    name: 'tributary_cluster_balanced',
    help: 'Whether every shard is with its assigned owner among the live members (1), or a hand-over is under way (0); as this member sees it.',
    registers: [registry],
    collect() {
      this.set(member.balanced() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tributary_cluster_shards_owned',
    help: 'Shards this member consumes now.',
    registers: [registry],
    collect() {
      this.set(member.owns.length);
    },
  });
  const lag = oncePerScrape(() => member.lag(member.owns));
  new Gauge({
    name: 'tributary_cluster_stream_pending',
    help: "Batches in an owned shard's stream not yet stored by this member.",
    labelNames: ['shard'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const l of await lag()) if (l.pending !== null) this.set({ shard: l.shard }, l.pending);
    },
  });
  new Gauge({
    name: 'tributary_cluster_stream_unarchived',
    help: "Batches an owned shard's stream holds: not yet archived (or archived and not yet trimmed). The stream's limit bounds it.",
    labelNames: ['shard'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const l of await lag()) if (l.unarchived !== null) this.set({ shard: l.shard }, l.unarchived);
    },
  });
  new Counter({
    name: 'tributary_cluster_batches_total',
    help: 'Batches this member consumed from the shards streams, by outcome: stored, refused (malformed, terminated), retried.',
    labelNames: ['shard', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of member.consumerStats()) {
        this.inc({ shard: c.shard, outcome: 'stored' }, c.stored);
        this.inc({ shard: c.shard, outcome: 'refused' }, c.refused);
        this.inc({ shard: c.shard, outcome: 'retried' }, c.retried);
      }
    },
  });
  new Counter({
    name: 'tributary_cluster_detection_feeds_dropped_total',
    help: 'Stored batches whose anomaly-detection feed was dropped because the relay to detector slots was full.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(feedsDropped());
    },
  });
}
