import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { TributaryError } from '../errors.js';

/**
 * How a Tributary process reaches the NATS cluster: plain data, so it can
 * cross to actor threads (a hosted collector publishes from one).
 */
export interface NatsOptions {
  /** nats://host:port URLs of some or all of the cluster's servers (the client learns the rest). */
  readonly servers: readonly string[];
  /** Token or user/password, when the NATS servers ask for one. */
  readonly token?: string;
  readonly user?: string;
  readonly pass?: string;
  /** TLS to the NATS servers: the CA that signed them, and a client certificate for mutual TLS. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  /** Shown in the servers' connection lists (member id, "collector", ...). */
  readonly name?: string;
}

/** Everything Tributary keeps in NATS, named in one place. */
export const names = {
  /** One stream per shard, so each has its own Raft group, leader and limits. */
  stream: (shard: string) => `TRIBUTARY_${shard}`,
  subject: (shard: string) => `tributary.batches.${shard}`,
  /** The cluster's fixed shape (shard list, ring), written once by the first daemon. */
  clusterBucket: 'tributary_cluster',
  clusterKey: 'config',
  /** Heartbeats of live members: a key ages out when its member stops renewing it. */
  membersBucket: 'tributary_members',
  /** Shard leases: a key ages out when its owner stops renewing it. */
  leasesBucket: 'tributary_leases',
  /** Every member that ever joined, and the shards it holds data of (never ages out). */
  nodesBucket: 'tributary_nodes',
  /** Per shard, the manifest of its archive: which objects hold its blocks, and the stream position they cover. */
  manifestsBucket: 'tributary_manifests',
  /** Object Store of every shard's archived blocks and label logs. */
  blocksBucket: 'tributary_blocks',
  /** Scatter-gather queries: every member answers for the shards it holds. */
  query: 'tributary.query',
  /** Anomaly detection: per detector slot, the feeds of the services hashed to it. */
  detect: (slot: number) => `tributary.detect.${slot}`,
  detectAll: 'tributary.detect.*',
  /** Every member's anomaly events (flag, clear) as they happen: any member's stream shows the cluster's. */
  anomalies: 'tributary.anomalies',
} as const;

/** NATS's default max_payload: the bound until a server has told its own. */
const DEFAULT_MAX_PAYLOAD = 1 << 20;
const lastMaxPayload = new WeakMap<object, number>();

/**
 * The largest message the connected server takes. The client clears
 * `nc.info` while it reconnects (its server died); the last value a server
 * told stands then, so sizing a message never fails on a failover.
 */
export function maxPayload(nc: Pick<NatsConnection, 'info'>): number {
  const told = nc.info?.max_payload;
  if (told === undefined) return lastMaxPayload.get(nc) ?? DEFAULT_MAX_PAYLOAD;
  lastMaxPayload.set(nc, told);
  return told;
}

/** Parses "nats://a:4222,nats://b:4222" (or several such) into server URLs. */
export function parseServers(list: string | readonly string[]): string[] {
  const parts = (typeof list === 'string' ? [list] : list).flatMap((s) => s.split(',')).map((s) => s.trim());
  const servers = parts.filter((s) => s.length > 0);
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^/\s]+$/.test(s)) {
      throw new TributaryError('E_CONFIG_INVALID', `not a NATS server URL: ${JSON.stringify(s)} (nats://host:port)`, { server: s });
    }
  }
  if (servers.length === 0) throw new TributaryError('E_CONFIG_INVALID', 'no NATS servers given', {});
  return servers;
}

/** Whether an aggregator address names a NATS cluster rather than a gRPC aggregator. */
export function isNatsAddress(address: string): boolean {
  return /^(nats|tls):\/\//.test(address);
}

/**
 * Connects, retrying the first connection and every later one forever: a
 * NATS outage is waited out (callers time out their own operations), never
 * turned into a dead client.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: [...options.servers],
      name: options.name,
      token: options.token,
      user: options.user,
      pass: options.pass,
      tls: options.tls ? { ...options.tls } : undefined,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 2000,
      maxPingOut: 2,
    });
  } catch (err) {
    throw new TributaryError(
      'E_UNAVAILABLE',
      `NATS at ${options.servers.join(',')}: ${(err as Error).message}`,
      { servers: options.servers.join(',') },
      { cause: err },
    );
  }
}
