import { mkdirSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ArrivalSignal } from '../mailbox/arrivals.js';
import { TributaryError } from '../errors.js';
import type { ActorRef } from '../actors/behaviour.js';
import { ActorSystem } from '../actors/system.js';
import { QueryEngine, type QueryService } from '../query/engine.js';
import type { ShardArgs, ShardStatsAnswer } from '../shard/shard-actor.js';
import { registerStatusRoute } from '../http/status.js';
import { registerClusterRoutes } from '../http/cluster.js';
import { VERSION } from '../version.js';
import { ActorShardSink, ShardedWriter } from '../shard/sharded-writer.js';
import { BatchReader } from '../batch/reader.js';
import { feedsOf, detectorFor } from '../anomaly/feed.js';
import { TransportSink, withTimeout } from '../collector/transport.js';
import { ClusterMember } from '../cluster/member.js';
import { byShardNumber } from '../cluster/assignment.js';
import { ClusterQueryEngine, serveClusterQueries, type ClusterView } from '../cluster/cluster-query.js';
import { JetStreamTransport } from '../cluster/jetstream-transport.js';
import { names as natsNames } from '../cluster/nats.js';
import type { Server } from '@grpc/grpc-js';
import { createHttpServer, serverRoutes } from '../http/server.js';
import { closeGrpc, createGrpcServer, listenGrpc } from '../grpc/server.js';
import { ContentDedup } from '../ingest/content-dedup.js';
import { Ingestor, type IngestLimits } from '../ingest/ingestor.js';
import { inlineParser, poolParser, type Parser } from '../ingest/parse-pool.js';
import { addIngestService } from '../grpc/ingest.js';
import { registerIngestApi, type IngestHttpOptions, type SourcesView } from '../http/ingest.js';
import { SourceLedger, accountSources } from '../ingest/source-ledger.js';
import type { SourceReport } from '../index/dedup.js';
import type { LogEntry } from '../model/entry.js';
import { SyslogListener, type SyslogOptions } from '../syslog/server.js';
import type { CollectorActorArgs } from '../collector/collector-actor.js';
import type { CollectorStats } from '../collector/collector.js';
import type { DetectorArgs } from '../anomaly/detector-actor.js';
import { AnomalyMonitor } from '../anomaly/monitor.js';
import type { WindowRule } from '../anomaly/window.js';
import { localAnomalySource, registerAnomalyApi } from '../http/anomalies.js';
import { ClusterAnomalySource, publishAnomalies } from '../cluster/cluster-anomalies.js';
import { WebhookNotifier, type WebhookOptions } from '../anomaly/webhook.js';
import { Registry } from 'prom-client';
import { registerAnomalyMetrics } from '../metrics/anomaly.js';
import { registerMetricsRoute } from '../http/metrics.js';
import { registerClusterMetrics } from '../metrics/cluster.js';
import { registerDaemonMetrics } from '../metrics/daemon.js';
import { registerHealthRoutes } from '../http/health.js';
import { clusterHost, removeLeftovers } from './cluster-host.js';
import { joinWhileAnswering, type ClusterOptions, type ClusterParts } from './join.js';
import { DEFAULT_MEMORY_BUDGET, planMemory } from './memory-budget.js';
import { MemoryGovernor } from './memory-governor.js';
import { GatedQueryService, QueryGate } from '../query/query-gate.js';
import { TokenSet } from '../security/tokens.js';
import type { RecoveryReport } from '../index/store.js';
import { describeRecovery, markCleanStop, summarize, takeCleanStopMark, type RecoverySummary } from './recovery.js';
import { checkDataFormat } from './data-format.js';
import type { TlsMaterial } from '../security/tls.js';
import { registerUi, uiSignIn } from '../http/ui.js';

export interface DaemonOptions {
  /** Where shards keep their data. Default ./data. */
  readonly dataDir?: string;
  readonly http?: {
    readonly host?: string;
    readonly port?: number;
    /** HTTPS (with a CA: mutual TLS). */
    readonly tls?: TlsMaterial;
    /** The web UI at / (default true). */
    readonly ui?: boolean;
  };
  /** The gRPC service, queries and pushes (default 127.0.0.1:9095; false: none). */
  readonly grpc?: { readonly host?: string; readonly port?: number; readonly tls?: TlsMaterial } | false;
  /**
   * Bearer tokens: once any is given, every HTTP route but /healthz and
   * /readyz, and every gRPC call, needs one. Syslog cannot carry a token, so
   * it then needs TLS with a CA (senders' certificates) or must be off.
   */
  readonly auth?: { readonly tokens: readonly string[] };
  /** Syslog over TCP (off unless given; `tributary start` opens it on 1514). */
  readonly syslog?: Omit<SyslogOptions, 'log'> | false;
  /** Worker threads (default: cores). */
  readonly workers?: number;
  /** Shards that take new writes (default: workers). Existing shard directories beyond these are still queried. */
  readonly shards?: number;
  /** Replicas per shard (default 1 when there are 2 or more workers, else 0). */
  readonly replicas?: number;
  /**
   * Resident memory the daemon plans for (default 512 MiB): memtables, page
   * caches, replica tails and thread heaps are all sized from it (see
   * planMemory). Settings in `shard` override the derived sizes.
   */
  readonly memoryBudgetBytes?: number;
  /**
   * Reads the process's resident memory for the memory governor (default
   * process.memoryUsage.rss()); near the budget, ingest and queries are
   * admitted one at a time. Tests give their own reading.
   */
  readonly residentMemory?: () => number;
  /** Queries answered at once, and waiting for a turn (default 8 and 64). */
  readonly queries?: { readonly maxConcurrent?: number; readonly maxQueued?: number };
  /** Threads that parse pushed request bodies (default 1; 0 parses on the main thread, for tools and tests). */
  readonly parseThreads?: number;
  /** Limits on what the push doors accept (body and line sizes, concurrency, timestamp window). */
  readonly ingest?: IngestLimits & IngestHttpOptions;
  /** Settings passed to every shard (group commit, seal sizes, retention...). */
  readonly shard?: Partial<Omit<ShardArgs, 'dir'>>;
  /** The daemon's own log: a message, and the facts as fields for structured loggers (pino). */
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /**
   * Collectors hosted as actors on the worker threads, tailing this host's
   * files into this daemon (over its gRPC door unless `aggregators` says
   * otherwise; needs gRPC on). Restarted from their checkpoints when they fail.
   */
  /**
   * Anomaly detection (on unless false): flagged while more than
   * `rule.threshold` of a service's last `rule.size` entries are ERROR
   * (default 10 of 1000), with per-service rules; `detectors` actors
   * (default one per worker thread), each with a replica; events also
   * POSTed to `webhooks`.
   */
  readonly anomaly?:
    | {
        readonly rule?: WindowRule;
        readonly services?: Record<string, WindowRule>;
        readonly detectors?: number;
        readonly webhooks?: readonly WebhookOptions[];
        /** When detectors count an entry: as the shard takes it (default) or once it is durable (see ShardArgs.detectOn). */
        readonly detectOn?: 'append' | 'commit';
      }
    | false;
  readonly collectors?: readonly (Omit<CollectorActorArgs, 'aggregators'> & { readonly aggregators?: readonly string[] })[];
  /**
   * Run as a member of a cluster on NATS JetStream (see docs/ARCHITECTURE.md,
   * "Across hosts"): the doors publish to the shards' streams, this daemon
   * stores the shards whose leases it holds, and queries gather from every
   * member. Off unless given.
   */
  readonly cluster?: ClusterOptions;
}

const SHARD_NAME = /^shard-(\d+)$/;
/** Detection feeds relayed from the cluster that may wait for a detector's mailbox at once. */
const MAX_FEEDS_IN_FLIGHT = 256;
/** How long a stopping member may take to drain its consumers and hand its leases back before it just goes. */
const LEAVE_TIMEOUT_MS = 30_000;

/**
 * The single-host daemon: the actor system, the shard actors (and their
 * replicas) over the data directory, the edge that writes into them, the
 * query engine, and the HTTP server in front.
 */
export class Daemon {
  readonly writer: ShardedWriter;
  /** Answers queries: this daemon's shards, or in a cluster every member's. */
  readonly engine: QueryService;
  /** The engine behind the doors: queries take turns at a gate (bounded, one at a time near the memory budget). */
  readonly queries: GatedQueryService;
  /** This daemon's own shards (what it answers a cluster's queries from). */
  readonly localEngine: QueryEngine;
  /** Into this daemon's shard actors (in a cluster: what the shard consumers store through). */
  private readonly localSink: ActorShardSink;
  private readonly detectorRefs: ActorRef[] = [];
  /** Detection feeds from the cluster on their way to this daemon's detectors, and those dropped for want of room. */
  private feedsInFlight = 0;
  feedsDropped = 0;
  /** Resends from protocols without sequence numbers (Loki push, OTLP, syslog) are recognised here. */
  readonly contentDedup = new ContentDedup();
  /** The push doors' path into storage: bodies parsed on parse threads, numbered, deduplicated, written. */
  readonly ingestor: Ingestor;
  /** What the batch door saw of each numbered source (the shards know the rest). */
  readonly ledger = new SourceLedger();
  private http: FastifyInstance | undefined;
  private address = '';
  private grpc: Server | undefined;
  private grpcPort = 0;
  private grpcHost = '';
  private syslogListener: SyslogListener | undefined;
  private readonly collectorRefs: ActorRef[] = [];
  /** Anomaly detection: the flagged services, the recent events, subscriptions (undefined when off). */
  anomalies: AnomalyMonitor | undefined;
  /** The anomaly webhooks, in the order configured (their delivery counters). */
  readonly webhooks: WebhookNotifier[] = [];
  /** The daemon's own log (set by start). */
  private log: NonNullable<DaemonOptions['log']> = () => {};
  /** When the daemon started (ms since the epoch). */
  readonly startedAt = Date.now();
  /** What GET /metrics serves; the programmatic API can read it or add its own. */
  readonly metrics = new Registry();

  private constructor(
    readonly system: ActorSystem,
    private readonly refs: ActorRef[],
    writable: Record<string, ActorRef>,
    readonly dataDir: string,
    queryResultBytes: number,
    private readonly parser: Parser,
    ingestLimits: IngestLimits,
    /** What the start found of the previous run and repaired. */
    readonly recovery: RecoverySummary,
    private readonly cluster: ClusterParts | undefined,
    private readonly spawnShard: (name: string) => Promise<ActorRef>,
    arrivals: ArrivalSignal,
    /** Reads resident memory against the budget; the doors and the query gate slow down near it. */
    readonly memory: MemoryGovernor,
    queryGate: QueryGate,
  ) {
    this.localSink = new ActorShardSink(system, writable);
    this.localEngine = new QueryEngine(system, () => this.refs, { maxBytes: queryResultBytes }, arrivals);
    if (cluster) {
      // The doors publish to the shards' streams; whoever owns a shard stores it.
      this.writer = new ShardedWriter(new TransportSink(new JetStreamTransport({ servers: [] }, cluster.nc)), cluster.config.shards);
      this.engine = new ClusterQueryEngine(cluster.nc, () => this.clusterView(), { maxBytes: queryResultBytes });
    } else {
      this.writer = new ShardedWriter(this.localSink, Object.keys(writable));
      this.engine = this.localEngine;
    }
    this.ingestor = new Ingestor(this.writer, parser, this.contentDedup, ingestLimits, memory);
    this.queries = new GatedQueryService(this.engine, queryGate);
  }

  static async start(options: DaemonOptions = {}): Promise<Daemon> {
    const dataDir = resolve(options.dataDir ?? 'data');
    const log = options.log ?? (() => {});
    const shardsDir = join(dataDir, 'shards');
    try {
      mkdirSync(shardsDir, { recursive: true });
    } catch (err) {
      throw new TributaryError(
        'E_STORAGE_UNWRITABLE',
        `data directory ${dataDir} cannot be created: ${(err as Error).message}`,
        { path: dataDir },
        { cause: err },
      );
    }
    const tokens = new TokenSet(options.auth?.tokens ?? []);
    if (tokens.enabled && options.syslog && !options.syslog.tls?.ca) {
      throw new TributaryError(
        'E_CONFIG_INVALID',
        'syslog has no place for a bearer token: with auth tokens, give syslog.tls with a ca (senders present certificates) or turn syslog off',
        { key: 'syslog' },
      );
    }
    // Before anything in the directory changes: a format newer than this build is left as it is.
    const format = checkDataFormat(dataDir, readdirSync(shardsDir).length > 0);
    const mark = takeCleanStopMark(dataDir);
    log('info', format.line);
    const cluster = options.cluster ? await joinWhileAnswering(dataDir, options.cluster, options.http, log) : undefined;
    const workers = options.workers ?? Math.max(1, availableParallelism());
    // In a cluster the shard's stream keeps every batch until it is archived: an in-process replica would add nothing.
    const replicas = cluster ? 0 : (options.replicas ?? (workers >= 2 ? 1 : 0));
    // In a cluster, shards open as their leases are taken; alone, the first `active` take the writes.
    const active = cluster ? 0 : (options.shards ?? workers);
    // In a cluster a local shard is a copy of the archive, opened (and checked against it) when its lease is taken.
    removeLeftovers(shardsDir, readdirSync(shardsDir));
    const existing = cluster ? [] : readdirSync(shardsDir).filter((n) => SHARD_NAME.test(n));
    const names = new Set([...existing, ...Array.from({ length: active }, (_, i) => `shard-${i}`)]);
    const parseThreads = options.parseThreads ?? 1;
    // A member may end up owning every shard of the cluster (the others down): the plan holds for that.
    const planned = cluster ? Math.max(names.size, cluster.config.shards.length) : names.size;
    const memory = planMemory(options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET, { shards: planned, replicas, workers, parseThreads });
    const system = await ActorSystem.start({ workers, resourceLimits: memory.actorThread, deadLetterPath: join(dataDir, 'dead-letters.ndjson') }).catch(
      async (err: unknown) => {
        await cluster?.nc.close();
        throw err;
      },
    );
    let daemon: Daemon | undefined;
    try {
      system.subscribe((e) => {
        if (e.type === '@log') log(e.level === 'debug' ? 'info' : e.level, e.message);
        else if (e.type === '@actor.failed') log('warn', `${e.actor.name} failed: ${e.error.message}`, { actor: e.actor.name, error: e.error });
        else if (e.type === '@actor.restarted')
          log('info', `${e.actor.name} restarted after ${e.downMs.toFixed(0)} ms`, { actor: e.actor.name, downMs: e.downMs });
        else if (e.type === '@supervisor.escalated')
          log('error', `supervisor ${e.supervisor} gave up: ${e.error.message}`, { supervisor: e.supervisor, error: e.error });
      });
      const detectors: ActorRef[] = [];
      if (options.anomaly !== false) {
        for (let i = 0; i < (options.anomaly?.detectors ?? workers); i++) {
          detectors.push(
            await system.spawn({
              name: `detector-${i}`,
              behaviour: { module: new URL('../anomaly/detector-actor.js', import.meta.url), export: 'detectorActor' },
              args: { rule: options.anomaly?.rule, services: options.anomaly?.services } satisfies DetectorArgs,
              replicas: workers > 1 ? 1 : 0,
            }),
          );
        }
      }
      // Shards bump it as they store; live tails wait on it.
      const arrivals = new ArrivalSignal();
      const spawnShard = (name: string) =>
        system.spawn({
          name,
          behaviour: { module: new URL('../shard/shard-actor.js', import.meta.url), export: 'shardActor' },
          args: {
            ...memory.shard,
            sealThreadLimits: memory.sealThread,
            ...options.shard,
            dir: join(shardsDir, name),
            arrivals: arrivals.shared,
            // In a cluster a service's entries spread over members: detection is fed across NATS instead (see clusterDetection).
            detectors: cluster ? [] : detectors.map((d) => d.id),
            detectOn: (options.anomaly && options.anomaly.detectOn) || 'append',
          },
          replicas,
        });
      const refs: ActorRef[] = [];
      const writable: Record<string, ActorRef> = {};
      for (const name of [...names].sort(byShardNumber)) {
        const ref = await spawnShard(name);
        refs.push(ref);
        if (cluster || Number(SHARD_NAME.exec(name)![1]) < active) writable[name] = ref;
      }
      const reports = await Promise.all(
        refs.map(async (r) => ({ name: r.name, report: await system.ask<RecoveryReport | null>(r, { op: 'recovery' }).catch(() => null) })),
      );
      const recovery = summarize(mark, reports);
      const { shards: perShard, ...totals } = recovery;
      log(recovery.previousRun && !recovery.cleanStop ? 'warn' : 'info', describeRecovery(recovery), {
        recovery: { ...totals, shards: perShard.map((s) => ({ name: s.name, ...s.report })) },
      });
      const parser = parseThreads > 0 ? poolParser({ threads: parseThreads, resourceLimits: memory.parseThread }) : inlineParser;
      const governor = new MemoryGovernor({ budgetBytes: memory.budgetBytes, readRss: options.residentMemory }).start();
      const queryGate = new QueryGate({ ...options.queries, memory: governor });
      daemon = new Daemon(
        system,
        refs,
        writable,
        dataDir,
        memory.queryResultBytes,
        parser,
        options.ingest ?? {},
        recovery,
        cluster,
        spawnShard,
        arrivals,
        governor,
        queryGate,
      );
      daemon.detectorRefs.push(...detectors);
      daemon.log = log;
      const d = daemon;
      if (detectors.length > 0) {
        const monitor = (daemon.anomalies = new AnomalyMonitor(system, detectors));
        for (const w of (options.anomaly && options.anomaly.webhooks) || []) {
          daemon.webhooks.push(new WebhookNotifier(monitor, w, (level, message) => log(level, message)));
        }
        registerAnomalyMetrics(daemon.metrics, monitor, daemon.webhooks);
      }
      const ui = options.http?.ui ?? true;
      daemon.http = await createHttpServer(
        { engine: daemon.queries, labelValues: (name, from, to) => d.labelValues(name, from, to) },
        { tls: options.http?.tls, tokens, onDenied: ui ? uiSignIn : undefined, log: (level, message) => log(level, message) },
      );
      if (ui) registerUi(daemon.http, tokens, options.http?.tls !== undefined);
      registerDaemonMetrics(daemon.metrics, {
        system,
        engine: daemon.engine,
        shards: () => d.refs,
        doors: () => d.ingestor.stats(),
        memory: () => d.memory.stats(),
        queries: () => ({ ...d.queries.gate.load, refused: d.queries.gate.refused }),
      });
      registerMetricsRoute(daemon.http, daemon.metrics);
      registerHealthRoutes(daemon.http, system, () => d.refs.map((r) => r.name));
      registerClusterRoutes(daemon.http, () => d.clusterMember);
      registerStatusRoute(daemon.http, {
        version: VERSION,
        startedAt: daemon.startedAt,
        recovery,
        actors: () => system.stats(),
        doors: () => d.ingestor.stats(),
        flagged: () => (d.anomalies ? d.flaggedHere() : null),
        memory: () => d.memory.stats(),
        shards: () =>
          Promise.all(
            d.refs.map(async (r) => ({
              name: r.name,
              stats: await system.ask<ShardStatsAnswer>(r, { op: 'stats' }, { timeoutMs: 2000 }).catch(() => null),
            })),
          ),
      });
      if (daemon.anomalies) {
        const engine = daemon.engine;
        const source = cluster && engine instanceof ClusterQueryEngine ? new ClusterAnomalySource(cluster.nc, engine) : localAnomalySource(daemon.anomalies);
        registerAnomalyApi(daemon.http, source);
      }
      await registerIngestApi(daemon.http, { ingestor: daemon.ingestor, sources: (prefix, limit) => d.sources(prefix, limit) }, options.ingest);
      daemon.address = await daemon.http.listen({ host: options.http?.host ?? '127.0.0.1', port: options.http?.port ?? 3100 });
      if (options.grpc !== false) {
        daemon.grpc = createGrpcServer({ engine: daemon.queries, labelValues: (name, from, to) => d.labelValues(name, from, to) }, { tokens });
        addIngestService(daemon.grpc, { ingestor: daemon.ingestor, writer: daemon.writer, ledger: daemon.ledger, memory: daemon.memory });
        daemon.grpcHost = options.grpc?.host ?? '127.0.0.1';
        daemon.grpcPort = await listenGrpc(daemon.grpc, daemon.grpcHost, options.grpc?.port ?? 9095, options.grpc?.tls);
      }
      const hostedGrpc = options.auth?.tokens[0] ? { token: options.auth.tokens[0] } : {};
      for (const [i, c] of (options.collectors ?? []).entries()) {
        if (options.grpc && options.grpc.tls && !c.aggregators && !c.aggregatorsFile) {
          throw new TributaryError(
            'E_CONFIG_INVALID',
            'hosted collectors send to this daemon over plain gRPC: with grpc.tls, give them aggregators and grpc settings',
            {
              key: `collectors.${i}`,
            },
          );
        }
        if (!daemon.grpc && !c.aggregators && !c.aggregatorsFile) {
          throw new TributaryError('E_CONFIG_INVALID', 'a hosted collector sends over gRPC: turn gRPC on or give it aggregators', {});
        }
        const aggregators = c.aggregators ?? (c.aggregatorsFile ? undefined : [daemon.grpcAddress]);
        daemon.collectorRefs.push(
          await system.spawn({
            name: `collector-${i}`,
            behaviour: { module: new URL('../collector/collector-actor.js', import.meta.url), export: 'collectorActor' },
            // Sending to this daemon: with its token (and its CA when gRPC speaks TLS).
            args: { grpc: c.aggregators ? undefined : hostedGrpc, ...c, aggregators } satisfies CollectorActorArgs,
          }),
        );
      }
      if (cluster) await daemon.joinMembers(cluster, options.cluster!);
      if (options.syslog) {
        const maxLine = options.ingest?.maxLineBytes;
        daemon.syslogListener = await SyslogListener.listen(daemon.ingestor, {
          ...(maxLine !== undefined ? { maxMessageBytes: maxLine + 2048 } : {}),
          ...options.syslog,
          log,
        });
      }
      log(
        'info',
        `tributary: ${refs.length} shards (${active} taking writes, ${replicas} replica each) on ${system.workers} worker threads, data in ${dataDir}, HTTP on ${daemon.address}${daemon.grpc ? `, gRPC on ${daemon.grpcAddress}` : ''}${daemon.syslogListener ? `, syslog on tcp ${daemon.syslogListener.port}` : ''}, ` +
          `memory budget ${(memory.budgetBytes / 2 ** 20).toFixed(0)} MiB (memtables ${(memory.shard.maxMemtableBytes / 2 ** 20).toFixed(0)} MiB x2 per shard, reserved)`,
      );
      return daemon;
    } catch (err) {
      // Whatever had started (a server bound before another's port was taken) stops with it.
      await daemon?.http?.close();
      if (daemon?.grpc) await closeGrpc(daemon.grpc);
      await daemon?.syslogListener?.close();
      await daemon?.parser.close();
      daemon?.memory.stop();
      for (const w of daemon?.webhooks ?? []) await w.close(0);
      await cluster?.member?.leave().catch(() => {});
      await system.stop();
      await cluster?.nc.close();
      throw err;
    }
  }

  /** The HTTP server's base URL, e.g. http://127.0.0.1:3100. */
  get url(): string {
    return this.address;
  }

  /** The HTTP routes (method, URL pattern): every one is behind the tokens when tokens are set, but the probes. */
  get httpRoutes(): readonly { method: string; url: string }[] {
    return this.http ? serverRoutes(this.http) : [];
  }

  /** host:port of the gRPC service ('' when it is off). */
  get grpcAddress(): string {
    return this.grpc ? `${this.grpcHost}:${this.grpcPort}` : '';
  }

  /** The syslog listener (undefined when syslog is off). */
  get syslog(): SyslogListener | undefined {
    return this.syslogListener;
  }

  get shards(): readonly ActorRef[] {
    return this.refs;
  }

  /**
   * Stores entries that came without sequence numbers: they are numbered
   * here (the writer's source and sequence), and a client's resend of
   * identical entries within the content window is dropped. Resolves once
   * every shard holds its share durably; only then are the entries
   * remembered, so the retry of a failed write is stored.
   */
  async ingest(entries: readonly LogEntry[]): Promise<{ accepted: number; duplicates: number }> {
    const admission = this.contentDedup.admit(entries);
    if (admission.fresh.length > 0) await this.writer.write(admission.fresh);
    this.contentDedup.remember(admission);
    return { accepted: admission.fresh.length, duplicates: admission.duplicates };
  }

  /**
   * Loss accounting: per numbered source, what the door received and
   * answered, and what the shards store, dropped as repeats, and never got.
   */
  async sources(prefix = '', limit = 1000): Promise<SourcesView> {
    const unanswered: string[] = [];
    const reports = await Promise.all(
      this.refs.map((r) =>
        this.system.ask<SourceReport[]>(r, { op: 'sources', prefix, limit }).catch((err: Error) => {
          unanswered.push(`${r.name}: ${err.message}`);
          return [] as SourceReport[];
        }),
      ),
    );
    return {
      sources: accountSources(this.ledger, reports.flat(), prefix, limit),
      unanswered,
      daemonSource: this.writer.sourceId,
      doors: this.ingestor.stats(),
      evicted: this.ledger.evicted,
    };
  }

  /** The hosted collectors' counters, in the order they were configured. */
  async collectorStats(): Promise<CollectorStats[]> {
    return Promise.all(this.collectorRefs.map((r) => this.system.ask<CollectorStats>(r, { op: 'stats' })));
  }

  /** The hosted collectors' actor refs (to ask them, or to watch their restarts). */
  get collectors(): readonly ActorRef[] {
    return this.collectorRefs;
  }

  /** This daemon's membership of its cluster (undefined when it runs alone). */
  get clusterMember(): ClusterMember | undefined {
    return this.cluster?.member;
  }

  /**
   * Joins the members once the doors listen (the heartbeat carries their
   * addresses): answers the cluster's queries from the local shards, relays
   * detection feeds, and takes leases from the first tick on.
   */
  private async joinMembers(cluster: ClusterParts, options: NonNullable<DaemonOptions['cluster']>): Promise<void> {
    const host = clusterHost({
      system: this.system,
      dir: join(this.dataDir, 'shards'),
      refs: this.refs,
      sink: this.localSink,
      spawnShard: this.spawnShard,
      stored: (_shard, bytes) => this.publishFeeds(cluster, bytes),
      log: this.log,
    });
    const memberOptions = { ...options, memberId: cluster.memberId, url: this.url, grpc: this.grpcAddress };
    cluster.member = await cluster.untilReady('register in', () => ClusterMember.join(cluster.nc, cluster, host, memberOptions));
    registerClusterMetrics(this.metrics, cluster.member, () => this.feedsDropped);
    const monitor = this.anomalies;
    const member = cluster.member;
    const queries = serveClusterQueries(cluster.nc, cluster.memberId, {
      coverage: () => ({ serving: member.serving, standingIn: member.standingIn }),
      engineFor: (shards) => new QueryEngine(this.system, () => this.refs.filter((r) => shards.includes(r.name)), this.localEngine.defaults),
      labelValues: (name, shards, from, to) => this.localLabelValues(name, from, to, shards),
      ...(monitor && {
        anomalies: (limit: number) => ({ current: monitor.current().filter((e) => this.watches(e.service)), history: monitor.history(limit) }),
      }),
    });
    const stopPublishing = monitor ? publishAnomalies(cluster.nc, monitor) : () => {};
    cluster.stopQueries = () => (queries.unsubscribe(), stopPublishing());
    if (this.detectorRefs.length > 0) cluster.stopFeeds = this.relayFeeds(cluster);
    await cluster.member.run();
  }

  /**
   * Detection across the cluster: a service's entries are spread over
   * shards on every member, so each stored batch's feed (service, level,
   * timestamp per entry) is published to the service's detector slot, and
   * the owner of the slot's shard feeds its detectors. Every service has one
   * window in the cluster, wherever its entries are stored.
   */
  private publishFeeds(cluster: ClusterParts, bytes: Uint8Array): void {
    if (this.detectorRefs.length === 0) return;
    for (const [slot, feed] of feedsOf(BatchReader.open(bytes), cluster.config.shards.length)) cluster.nc.publish(natsNames.detect(slot), feed);
  }

  private relayFeeds(cluster: ClusterParts): () => void {
    const sub = cluster.nc.subscribe(natsNames.detectAll, {
      callback: (err, msg) => {
        if (err) return;
        const slot = Number(msg.subject.slice(msg.subject.lastIndexOf('.') + 1));
        if (!cluster.member?.ownsShard(cluster.config.shards[slot]!)) return; // not ours (or no longer)
        // Feeds come at the network's pace; the detectors' mailboxes are shared with the shards'. Past a bound,
        // a feed is dropped and counted: detection sees fewer entries, storage is never held back by it.
        if (this.feedsInFlight >= MAX_FEEDS_IN_FLIGHT) {
          this.feedsDropped++;
          if (this.feedsDropped === 1 || this.feedsDropped % 1000 === 0) {
            this.log('warn', `detection feeds dropped: ${this.feedsDropped} so far (detectors behind)`, { feedsDropped: this.feedsDropped });
          }
          return;
        }
        this.feedsInFlight++;
        this.system
          .send(this.detectorRefs[slot % this.detectorRefs.length]!, new Uint8Array(msg.data))
          .catch(() => this.feedsDropped++)
          .finally(() => this.feedsInFlight--);
      },
    });
    return () => sub.unsubscribe();
  }

  /** Services flagged by this member's detectors that it watches now (in a cluster: its slots). */
  flaggedHere(): string[] {
    return (this.anomalies?.current() ?? []).map((e) => e.service).filter((s) => this.watches(s));
  }

  /** Whether this daemon's detectors watch `service` now: always alone; in a cluster, while it owns the service's detector slot. */
  private watches(service: string): boolean {
    const cluster = this.cluster;
    if (!cluster?.member) return true;
    return cluster.member.ownsShard(cluster.config.shards[detectorFor(service, cluster.config.shards.length)]!);
  }

  private clusterView(): ClusterView {
    const member = this.cluster?.member;
    return { shards: this.cluster?.config.shards ?? [], live: member?.liveMembers ?? [], owners: member?.view().owners, serving: member?.servingView };
  }

  async labelValues(name: string, from?: bigint, to?: bigint): Promise<string[]> {
    if (this.engine instanceof ClusterQueryEngine) return this.engine.labelValues(name, from, to);
    return this.localLabelValues(name, from, to);
  }

  /** Label values in this daemon's own shards (or those of them named). */
  async localLabelValues(name: string, from?: bigint, to?: bigint, shards?: readonly string[]): Promise<string[]> {
    const refs = shards ? this.refs.filter((r) => shards.includes(r.name)) : this.refs;
    const all = await Promise.all(refs.map((r) => this.system.ask<string[]>(r, { op: 'labelValues', name, from, to }).catch(() => [] as string[])));
    return [...new Set(all.flat())].sort();
  }

  /** Stops accepting requests, then stops the actors (shards flush and close their stores). */
  async stop(): Promise<void> {
    // Hosted collectors first, while the doors they send through are still open: their batches in flight land.
    for (const r of this.collectorRefs) await this.system.stopActor(r).catch(() => {});
    await this.syslogListener?.close();
    await this.http?.close();
    if (this.grpc) await closeGrpc(this.grpc);
    await this.parser.close();
    // Consumers drain into the shards and leases are handed back while the shard actors still run.
    if (this.cluster?.member) {
      // NATS may be gone: the stop must not wait for it. Leases not handed back age out a lease later.
      await withTimeout(this.cluster.member.leave(), LEAVE_TIMEOUT_MS, 'leaving the cluster').catch((err: Error) =>
        this.log('warn', `leaving the cluster: ${err.message}`),
      );
    }
    this.cluster?.stopQueries?.();
    this.cluster?.stopFeeds?.();
    await this.system.stop();
    this.memory.stop();
    await this.cluster?.nc.close().catch(() => {});
    // Every shard has synced and closed its store: the next start need not wonder.
    markCleanStop(this.dataDir);
    // After the detectors have stopped: their last events are queued, and get the webhooks' grace to go out.
    this.anomalies?.close();
    await Promise.all(this.webhooks.map((w) => w.close()));
  }
}
