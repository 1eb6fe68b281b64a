import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { JetStreamTransport } from '../../src/cluster/jetstream-transport.js';
import { findNatsServer, LocalNatsCluster } from '../../src/cluster/local-nats.js';
import { TransportSink } from '../../src/collector/transport.js';
import { ShardedWriter } from '../../src/shard/sharded-writer.js';
import type { ClusterStatus } from '../../src/http/cluster.js';
import type { DaemonOptions } from '../../src/daemon/daemon.js';
import { tempDir } from './system.js';
import { waitUntil } from './workers.js';

/** nats-server on this machine (CI installs Debian's package), or undefined: the cluster tests are then skipped, saying so. */
export const natsServer = findNatsServer();

/** A 3-node NATS cluster with JetStream on 127.0.0.1, stopped when the test ends. */
export async function startNats(t: ExecutionContext, nodes = 3): Promise<LocalNatsCluster> {
  const nats = await LocalNatsCluster.start({ dir: join(tempDir(t, 'tributary-nats-'), 'nats'), nodes });
  t.teardown(() => nats.stop());
  return nats;
}

export interface QueriedEntry {
  readonly message: string;
  readonly service: string;
}

/** Every entry a daemon's query API returns for `{}` up to now, page by page; and whether any page was partial, and why. */
export async function queryAll(url: string, pageSize = 20_000, timeoutMs = 5000): Promise<{ entries: QueriedEntry[]; partial: string[] }> {
  const entries: QueriedEntry[] = [];
  const partial: string[] = [];
  let cursor: string | undefined;
  // Up to now, fixed: while entries keep arriving, paging towards a moving end would not end.
  const to = String(BigInt(Date.now() + 1) * 1_000_000n);
  for (;;) {
    const params = new URLSearchParams({
      query: '{}',
      from: '0',
      to,
      limit: String(pageSize),
      direction: 'forward',
      timeout_ms: String(timeoutMs),
      ...(cursor ? { cursor } : {}),
    });
    const res = await fetch(`${url}/api/v1/query?${params}`);
    if (!res.ok) throw new Error(`query answered ${res.status}: ${await res.text()}`);
    const page = ((await res.json()) as { data: { entries: QueriedEntry[]; nextCursor?: string; partial?: { reasons: string[] } } }).data;
    entries.push(...page.entries);
    partial.push(...(page.partial?.reasons ?? []));
    if (!page.nextCursor || page.entries.length === 0) return { entries, partial };
    cursor = page.nextCursor;
  }
}

/** Message -> how many times it was found. */
export function occurrences(entries: readonly { readonly message: string }[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const e of entries) seen.set(e.message, (seen.get(e.message) ?? 0) + 1);
  return seen;
}

/** GET /api/v1/cluster of the daemon at `url`. */
export async function clusterStatus(url: string): Promise<ClusterStatus> {
  const res = await fetch(`${url}/api/v1/cluster`);
  if (!res.ok) throw new Error(`cluster status answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: ClusterStatus }).data;
}

/** Until `live` members are alive and every shard is held by the member the assignment picks among them. */
export async function settled(url: string, live: number, timeoutMs = 30_000): Promise<ClusterStatus> {
  let s: ClusterStatus | undefined;
  await waitUntil(
    `every shard with its assigned owner among ${live} live members`,
    async () => {
      s = await clusterStatus(url);
      return s.members.filter((m) => m.live).length === live && s.balanced;
    },
    timeoutMs,
    250, // each look asks JetStream for every shard's lag: not a load to add to a cluster failing over
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen: ${JSON.stringify(s)}`);
  });
  return s!;
}

/** A small cluster member's options (one worker, no parse threads, 256 MiB): the tests' members differ only in these arguments. */
export function memberOptions(
  dataDir: string,
  cluster: NonNullable<DaemonOptions['cluster']>,
  log: NonNullable<DaemonOptions['log']>,
  port = 0,
): DaemonOptions {
  return { dataDir, http: { port }, grpc: false, workers: 1, parseThreads: 0, memoryBudgetBytes: 256 << 20, cluster, log };
}

/** sum(count_over_time) over the test entries of the last hour (services svc-*), through the Loki query API. */
export async function countAll(url: string): Promise<number> {
  const params = new URLSearchParams({ query: 'sum(count_over_time({service=~"svc-.*"}[1h]))', time: String(Date.now() / 1000) });
  const res = await fetch(`${url}/loki/api/v1/query?${params}`);
  if (!res.ok) throw new Error(`count answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
  return Number(body.data.result[0]?.value[1] ?? 0);
}

/**
 * Entries `e 0`, `e 1`, ... written without pause through the JetStream
 * edge (what collectors use), a write of `perWrite` every `everyMs`, each
 * counted as acknowledged once JetStream acknowledged all its batches. A
 * write that fails is counted and not acknowledged (it may or may not be
 * stored, never twice). `pause()` resolves once the write in hand is done.
 */
export class EdgeLoad {
  readonly acknowledged: number[] = [];
  sent = 0;
  failedWrites = 0;
  private running = true;
  private paused = false;
  private onIdle: () => void = () => {};
  private readonly loop: Promise<void>;

  private constructor(
    private readonly writer: ShardedWriter,
    private readonly options: { readonly perWrite: number; readonly everyMs: number; readonly log: (m: string) => void },
  ) {
    this.loop = this.run();
  }

  static async start(
    t: ExecutionContext,
    servers: string[],
    options: { perWrite?: number; everyMs?: number; log?: (m: string) => void } = {},
  ): Promise<EdgeLoad> {
    const transport = new JetStreamTransport({ servers });
    t.teardown(() => transport.close());
    const writer = new ShardedWriter(new TransportSink(transport, { attempts: 60, timeoutMs: 2000 }), (await transport.ring(5000)).shards);
    const load = new EdgeLoad(writer, { perWrite: options.perWrite ?? 250, everyMs: options.everyMs ?? 100, log: options.log ?? (() => {}) });
    t.teardown(() => void (load.running = false)); // on failure too: runs before the transport closes
    return load;
  }

  /** Until the write in hand is done; none starts until `resume()`. */
  pause(): Promise<void> {
    return new Promise((resolve) => {
      this.onIdle = resolve;
      this.paused = true;
    });
  }

  resume(): void {
    this.paused = false;
  }

  /** Ends the load once the write in hand is done. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    const { perWrite, everyMs, log } = this.options;
    while (this.running) {
      if (this.paused) {
        this.onIdle();
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const from = this.sent;
      this.sent += perWrite;
      const now = BigInt(Date.now()) * 1_000_000n;
      const entries = Array.from({ length: perWrite }, (_, k) => ({
        ts: now + BigInt(k),
        level: (k % 20 === 0 ? 3 : 1) as 1 | 3,
        service: `svc-${k % 7}`,
        server: `host-${(from + k) % 31}`,
        region: `r${k % 3}`,
        message: `e ${from + k}`,
      }));
      try {
        await this.writer.write(entries);
        for (let k = 0; k < perWrite; k++) this.acknowledged.push(from + k);
      } catch (err) {
        log(`a write failed: ${(err as Error).message}`);
        this.failedWrites++;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}
