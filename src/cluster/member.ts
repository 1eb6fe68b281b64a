import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { TributaryError } from '../errors.js';
import { assignShards, byShardNumber } from './assignment.js';
import { type ClusterBuckets, type ClusterConfig, type ClusterShape } from './config.js';
import { names } from './nats.js';
import { ShardConsumer, type ShardConsumerStats } from './shard-consumer.js';

type Log = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** What a member needs of the daemon it runs in. */
export interface MemberHost {
  /** Opens the local shard (its actor and store) if it is not open yet. */
  openShard(shard: string): Promise<void>;
  /** Stores a batch in a local shard; resolves once it is durable. */
  store(shard: string, bytes: Uint8Array): Promise<void>;
  /** Called after a consumed batch is stored and acknowledged (anomaly detection's feed). */
  stored(shard: string, bytes: Uint8Array): void;
  /** Shards with data in this daemon's directory. */
  heldShards(): string[];
  readonly log: Log;
}

/** A member's heartbeat, renewed every tick while it lives. */
export interface MemberRecord {
  readonly id: string;
  /** Its HTTP API, for people and `tributary cluster status`. */
  readonly url: string;
  readonly grpc: string;
  readonly startedAt: number;
}

/** Every member that ever joined (never ages out): who holds which shards' data, for queries to expect. */
export interface NodeRecord {
  readonly id: string;
  readonly url: string;
  readonly holds: string[];
  readonly lastSeen: number;
}

/** A status page or scrape waits this long at most for a shard's consumer figures (it says "unknown" after). */
const LAG_TIMEOUT_MS = 1000;

interface Lease {
  readonly owner: string;
  readonly since: number;
}

interface Owned {
  revision: number;
  /** When this member took the lease (ms since the epoch). */
  readonly since: number;
  /** Monotonic time of the last renewal NATS confirmed. */
  renewedAt: number;
  consumer: ShardConsumer;
}

export interface MemberOptions extends ClusterShape {
  readonly memberId: string;
  readonly url: string;
  readonly grpc: string;
}

/**
 * One daemon's part in the cluster. Every tick (a quarter of the lease) it
 * renews its heartbeat, reads which members live, and for each shard works
 * out the owner (assignShards: rendezvous hashing with bounded loads): it
 * takes a free lease it should hold
 * (then consumes the shard's stream from where the last owner stopped),
 * renews the leases it holds, and gives up, after draining, one another
 * live member should hold. Leases and heartbeats are KV entries that age
 * out after the lease time, so a killed member's shards are free a lease
 * later. A member that cannot renew for over half a lease stops consuming
 * on its own, before anyone else can take over (fencing by time).
 */
export class ClusterMember {
  private readonly owned = new Map<string, Owned>();
  /** The heartbeat and balance loops: their next timers and the step running now. */
  private readonly loops: { timer: NodeJS.Timeout | undefined; running: Promise<void> }[] = [];
  private stopping = false;
  private readonly startedAt = Date.now();
  private lastHeartbeatOk = 0;
  /** The shards the node registry lists for this member (re-registered when it holds more). */
  private lastHolds = new Set<string>();
  private nodeView: NodeRecord[] = [];
  /** When the registry was last read whole (0: never: until then this member cannot know who holds what). */
  private nodesReadAt = 0;
  /** The cluster as the last balance tick read it: what status answers from without waiting on NATS. */
  private memberView: MemberRecord[] = [];
  private ownerView = new Map<string, string | null>();
  private viewAt = 0;
  /** For consumer lag; made on first use, without the account check that waits on a JetStream round trip. */
  private jsm: JetStreamManager | undefined;
  /** Counters of consumers this member ran before (they end, their counts stay). */
  private readonly finished = new Map<string, ShardConsumerStats>();

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly config: ClusterConfig,
    private readonly buckets: ClusterBuckets,
    private readonly host: MemberHost,
    private readonly options: MemberOptions,
  ) {}

  /** Registers this member in a bootstrapped cluster (see bootstrapCluster); ticking starts with `run()`. */
  static async join(
    nc: NatsConnection,
    cluster: { readonly config: ClusterConfig; readonly buckets: ClusterBuckets },
    host: MemberHost,
    options: MemberOptions,
  ): Promise<ClusterMember> {
    const member = new ClusterMember(nc, jetstream(nc, { timeout: 10_000 }), cluster.config, cluster.buckets, host, options);
    await member.register();
    return member;
  }

  get id(): string {
    return this.options.memberId;
  }

  private get leaseMs(): number {
    return this.options.leaseMs ?? 5000;
  }

  /** Starts ticking (heartbeats, leases, consumers); resolves after the first tick. */
  run(): Promise<void> {
    // Two loops, so that renewing what we hold never waits behind opening a shard we take.
    return this.repeat('heartbeat', () => this.renewAll()).then(() => this.repeat('balance', () => this.balance()));
  }

  /** Runs `step` now and then every quarter lease until the member leaves; resolves after the first run. */
  private repeat(what: string, step: () => Promise<void>): Promise<void> {
    const every = Math.max(100, this.leaseMs / 4);
    const loop = { timer: undefined as NodeJS.Timeout | undefined, running: Promise.resolve() };
    this.loops.push(loop);
    const run = (): Promise<void> => {
      loop.running = step()
        .catch((err: Error) => this.host.log('warn', `cluster ${what}: ${err.message}`, { error: err }))
        .finally(() => {
          if (!this.stopping) loop.timer = setTimeout(run, every);
        });
      return loop.running;
    };
    return run();
  }

  /**
   * Whether this member has read the registry and the heartbeats at least
   * once. Until then its view lists only itself, and an answer gathered on
   * it could look whole while other members hold entries.
   */
  get membershipKnown(): boolean {
    return this.nodesReadAt > 0 && this.viewAt > 0;
  }

  /** Registered members and the shards they hold data of, as of the last tick. */
  get holders(): ReadonlyMap<string, readonly string[]> {
    return new Map(this.nodeView.map((n) => [n.id, n.holds]));
  }

  /** Whether this member consumes `shard` now. */
  ownsShard(shard: string): boolean {
    return this.owned.has(shard);
  }

  /** Shards this member consumes now. */
  get owns(): string[] {
    return [...this.owned.keys()].sort(byShardNumber);
  }

  /** Live members as of the last tick (this one always among them: it is running this code). */
  get liveMembers(): string[] {
    return this.liveIn(this.memberView);
  }

  private liveIn(heartbeats: readonly MemberRecord[]): string[] {
    const ids = new Set(heartbeats.map((m) => m.id)).add(this.id);
    return [...ids].sort();
  }

  /** This member's consumers' counters (current and finished). */
  consumerStats(): ShardConsumerStats[] {
    const all = new Map(this.finished);
    for (const [shard, o] of this.owned) all.set(shard, addStats(all.get(shard), o.consumer.stats));
    return [...all.values()].sort((a, b) => byShardNumber(a.shard, b.shard));
  }

  /** Every registered node (live or not). */
  async nodes(): Promise<NodeRecord[]> {
    return readAll<NodeRecord>(this.buckets.nodes);
  }

  /** Every live member's heartbeat. */
  async members(): Promise<MemberRecord[]> {
    return readAll<MemberRecord>(this.buckets.members);
  }

  /**
   * The cluster as this member's last balance tick saw it (a quarter lease
   * old at most while NATS answers): live members' heartbeats, registered
   * nodes, and each shard's lease holder (null: free, or not read yet).
   * Status pages answer from it, so they answer while NATS is failing over.
   */
  view(): { at: number; members: MemberRecord[]; nodes: NodeRecord[]; owners: Map<string, string | null> } {
    return { at: this.viewAt, members: this.memberView, nodes: this.nodeView, owners: new Map(this.ownerView) };
  }

  /** Whether, in the last tick's view, every shard is with the member the assignment picks among the live ones. */
  balanced(view = this.view()): boolean {
    const assignment = assignShards(this.config.shards, this.liveIn(view.members));
    return this.config.shards.every((shard) => view.owners.get(shard) === assignment.get(shard));
  }

  /**
   * Per shard, read from JetStream now: batches waiting in its stream, those
   * its owner holds unacknowledged, and the stream's bytes; null where
   * JetStream did not answer within LAG_TIMEOUT_MS.
   */
  async lag(
    shards: readonly string[] = this.config.shards,
  ): Promise<{ shard: string; pending: number | null; ackPending: number | null; streamBytes: number | null }[]> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: LAG_TIMEOUT_MS, checkAPI: false });
    const jsm = this.jsm;
    return Promise.all(
      shards.map(async (shard) => {
        const [ci, si] = await Promise.all([
          jsm.consumers.info(names.stream(shard), names.consumer).catch(() => null),
          jsm.streams.info(names.stream(shard)).catch(() => null),
        ]);
        return { shard, pending: ci?.num_pending ?? null, ackPending: ci?.num_ack_pending ?? null, streamBytes: si?.state.bytes ?? null };
      }),
    );
  }

  /** Removes a node that will not come back from the registry (queries stop expecting it). */
  async forget(id: string): Promise<void> {
    if (id === this.id) throw new TributaryError('E_INVALID_ARGUMENT', 'a member cannot forget itself', { member: id });
    await this.buckets.nodes.delete(id);
  }

  /**
   * Leaves the cluster: stops ticking, drains every consumer (batches in
   * hand are stored and acknowledged), releases its leases so successors
   * take over at once rather than a lease later, and removes its heartbeat.
   */
  async leave(): Promise<void> {
    this.stopping = true;
    for (const loop of this.loops) clearTimeout(loop.timer);
    await Promise.all(this.loops.map((loop) => loop.running));
    await Promise.all([...this.owned.keys()].map((s) => this.release(s)));
    await this.buckets.members.delete(this.id).catch(() => {});
    await this.register().catch(() => {});
  }

  private async register(): Promise<void> {
    const record: NodeRecord = { id: this.id, url: this.options.url, holds: this.host.heldShards(), lastSeen: Date.now() };
    await this.buckets.nodes.put(this.id, JSON.stringify(record));
    this.lastHolds = new Set(record.holds);
  }

  /** The heartbeat, then every lease held: a member cut off from NATS notices before its leases can be taken. */
  private async renewAll(): Promise<void> {
    if (this.stopping) return;
    const heartbeat: MemberRecord = { id: this.id, url: this.options.url, grpc: this.options.grpc, startedAt: this.startedAt };
    try {
      await this.buckets.members.put(this.id, JSON.stringify(heartbeat));
      this.lastHeartbeatOk = performance.now();
    } catch (err) {
      this.host.log('warn', `cluster heartbeat failed: ${(err as Error).message}`);
    }
    await Promise.all([...this.owned.keys()].map((shard) => this.renew(shard)));
  }

  /** Which shards this member should hold among the live members: takes free ones, gives up others'. */
  private async balance(): Promise<void> {
    if (this.stopping) return;
    if (performance.now() - this.lastHeartbeatOk > this.leaseMs / 2) return; // our view of the cluster is stale: take nothing
    const nodes = await this.nodes().catch(() => undefined); // all or nothing: a partial read would drop a down member
    if (nodes) {
      this.nodeView = nodes;
      this.nodesReadAt = Date.now();
    }
    const heartbeats = await this.heartbeats();
    if (!heartbeats) return; // who lives is not known this tick: act on nothing
    this.memberView = heartbeats;
    const assignment = assignShards(this.config.shards, this.liveMembers);
    for (const shard of this.config.shards) {
      if (this.stopping) return;
      const want = assignment.get(shard);
      if (this.owned.has(shard)) {
        if (want !== this.id) await this.release(shard); // a live member that should hold it will take it next tick
        this.ownerView.set(shard, this.owned.has(shard) ? this.id : null);
        continue;
      }
      const entry = await this.buckets.leases.get(shard).catch(() => undefined);
      if (entry === undefined) continue; // NATS did not answer: try next tick
      const holder = entry && entry.operation === 'PUT' ? entry.json<Lease>().owner : null;
      if (holder === null && want === this.id) await this.acquire(shard);
      else if (holder === this.id && entry) {
        // A lease in our name that we do not run: our previous life's (a restart inside the lease), or a renewal
        // whose reply was lost. Take it up again if it is ours to hold, else hand it back now rather than a lease later.
        if (want === this.id) await this.acquire(shard, entry.revision);
        else await this.buckets.leases.delete(shard, { previousSeq: entry.revision }).catch(() => {});
      }
      this.ownerView.set(shard, this.owned.has(shard) ? this.id : holder === this.id ? null : holder);
    }
    this.viewAt = Date.now();
    // A shard taken this tick (or one whose registration failed before) goes into the registry, so queries expect it.
    if (this.host.heldShards().some((s) => !this.lastHolds.has(s))) await this.register();
  }

  /**
   * The heartbeats of every registered member, one get each (listing the
   * bucket's keys makes a consumer, which stalls for seconds while NATS
   * fails over); undefined if any could not be read.
   */
  private async heartbeats(): Promise<MemberRecord[] | undefined> {
    const ids = [...new Set([...this.nodeView.map((n) => n.id), ...this.memberView.map((m) => m.id), this.id])].sort();
    const read = await Promise.all(ids.map((id) => this.buckets.members.get(id).catch(() => undefined)));
    if (read.includes(undefined)) return undefined;
    return read.flatMap((e) => (e && e.operation === 'PUT' ? [e.json<MemberRecord>()] : []));
  }

  /** Takes a free lease (or, given `revision`, one in our own name) and starts consuming the shard. */
  private async acquire(shard: string, revision?: number): Promise<void> {
    const since = Date.now();
    const lease = JSON.stringify({ owner: this.id, since } satisfies Lease);
    try {
      revision = revision === undefined ? await this.buckets.leases.create(shard, lease) : await this.buckets.leases.update(shard, lease, revision);
    } catch {
      return; // someone was quicker
    }
    try {
      await this.host.openShard(shard);
    } catch (err) {
      this.host.log('error', `cannot open ${shard}: ${(err as Error).message}; giving its lease back`, { shard, error: err });
      await this.buckets.leases.delete(shard, { previousSeq: revision }).catch(() => {});
      return;
    }
    const consumer = new ShardConsumer(
      this.js,
      shard,
      (bytes) => this.host.store(shard, bytes),
      (bytes) => this.host.stored(shard, bytes),
      this.host.log,
    );
    this.owned.set(shard, { revision, since, renewedAt: performance.now(), consumer });
    consumer.start();
    this.host.log('info', `took ${shard}`, { shard, member: this.id });
  }

  private async renew(shard: string): Promise<void> {
    const owned = this.owned.get(shard);
    if (!owned) return; // given up meanwhile
    try {
      owned.revision = await this.buckets.leases.update(shard, JSON.stringify({ owner: this.id, since: owned.since } satisfies Lease), owned.revision);
      owned.renewedAt = performance.now();
    } catch (err) {
      const cutOff = performance.now() - owned.renewedAt > this.leaseMs / 2;
      // "wrong last sequence": the lease aged out and someone else holds it now. Either way, stop at once.
      if (this.owned.get(shard) === owned && (cutOff || /wrong last sequence/i.test((err as Error).message))) {
        this.host.log('warn', `lost the lease of ${shard} (${(err as Error).message}): stopping its consumer`, { shard });
        this.owned.delete(shard);
        await owned.consumer.stop();
        this.finish(owned.consumer);
      }
    }
  }

  private async release(shard: string): Promise<void> {
    const owned = this.owned.get(shard);
    if (!owned) return;
    this.owned.delete(shard);
    await owned.consumer.stop();
    this.finish(owned.consumer);
    await this.buckets.leases.delete(shard, { previousSeq: owned.revision }).catch(() => {});
    this.host.log('info', `gave ${shard} up`, { shard, member: this.id });
  }

  private finish(consumer: ShardConsumer): void {
    this.finished.set(consumer.shard, addStats(this.finished.get(consumer.shard), consumer.stats));
  }
}

/** A shard's consumer counters, added to those of its earlier consumers here. */
function addStats(prev: ShardConsumerStats | undefined, s: ShardConsumerStats): ShardConsumerStats {
  return prev ? { shard: s.shard, stored: prev.stored + s.stored, refused: prev.refused + s.refused, retried: prev.retried + s.retried } : s;
}

/**
 * Every record in `kv`, or a rejection if any listed key could not be read:
 * a get that timed out while NATS fails over must not read as "gone" (a
 * registry view without a down member would make queries that miss its
 * entries say they are whole). A key deleted between listing and reading
 * is gone.
 */
export async function readAll<T>(kv: Pick<KV, 'keys' | 'get'>): Promise<T[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  const out: T[] = [];
  for (const k of keys.sort()) {
    const e = await kv.get(k).catch((err: Error) => {
      throw new TributaryError('E_UNAVAILABLE', `cannot read ${k}: ${err.message}`, { key: k }, { cause: err });
    });
    if (e && e.operation === 'PUT') out.push(e.json<T>());
  }
  return out;
}
