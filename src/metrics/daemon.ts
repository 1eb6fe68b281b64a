import { Counter, Gauge, Histogram, collectDefaultMetrics, type Metric, type Registry } from 'prom-client';
import type { ActorRef } from '../actors/behaviour.js';
import { threadMemory, type ThreadMemory } from '../util/thread-memory.js';
import type { ActorStats, ActorSystem } from '../actors/system.js';
import type { IngestCounters } from '../ingest/ingestor.js';
import type { QueryService } from '../query/engine.js';
import type { ShardStatsAnswer } from '../shard/shard-actor.js';
import { WAL_SYNC_BUCKETS_S } from '../shard/sync-latency.js';
import type { MemoryReadings } from '../util/memory-pressure.js';
import { oncePerScrape } from './scrape.js';

/** What the daemon metrics read from; the Daemon provides it. */
export interface DaemonMetricsSource {
  readonly system: ActorSystem;
  readonly engine: QueryService;
  readonly shards: () => readonly ActorRef[];
  readonly doors: () => Record<string, IngestCounters>;
  /** The memory governor's readings. */
  readonly memory?: () => MemoryReadings;
  /** The query gate: running, waiting, refused. */
  readonly queries?: () => { running: number; waiting: number; refused: number };
}

/** A scrape never waits long on a busy shard: it is left out of that scrape. */
const SHARD_STATS_TIMEOUT_MS = 1000;

/**
 * The daemon's own metrics (the anomaly ones are in anomaly.ts): process
 * and event loop (prom-client's defaults, prefixed tributary_), entries per
 * front door and outcome, actors (up, restarts, mailbox depth, frames),
 * shard sizes, and query latency by kind and outcome. Counters kept by the
 * parts are read at scrape time, so nothing on the ingest path touches
 * prom-client.
 */
export function registerDaemonMetrics(registry: Registry, source: DaemonMetricsSource): void {
  collectDefaultMetrics({ register: registry, prefix: 'tributary_' });

  new Counter({
    name: 'tributary_ingest_entries_total',
    help: 'Entries through each push door, by outcome: accepted, duplicate (a resend), overloaded, failed (storage), rejected (bad input).',
    labelNames: ['door', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [door, c] of Object.entries(source.doors())) {
        this.inc({ door, outcome: 'accepted' }, c.accepted);
        this.inc({ door, outcome: 'duplicate' }, c.duplicates);
        this.inc({ door, outcome: 'overloaded' }, c.overloaded);
        this.inc({ door, outcome: 'failed' }, c.failed);
        this.inc(
          { door, outcome: 'rejected' },
          Object.values(c.rejected).reduce((a, b) => a + (b ?? 0), 0),
        );
      }
    },
  });
  new Counter({
    name: 'tributary_ingest_requests_total',
    help: 'Requests to each push door.',
    labelNames: ['door'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [door, c] of Object.entries(source.doors())) this.inc({ door }, c.requests);
    },
  });

  // Actors: primaries and replicas, by name and role.
  const actors = (): ActorStats[] => source.system.stats().flatMap((a) => [a, ...a.replicas]);
  const perActor = (name: string, help: string, kind: 'gauge' | 'counter', value: (a: ActorStats) => number) => {
    const config = {
      name,
      help,
      labelNames: ['actor', 'role'] as const,
      registers: [registry],
      collect(this: Gauge<'actor' | 'role'> | Counter<'actor' | 'role'>) {
        this.reset();
        for (const a of actors()) {
          if (this instanceof Gauge) this.set({ actor: a.name, role: a.role }, value(a));
          else this.inc({ actor: a.name, role: a.role }, value(a));
        }
      },
    };
    return kind === 'gauge' ? new Gauge(config) : new Counter(config);
  };
  perActor('tributary_actor_up', 'Whether the actor is running (1), or starting, restarting or stopped (0).', 'gauge', (a) => (a.status === 'running' ? 1 : 0));
  perActor('tributary_actor_restarts_total', 'Restarts of the actor by its supervisor.', 'counter', (a) => a.restarts);
  perActor('tributary_actor_mailbox_depth', 'Frames waiting in the actor mailbox.', 'gauge', (a) => a.mailboxDepth);
  perActor('tributary_actor_frames_total', 'Frames the actor has consumed.', 'counter', (a) => a.framesHandled);

  new Gauge({
    name: 'tributary_shard_entries',
    help: 'Entries a shard holds: in sealed blocks, being sealed, and in its memtable.',
    labelNames: ['shard', 'tier'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [shard, s] of await shardStats()) {
        this.set({ shard, tier: 'blocks' }, s.store?.blockEntries ?? 0);
        this.set({ shard, tier: 'sealing' }, s.store?.sealingEntries ?? 0);
        this.set({ shard, tier: 'memtable' }, s.store?.memtableEntries ?? 0);
      }
    },
  });
  new Gauge({
    name: 'tributary_shard_bytes',
    help: 'Bytes a shard holds: blocks on disk, memtable in memory, WAL on disk.',
    labelNames: ['shard', 'kind'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [shard, s] of await shardStats()) {
        this.set({ shard, kind: 'blocks' }, s.store?.blockBytes ?? 0);
        this.set({ shard, kind: 'memtable' }, s.store?.memtableBytes ?? 0);
        this.set({ shard, kind: 'wal' }, s.store?.walBytes ?? 0);
      }
    },
  });
  new Gauge({
    name: 'tributary_shard_disk_full',
    help: 'Whether the shard holds writes back because its disk is full (1) or not (0).',
    labelNames: ['shard'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [shard, s] of await shardStats()) this.set({ shard }, s.diskFull ? 1 : 0);
    },
  });

  new Gauge({
    name: 'tributary_thread_memory_bytes',
    help: 'Memory of each shard thread, of its seal thread (as its last job ended; thread N-seal) and of the main thread as its V8 isolate counts it: heap used and committed, external (memory outside the heap V8 knows of, ArrayBuffers included) and ArrayBuffers alone.',
    labelNames: ['thread', 'kind'],
    registers: [registry],
    async collect() {
      this.reset();
      const set = (thread: string, m: ThreadMemory) => {
        this.set({ thread, kind: 'heap_used' }, m.heapUsed);
        this.set({ thread, kind: 'heap_total' }, m.heapTotal);
        this.set({ thread, kind: 'external' }, m.external);
        this.set({ thread, kind: 'array_buffers' }, m.arrayBuffers);
      };
      const threadOf = new Map(source.system.stats().map((a) => [a.name, a.thread]));
      for (const [shard, s] of await shardStats()) {
        const thread = String(threadOf.get(shard) ?? shard);
        if (s.memory) set(thread, s.memory);
        if (s.sealMemory) set(`${thread}-seal`, s.sealMemory);
      }
      set('main', threadMemory());
    },
  });

  const memory = source.memory;
  if (memory) {
    new Gauge({
      name: 'tributary_memory_bytes',
      help: 'Resident memory of the process as the governor last read it (resident), its highest reading (peak), and the budget.',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        const m = memory();
        this.set({ kind: 'resident' }, m.residentBytes);
        this.set({ kind: 'peak' }, m.peakResidentBytes);
        this.set({ kind: 'budget' }, m.budgetBytes);
      },
    });
    new Gauge({
      name: 'tributary_memory_pressure',
      help: 'Whether resident memory is near the budget (1), so ingest and queries are admitted one at a time, or not (0).',
      registers: [registry],
      collect() {
        this.set(memory().high ? 1 : 0);
      },
    });
    new Counter({
      name: 'tributary_memory_pressure_episodes_total',
      help: 'Times resident memory came near the budget.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(memory().pressureEpisodes);
      },
    });
    new Counter({
      name: 'tributary_memory_pressure_seconds_total',
      help: 'Time spent near the memory budget.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(memory().pressureMs / 1000);
      },
    });
  }
  const gate = source.queries;
  if (gate) {
    new Gauge({
      name: 'tributary_queries_in_gate',
      help: 'Queries being answered (running) and waiting for a turn (waiting).',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const q = gate();
        this.set({ state: 'running' }, q.running);
        this.set({ state: 'waiting' }, q.waiting);
      },
    });
    new Counter({
      name: 'tributary_queries_refused_total',
      help: 'Queries refused with 429 because the queue of waiting queries was full or their wait ran out.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(gate().refused);
      },
    });
  }

  // The shard threads keep the fsync histogram; this turns it into Prometheus' cumulative buckets at scrape time.
  const fsyncHelp = 'WAL group-commit fdatasync latency per shard (acknowledgements wait for it).';
  registry.registerMetric({
    name: 'tributary_wal_fsync_seconds',
    help: fsyncHelp,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [shard, s] of await shardStats()) {
        if (!s.walSync) continue;
        let cumulative = 0;
        WAL_SYNC_BUCKETS_S.forEach((le, i) => {
          cumulative += s.walSync!.counts[i] ?? 0;
          values.push({ metricName: 'tributary_wal_fsync_seconds_bucket', labels: { shard, le: le === Infinity ? '+Inf' : le }, value: cumulative });
        });
        values.push({ metricName: 'tributary_wal_fsync_seconds_sum', labels: { shard }, value: s.walSync.sum });
        values.push({ metricName: 'tributary_wal_fsync_seconds_count', labels: { shard }, value: cumulative });
      }
      return { name: 'tributary_wal_fsync_seconds', help: fsyncHelp, type: 'histogram', aggregator: 'sum', values };
    },
  } as unknown as Metric);

  // The shards are asked once per scrape, whichever metric asks first.
  const shardStats = oncePerScrape(async () => {
    const all = await Promise.all(
      source.shards().map((ref) =>
        source.system
          .ask<ShardStatsAnswer>(ref, { op: 'stats' }, { timeoutMs: SHARD_STATS_TIMEOUT_MS })
          .then((s): [string, ShardStatsAnswer][] => [[ref.name, s]])
          .catch((): [string, ShardStatsAnswer][] => []),
      ),
    );
    return all.flat();
  });

  const queries = new Histogram({
    name: 'tributary_query_duration_seconds',
    help: 'Query latency, by kind (log, metric) and outcome (complete, partial, error).',
    labelNames: ['kind', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  source.engine.observer = (kind, seconds, outcome) => queries.observe({ kind, outcome }, seconds);
}
