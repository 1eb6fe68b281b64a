import type { NatsConnection } from '@nats-io/nats-core';
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { TributaryError } from '../errors.js';
import { names } from './nats.js';
import { ShardArchive } from './shard-archive.js';

/**
 * The cluster layout this build makes and joins. 1 had work-queue streams
 * (the owner's disk held the only copy once a batch was stored); 2 keeps
 * every shard in the archive, its stream's tail until archived.
 */
const LAYOUT = 2;

/** The cluster's fixed shape, written once to NATS by the first daemon; every member and edge reads it. */
export interface ClusterConfig {
  readonly version: number;
  /** Every shard of the cluster: the ring edges route over, and one stream each. */
  readonly shards: string[];
  readonly virtualNodes: number;
  /** JetStream replicas of every stream and bucket. */
  readonly streamReplicas: number;
  readonly createdAt: string;
}

/** What a daemon asks of a cluster it may be the first to create (ignored, but for a warning, when it exists). */
export interface ClusterShape {
  /** Shards of a new cluster (default 12): more than members, so ownership spreads and moves a little at a time. */
  readonly shards?: number;
  /** JetStream replicas (default 3: a NATS node can fail without losing an acknowledged batch). */
  readonly streamReplicas?: number;
  /**
   * Bytes a shard's stream may hold that its owner has not stored yet
   * (default 1 GiB). When full, publishes are refused with E_OVERLOADED and
   * edges keep the batches (collectors on disk) until the owner catches up.
   */
  readonly streamMaxBytes?: number;
  /** How long a lease or heartbeat lives unrenewed (default 5 s): the longest a dead member's shards wait for a new owner. */
  readonly leaseMs?: number;
  /**
   * How often an owner archives its shards (default 10 s): seals what it
   * holds, uploads the new blocks and trims the stream. A new owner replays
   * about this much of the stream after restoring the archive.
   */
  readonly checkpointMs?: number;
}

/** The buckets a member works with. */
export interface ClusterBuckets {
  readonly members: KV;
  readonly leases: KV;
  readonly nodes: KV;
  /** Every shard's blocks and manifest. */
  readonly archive: ShardArchive;
}

/** A JetStream API call while founding or joining: see bootstrapCluster. */
const CREATE_TIMEOUT_MS = 3000;

/**
 * Joins (or founds) the cluster in NATS: the configuration is created if
 * absent (first writer wins, later daemons take what is there), then every
 * shard's stream and durable consumer, and the members, leases and nodes
 * buckets. Idempotent: every daemon runs it at every start.
 */
export async function bootstrapCluster(
  nc: NatsConnection,
  shape: ClusterShape,
  log: (message: string, level?: 'info' | 'warn') => void,
): Promise<{ config: ClusterConfig; buckets: ClusterBuckets }> {
  try {
    return await bootstrap(nc, shape, log);
  } catch (err) {
    // JetStream refusing the replica count is the configuration's doing: retrying cannot help.
    if (/not supported in non-clustered mode|insufficient resources/i.test((err as Error).message))
      throw new TributaryError(
        'E_CONFIG_INVALID',
        `JetStream cannot keep ${shape.streamReplicas ?? 3} replicas here (${(err as Error).message}): set cluster.streamReplicas to what the NATS cluster has nodes for`,
        { key: 'cluster.streamReplicas' },
        { cause: err },
      );
    throw err;
  }
}

/** Whether the NATS server this connection reached is part of a NATS cluster (its INFO names one). */
function natsClustered(nc: NatsConnection): boolean {
  const cluster = (nc.info as { cluster?: string } | undefined)?.cluster;
  return typeof cluster === 'string' && cluster !== '';
}

async function bootstrap(
  nc: NatsConnection,
  shape: ClusterShape,
  log: (message: string, level?: 'info' | 'warn') => void,
): Promise<{ config: ClusterConfig; buckets: ClusterBuckets }> {
  // Short: nats-server 2.9 can leave one of several concurrent creations of the same R=3 stream unanswered (members
  // starting together all create the cluster's streams). Every step is idempotent, and joinCluster tries again.
  const js = jetstream(nc, { timeout: CREATE_TIMEOUT_MS });
  const jsm = await jetstreamManager(nc, { timeout: CREATE_TIMEOUT_MS });
  // One nats-server on a laptop is not clustered: it keeps one replica of everything, so the cluster starts with R = 1 and says so.
  const clustered = natsClustered(nc);
  const asked = shape.streamReplicas ?? 3;
  const replicas = clustered ? asked : 1;
  if (!clustered && asked > 1)
    log(
      `JetStream here is not clustered: the cluster's streams and buckets keep 1 replica, not ${asked} (cluster.streamReplicas applies to a clustered JetStream); a NATS server lost takes what it holds with it`,
      'warn',
    );
  const kvm = new Kvm(js);
  const proposed: ClusterConfig = {
    version: LAYOUT,
    shards: Array.from({ length: shape.shards ?? 12 }, (_, i) => `shard-${i}`),
    virtualNodes: 128,
    streamReplicas: replicas,
    createdAt: new Date().toISOString(),
  };
  const clusterKv = await kvm.create(names.clusterBucket, { replicas, history: 1 });
  let config: ClusterConfig;
  try {
    await clusterKv.create(names.clusterKey, JSON.stringify(proposed));
    config = proposed;
    log(`founded the cluster: ${config.shards.length} shards, JetStream replicas ${replicas}`);
  } catch {
    const existing = await clusterKv.get(names.clusterKey);
    if (!existing || existing.operation !== 'PUT') throw new TributaryError('E_UNAVAILABLE', 'the cluster configuration in NATS could not be read', {});
    config = existing.json<ClusterConfig>();
    if (config.version !== LAYOUT)
      throw new TributaryError(
        'E_CONFIG_INVALID',
        `the cluster in this NATS account has layout ${config.version}, this build runs layout ${LAYOUT} (every shard archived in JetStream): start a new cluster (another NATS account, or delete the TRIBUTARY_* streams and tributary_* buckets)`,
        { key: 'cluster', layout: config.version },
      );
    if (shape.shards !== undefined && shape.shards !== config.shards.length) {
      log(`the cluster has ${config.shards.length} shards; cluster.shards = ${shape.shards} applies to a new cluster only`);
    }
  }
  const leaseMs = shape.leaseMs ?? 5000;
  const r = clustered ? config.streamReplicas : 1;
  // Each stream is a Raft group to form: created side by side, not one after another.
  await Promise.all([
    kvm.create(names.membersBucket, { replicas: r, history: 1, ttl: leaseMs }),
    kvm.create(names.leasesBucket, { replicas: r, history: 1, ttl: leaseMs }),
    kvm.create(names.nodesBucket, { replicas: r, history: 1 }),
    kvm.create(names.manifestsBucket, { replicas: r, history: 1 }),
    new Objm(js).create(names.blocksBucket, { replicas: r, storage: StorageType.File }),
    ...config.shards.map((shard) => ensureShardStream(jsm, shard, r, shape.streamMaxBytes ?? 1 << 30)),
  ]);
  // Membership works to the lease: an operation that has not answered in half a lease has failed (the next tick
  // tries again), so a NATS node's failover delays a takeover by the election, not by a long client timeout.
  const quick = new Kvm(jetstream(nc, { timeout: Math.max(500, leaseMs / 2) }));
  // Reads go to the stream's leader, not to any replica (direct get): a replica may answer with a heartbeat or lease
  // seconds old while it catches up under load. While a stream elects a leader, reads fail and the tick is skipped.
  const [members, leases, nodes] = await Promise.all([names.membersBucket, names.leasesBucket, names.nodesBucket].map((b) => quick.open(b)));
  // Archiving moves megabytes: its calls get the client's usual time, not half a lease.
  const archiving = jetstream(nc, { timeout: 10_000 });
  const [manifests, quickManifests, objects] = await Promise.all([
    new Kvm(archiving).open(names.manifestsBucket),
    quick.open(names.manifestsBucket),
    new Objm(archiving).open(names.blocksBucket),
  ]);
  const direct = { api: (await jetstreamManager(nc, { timeout: 10_000 })).direct, stream: `OBJ_${names.blocksBucket}`, bucket: names.blocksBucket };
  const archive = new ShardArchive(objects as ObjectStore, manifests, quickManifests, direct);
  return { config, buckets: { members: members!, leases: leases!, nodes: nodes!, archive } };
}

/** Whether a JetStream lookup found its object. */
const found = (lookup: Promise<unknown>): Promise<boolean> =>
  lookup.then(
    () => true,
    () => false,
  );

async function ensureShardStream(jsm: JetStreamManager, shard: string, replicas: number, maxBytes: number): Promise<void> {
  const stream = names.stream(shard);
  if (await found(jsm.streams.info(stream))) return;
  await jsm.streams
    .add({
      name: stream,
      subjects: [names.subject(shard)],
      // The stream holds the shard's tail until its owner has archived it (then trims it): a batch stored only on the
      // owner's disk would go with that disk.
      retention: RetentionPolicy.Limits,
      // Full means the owner is behind: refuse new batches (edges hold them) rather than drop unarchived ones.
      discard: DiscardPolicy.New,
      max_bytes: maxBytes,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: 120e9,
    })
    .catch(async (err: Error) => {
      // Another daemon created it between our look and our add.
      if (!(await found(jsm.streams.info(stream)))) throw err;
    });
}
