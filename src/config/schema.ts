import { z } from 'zod';
import { bytes, duration } from './units.js';

/**
 * The daemon's configuration: one schema, validated at start. Every key has
 * a default, so an empty file (or none) is a working configuration; an
 * unknown key or a bad value stops the start with its path and the reason.
 * Sizes take units ("512MiB"), durations too ("7d"); `auto` is worked out
 * from the machine at start (`tributary config print` shows what it became).
 */

const port = () => z.number().int().min(0).max(65535);
const count = () => z.number().int().min(1);
const auto = () => z.union([z.literal('auto'), count()]).default('auto');
const host = () => z.string().min(1);

const tls = z.strictObject({
  /** PEM certificate chain. */
  cert: z.string().min(1),
  /** PEM private key. */
  key: z.string().min(1),
  /** PEM CA bundle: clients must present a certificate it signed (mutual TLS). */
  ca: z.string().min(1).optional(),
});

const windowRule = z.strictObject({
  /** N: entries in a service's window. */
  window: z.number().int().min(1).max(1_000_000),
  /** T: flagged when the window holds more than T ERROR entries. */
  threshold: z.number().int().min(0),
  /** Cleared only at T - hysteresis or below. */
  hysteresis: z.number().int().min(0).default(0),
});

const webhook = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string(), z.string()).default({}),
  timeout: duration().default(5000),
  maxAttempts: count().default(8),
  maxQueued: count().default(10_000),
  maxBatch: count().default(100),
});

const collector = z.strictObject({
  /** Globs of files to follow. */
  include: z.array(z.string().min(1)).min(1),
  exclude: z.array(z.string().min(1)).optional(),
  format: z.union([z.enum(['ndjson', 'logfmt']), z.strictObject({ pattern: z.string().min(1), keepUnmatched: z.boolean().default(false) })]).default('ndjson'),
  /** service, server, region: for lines that name none (default: this host's name as the server); any other label is added to every entry's stream. */
  labels: z
    .record(
      z
        .string()
        .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a label name ([a-zA-Z_][a-zA-Z0-9_]*)')
        .refine((n) => !n.startsWith('__'), 'names starting with __ are reserved'),
      z.string(),
    )
    .optional(),
  /** Checkpoint and disk buffer (default <dataDir>/collector-<i>). */
  stateDir: z.string().min(1).optional(),
  /** Send elsewhere than this daemon's gRPC door. */
  aggregators: z.array(z.string().min(1)).min(1).optional(),
  startAt: z.enum(['beginning', 'end']).default('beginning'),
  buffer: z.strictObject({ maxBytes: bytes().default(1024 ** 3), policy: z.enum(['block', 'drop_oldest', 'drop_newest']).default('block') }).prefault({}),
});

export const configSchema = z.strictObject({
  /** Shards' data, the collectors' state, dead letters. */
  dataDir: z.string().min(1).default('./data'),
  /** Worker threads for actors (auto: one per core). */
  workers: auto(),
  /** Shards taking writes (auto: one per worker). Shards on disk beyond it are still queried. */
  shards: auto(),
  /** Replicas per shard (auto: 1 with two or more workers, else 0). */
  replicas: z.union([z.literal('auto'), z.number().int().min(0).max(4)]).default('auto'),
  /** Resident memory the daemon plans for: memtables, page caches, replica tails and thread heaps are sized from it. */
  memory: bytes().default(512 * 2 ** 20),
  /** Threads parsing pushed bodies (0: on the main thread). */
  parseThreads: z.number().int().min(0).max(64).default(1),
  http: z
    .strictObject({
      host: host().default('127.0.0.1'),
      port: port().default(3100),
      tls: tls.optional(),
      /** The web UI at / (the query API stays). */
      ui: z.boolean().default(true),
    })
    .prefault({}),
  grpc: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: host().default('127.0.0.1'),
      port: port().default(9095),
      tls: tls.optional(),
    })
    .prefault({}),
  syslog: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: host().default('127.0.0.1'),
      port: port().default(1514),
      maxConnections: count().default(1024),
      /** Syslog over TLS (RFC 5425); with a ca, senders present certificates (required when auth tokens are set). */
      tls: tls.optional(),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** Bearer tokens accepted on every door, the query API and the UI. None: no authentication (listen on loopback only). */
      tokens: z.array(z.string().min(16, 'a token needs at least 16 characters')).default([]),
      /** A file with one token per line (# comments), read at start. */
      tokensFile: z.string().min(1).optional(),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest push body (HTTP 413 beyond). */
      maxBodyBytes: bytes().default(16 * 2 ** 20),
      /** Largest body after gzip inflation. */
      maxInflatedBytes: bytes().default(64 * 2 ** 20),
      /** Longest message; longer lines are rejected one by one. */
      maxLineBytes: bytes().default(256 * 2 ** 10),
      /** Push requests parsed or written at once (HTTP 429 beyond). */
      maxConcurrent: count().default(64),
      /** Push body bytes parsed or written at once (HTTP 429 beyond). */
      maxInFlightBytes: bytes().default(64 * 2 ** 20),
      /** How far ahead of the clock a timestamp may be. */
      maxFuture: duration().default(86400e3),
      /** Stream labels beyond service, server and region one entry's stream may have (a 4xx naming this limit beyond). */
      maxLabelsPerStream: count().default(32),
      /** Longest label or metadata name (as Loki's max_label_name_length). */
      maxLabelNameBytes: bytes().default(1024),
      /** Longest label value (as Loki's max_label_value_length). */
      maxLabelValueBytes: bytes().default(2048),
      /** Largest structured metadata of one entry, names and values together. */
      maxMetadataBytes: bytes().default(64 * 2 ** 10),
    })
    .prefault({}),
  storage: z
    .strictObject({
      /** Group commit: fdatasync at most this long after the first unsynced append. */
      groupCommit: duration().default(2),
      /** Seal the memtable into a block when its oldest entry is this old. */
      sealAge: duration().default(60_000),
      /** Sources idle this long are forgotten by deduplication. */
      dedupWindow: duration().default(3600e3),
      retention: z
        .strictObject({
          /** Whole blocks older than this are removed (0: kept forever). */
          maxAge: duration().default(0),
          /** Then the oldest blocks beyond this size per shard (0: no limit). */
          maxBytes: bytes().default(0),
        })
        .prefault({}),
    })
    .prefault({}),
  anomaly: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** N: a service's window holds its last N entries. */
      window: z.number().int().min(1).max(1_000_000).default(1000),
      /** T: the service is flagged while its window holds more than T ERROR entries. */
      threshold: z.number().int().min(0).default(10),
      hysteresis: z.number().int().min(0).default(0),
      /** Rules for particular services. */
      services: z.record(z.string().min(1), windowRule).default({}),
      /** Detector actors (auto: one per worker). */
      detectors: auto(),
      /** Count entries as the shard takes them (append) or once they are durable (commit). */
      detectOn: z.enum(['append', 'commit']).default('append'),
      webhooks: z.array(webhook).default([]),
    })
    .prefault({}),
  /** Collectors hosted on the worker threads, tailing this host's files into the daemon. */
  collectors: z.array(collector).default([]),
  /** Across hosts: members of a cluster on NATS JetStream (off while `servers` is empty). */
  cluster: z
    .strictObject({
      /** NATS servers, e.g. ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]. */
      servers: z.array(z.string().regex(/^(nats|tls):\/\/[^/\s]+$/, 'expected nats://host:port')).default([]),
      /** This member's id (default: made once and kept in the data directory). */
      memberId: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/)
        .optional(),
      /** Shards of a new cluster (an existing cluster keeps its own). */
      shards: z.number().int().min(1).max(1024).default(12),
      /** JetStream replicas of the streams and buckets (3 survives a NATS node; 1 for a single-node NATS). */
      streamReplicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(3),
      /** Bytes a shard's stream may hold unstored; beyond, publishes are refused and edges keep their batches. */
      streamMaxBytes: bytes().default(2 ** 30),
      /** A member that stops renewing loses its shards after this long. */
      lease: duration().default(5000),
      /** How often an owner archives its shards to JetStream (its stream is trimmed after): a new owner replays about this much. */
      checkpoint: duration().default(10_000),
      /** NATS credentials, when the servers ask for them. */
      token: z.string().min(1).optional(),
      user: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
      /** TLS to NATS: the CA that signed the servers, and a client certificate for mutual TLS. */
      tls: z.strictObject({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).optional(),
    })
    .prefault({}),
  /** `tributary demo`: a simulated fleet writing log files that hosted collectors tail. */
  demo: z
    .strictObject({
      rate: count().default(5000),
      servers: z.number().int().min(1).max(100_000).default(1000),
      regions: z.number().int().min(1).max(1000).default(10),
      services: count().default(12),
      /** Every `every`, one service logs ERROR at this rate for `for`: the anomaly to see. */
      errorBurst: z
        .strictObject({ every: duration().default(60_000), for: duration().default(15_000), errorRate: z.number().min(0).max(1).default(0.5) })
        .prefault({}),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    })
    .prefault({}),
});

/** What a configuration file may say (every key optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** The configuration after validation and defaults (sizes in bytes, durations in ms; `auto` still unresolved). */
export type Config = z.output<typeof configSchema>;
