import type { FastifyInstance } from 'fastify';
import type { ActorStats } from '../actors/system.js';
import type { IngestCounters } from '../ingest/ingestor.js';
import type { RecoverySummary } from '../daemon/recovery.js';
import type { ShardStatsAnswer } from '../shard/shard-actor.js';
import type { MemoryReadings } from '../util/memory-pressure.js';

export interface StatusSource {
  readonly version: string;
  readonly startedAt: number;
  actors(): ActorStats[];
  shards(): Promise<{ name: string; stats: ShardStatsAnswer | null }[]>;
  doors(): Record<string, IngestCounters>;
  flagged(): string[] | null;
  /** Resident memory against the budget, as the governor last read it. */
  memory?(): MemoryReadings;
  readonly recovery: RecoverySummary;
}

/**
 * `GET /api/v1/status`: what `tributary status` shows. Counters are totals
 * since start (a client takes two samples for rates); actors with their
 * replicas, restarts and mailbox depths; per shard its entries and bytes.
 */
export function registerStatusRoute(app: FastifyInstance, source: StatusSource): void {
  app.get('/api/v1/status', async () => {
    const shards = await source.shards();
    const { shards: recoveredShards, ...recovery } = source.recovery;
    return {
      status: 'success',
      data: {
        version: source.version,
        at: Date.now(),
        startedAt: source.startedAt,
        actors: source
          .actors()
          .flatMap((a) => [a, ...a.replicas])
          .map(({ replicas: _r, ...a }) => a),
        shards: shards.map(({ name, stats }) => ({
          name,
          answered: stats !== null,
          entries: stats?.store ? stats.store.blockEntries + stats.store.sealingEntries + stats.store.memtableEntries : 0,
          blocks: stats?.store?.blocks ?? 0,
          blockBytes: stats?.store?.blockBytes ?? 0,
          walBytes: stats?.store?.walBytes ?? 0,
          memtableBytes: stats?.store?.memtableBytes ?? 0,
          diskFull: stats?.diskFull ?? false,
        })),
        doors: source.doors(),
        flagged: source.flagged(),
        memory: source.memory?.() ?? null,
        recovery: { ...recovery, shards: recoveredShards.length },
      },
    };
  });
}
