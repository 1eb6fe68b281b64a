import { join, resolve } from 'node:path';
import type { DaemonOptions } from '../daemon/daemon.js';
import type { FleetOptions } from '../producers/fleet.js';
import { readTls } from '../security/tls.js';
import { readTokensFile } from '../security/tokens.js';
import type { ResolvedConfig } from './load.js';

const NS_PER_MS = 1_000_000n;

/** The daemon's options from a validated configuration: files (tokens, certificates) are read here, at start. */
export function daemonOptions(c: ResolvedConfig): DaemonOptions {
  const tokens = [...c.auth.tokens, ...(c.auth.tokensFile ? readTokensFile(c.auth.tokensFile) : [])];
  const dataDir = resolve(c.dataDir);
  const a = c.anomaly;
  return {
    dataDir,
    workers: c.workers,
    shards: c.shards,
    replicas: c.replicas,
    memoryBudgetBytes: c.memory,
    parseThreads: c.parseThreads,
    http: { host: c.http.host, port: c.http.port, ui: c.http.ui, ...(c.http.tls ? { tls: readTls(c.http.tls, 'http.tls') } : {}) },
    grpc: c.grpc.enabled ? { host: c.grpc.host, port: c.grpc.port, ...(c.grpc.tls ? { tls: readTls(c.grpc.tls, 'grpc.tls') } : {}) } : false,
    syslog: c.syslog.enabled
      ? {
          host: c.syslog.host,
          port: c.syslog.port,
          maxConnections: c.syslog.maxConnections,
          ...(c.syslog.tls ? { tls: readTls(c.syslog.tls, 'syslog.tls') } : {}),
        }
      : false,
    ...(tokens.length > 0 ? { auth: { tokens } } : {}),
    ingest: {
      bodyLimit: c.limits.maxBodyBytes,
      maxInflatedBytes: c.limits.maxInflatedBytes,
      maxLineBytes: c.limits.maxLineBytes,
      maxConcurrent: c.limits.maxConcurrent,
      maxInFlightBytes: c.limits.maxInFlightBytes,
      maxFutureNs: BigInt(c.limits.maxFuture) * NS_PER_MS,
      maxLabelsPerStream: c.limits.maxLabelsPerStream,
      maxLabelNameBytes: c.limits.maxLabelNameBytes,
      maxLabelValueBytes: c.limits.maxLabelValueBytes,
      maxMetadataBytes: c.limits.maxMetadataBytes,
    },
    shard: {
      groupCommitMs: c.storage.groupCommit,
      sealAgeMs: c.storage.sealAge,
      dedupWindowMs: c.storage.dedupWindow,
      ...(c.storage.retention.maxAge > 0 || c.storage.retention.maxBytes > 0
        ? {
            retention: {
              ...(c.storage.retention.maxAge > 0 ? { maxAgeMs: c.storage.retention.maxAge } : {}),
              ...(c.storage.retention.maxBytes > 0 ? { maxBytes: c.storage.retention.maxBytes } : {}),
            },
          }
        : {}),
    },
    anomaly: a.enabled
      ? {
          rule: { size: a.window, threshold: a.threshold, hysteresis: a.hysteresis },
          services: Object.fromEntries(
            Object.entries(a.services).map(([name, r]) => [name, { size: r.window, threshold: r.threshold, hysteresis: r.hysteresis }]),
          ),
          detectors: a.detectors,
          detectOn: a.detectOn,
          webhooks: a.webhooks.map((w) => ({
            url: w.url,
            headers: w.headers,
            timeoutMs: w.timeout,
            maxAttempts: w.maxAttempts,
            maxQueued: w.maxQueued,
            maxBatch: w.maxBatch,
          })),
        }
      : false,
    ...(c.cluster.servers.length > 0
      ? {
          cluster: {
            nats: {
              servers: c.cluster.servers,
              token: c.cluster.token,
              user: c.cluster.user,
              pass: c.cluster.password,
              ...(c.cluster.tls ? { tls: { caFile: c.cluster.tls.ca, certFile: c.cluster.tls.cert, keyFile: c.cluster.tls.key } } : {}),
            },
            memberId: c.cluster.memberId,
            shards: c.cluster.shards,
            streamReplicas: c.cluster.streamReplicas,
            streamMaxBytes: c.cluster.streamMaxBytes,
            leaseMs: c.cluster.lease,
            checkpointMs: c.cluster.checkpoint,
          },
        }
      : {}),
    collectors: c.collectors.map((col, i) => ({
      include: col.include,
      ...(col.exclude ? { exclude: col.exclude } : {}),
      format:
        typeof col.format === 'string'
          ? { type: col.format }
          : { type: 'regex' as const, pattern: col.format.pattern, keepUnmatched: col.format.keepUnmatched },
      ...(col.labels ? { labels: col.labels } : {}),
      stateDir: resolve(col.stateDir ?? join(dataDir, `collector-${i}`)),
      ...(col.aggregators ? { aggregators: col.aggregators } : {}),
      startAt: col.startAt,
      buffer: { maxBytes: col.buffer.maxBytes, policy: col.buffer.policy },
    })),
  };
}

/** How many services take turns failing in the demo (each again every that many bursts). */
const DEMO_FAILING_SERVICES = 4;

/** The demo fleet: `services` services on `servers` servers in `regions` regions; one service at a time fails now and then. */
export function demoFleet(c: ResolvedConfig): FleetOptions {
  const d = c.demo;
  const first = Math.min(d.errorBurst.every, 20_000);
  const turns = Math.min(DEMO_FAILING_SERVICES, d.services);
  const bursts = Array.from({ length: turns }, (_, k) => ({
    services: [`svc-${(k * 5) % d.services}`],
    atMs: first + k * d.errorBurst.every,
    everyMs: turns * d.errorBurst.every,
    forMs: d.errorBurst.for,
    errorRate: d.errorBurst.errorRate,
  }));
  // A quiet baseline (3 ERROR per 1,000) so that only the bursts cross the default threshold (10 of 1,000).
  return { servers: d.servers, regions: d.regions, services: d.services, rate: d.rate, levels: { error: 0.003 }, errorBursts: bursts };
}
