import type { NatsConnection } from '@nats-io/nats-core';
import { bootstrapCluster, type ClusterBuckets, type ClusterConfig, type ClusterShape } from '../cluster/config.js';
import type { ClusterMember } from '../cluster/member.js';
import { memberIdFor } from '../cluster/member-id.js';
import { connectNats, type NatsOptions } from '../cluster/nats.js';
import { TributaryError } from '../errors.js';
import { startWaitingServer } from '../http/waiting.js';
import { backoffDelay, type BackoffPolicy } from '../supervisor/backoff.js';

/** A daemon joining a cluster: what it asks of it, and how it joins (connect, found or join, wait out JetStream). */
export type ClusterOptions = ClusterShape & {
  readonly nats: NatsOptions;
  /** This member's name in the cluster (default: a nanoid kept in the data directory, so a restart is the same member). */
  readonly memberId?: string;
  /** How long to keep trying when JetStream is not ready to be joined (default 2 min: a NATS cluster starting beside us). */
  readonly joinTimeoutMs?: number;
};

type JoinLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** A daemon's part in a cluster: its NATS connection, the cluster's shape, its membership. */
export interface ClusterParts {
  readonly nc: NatsConnection;
  readonly config: ClusterConfig;
  readonly buckets: ClusterBuckets;
  readonly memberId: string;
  /** Retries a step of joining until the join deadline (JetStream settling). */
  readonly untilReady: <T>(what: string, step: () => Promise<T>) => Promise<T>;
  member?: ClusterMember;
  stopQueries?: () => void;
  stopFeeds?: () => void;
}

/**
 * Joins the cluster while the HTTP port answers /healthz (alive) and
 * /readyz (503, saying what it waits for), so an orchestrator neither
 * restarts a member that waits for JetStream nor sends it traffic. Not with
 * TLS: a plain answer on a TLS port would be wrong, so that port opens late.
 */
export async function joinWhileAnswering(
  dataDir: string,
  options: ClusterOptions,
  http: { readonly host?: string; readonly port?: number; readonly tls?: unknown } | undefined,
  log: JoinLog,
): Promise<ClusterParts> {
  const waiting = { reason: 'joining the cluster: connecting to NATS' };
  const server = http?.tls
    ? undefined
    : await startWaitingServer(http?.host ?? '127.0.0.1', http?.port ?? 3100, () => waiting.reason).catch((err: Error) => {
        log('warn', `the HTTP port could not answer while joining: ${err.message}`);
        return undefined;
      });
  try {
    return await joinCluster(dataDir, options, log, (reason) => (waiting.reason = `waiting for JetStream: ${reason}`));
  } finally {
    await server?.close();
  }
}

/** Connects to NATS and founds or joins the cluster there, before anything of this daemon starts. */
async function joinCluster(dataDir: string, options: ClusterOptions, log: JoinLog, waitingFor: (reason: string) => void = () => {}): Promise<ClusterParts> {
  const memberId = options.memberId ?? memberIdFor(dataDir);
  log('info', `joining the cluster at ${options.nats.servers.join(',')} as ${memberId}`, { member: memberId });
  const nc = await connectNats({ ...options.nats, name: `tributary-${memberId}` });
  const untilReady = retryUntil(Date.now() + (options.joinTimeoutMs ?? 120_000), options.nats.servers, log, waitingFor);
  try {
    const { config, buckets } = await untilReady('join', () => bootstrapCluster(nc, options, (m, level = 'info') => log(level, m)));
    return { nc, config, buckets, memberId, untilReady };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/** Between joining attempts: members starting together retry apart, not in lock step. */
const JOIN_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 5000, jitter: 0.5 };

/**
 * Runs a joining step until it succeeds, with backoff (JOIN_BACKOFF), up to
 * `deadline`. NATS nodes started beside us answer before
 * JetStream has a meta leader, and a stream just created has no leader for
 * a moment ("no responders", which the client reports as "jetstream is not
 * enabled"): both are waited out, saying why.
 */
function retryUntil(deadline: number, servers: readonly string[], log: JoinLog, waitingFor: (reason: string) => void = () => {}) {
  return async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        // A configuration error is not JetStream being slow: it is said at once, not retried.
        if (err instanceof TributaryError && err.code === 'E_CONFIG_INVALID') throw err;
        const wait = Math.round(backoffDelay(JOIN_BACKOFF, attempt));
        if (Date.now() + wait > deadline) {
          throw new TributaryError(
            'E_UNAVAILABLE',
            `could not ${what} the cluster: JetStream did not become ready (${(err as Error).message})`,
            { servers: servers.join(','), attempts: attempt },
            { cause: err },
          );
        }
        log('warn', `JetStream is not ready to ${what} (${(err as Error).message}); trying again in ${wait} ms`, { attempt });
        waitingFor(`${what}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  };
}
