import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { TributaryError } from '../errors.js';
import { assignShards, byShardNumber } from './assignment.js';
import { type ClusterBuckets, type ClusterConfig, type ClusterShape } from './config.js';
import { readAll } from './kv-read.js';
import { OwnedShard, type MemberHost, type OwnerContext } from './owned-shard.js';
import { StandIns } from './stand-ins.js';
import { Ticker } from './ticker.js';
import { addStats, streamLag, type ShardConsumer, type ShardConsumerStats, type ShardLag } from './shard-consumer.js';

export type { MemberHost } from './owned-shard.js';

/** A member's heartbeat, renewed every tick while it lives. */
export interface MemberRecord {
  readonly id: string;
  /** Its HTTP API, for people and `tributary cluster status`. */
  readonly url: string;
  readonly grpc: string;
  readonly startedAt: number;
  /** Shards it answers for now (owned and caught up): a member that handed one over answers for it until its successor does. */
  readonly serving?: string[];
  /** Per shard it owns, the stream sequence through which it has stored every batch (for lag, and a successor's detection). */
  readonly positions?: Record<string, number>;
  /** It is handing its shards over: no shard is assigned to it, and it answers queries until it is gone. */
  readonly leaving?: boolean;
}

/** Every member that ever joined (never ages out, until forgotten): status pages list the down ones. */
export interface NodeRecord {
  readonly id: string;
  readonly url: string;
  readonly lastSeen: number;
}

/** A status page or scrape waits this long at most for a shard's consumer figures (it says "unknown" after). */
const LAG_TIMEOUT_MS = 1000;

interface Lease {
  readonly owner: string;
  readonly since: number;
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
  private readonly owned = new Map<string, OwnedShard>();
  /** The heartbeat, balance and checkpoint loops. */
  private readonly loops: Ticker[] = [];
  private stopping = false;
  private readonly startedAt = Date.now();
  private lastHeartbeatOk = 0;
  private nodeView: NodeRecord[] = [];
  /** The cluster as the last balance tick read it: what status answers from without waiting on NATS. */
  private memberView: MemberRecord[] = [];
  private ownerView = new Map<string, string | null>();
  private viewAt = 0;
  /** For consumer lag; made on first use, without the account check that waits on a JetStream round trip. */
  private jsm: JetStreamManager | undefined;
  /** Counters of consumers this member ran before (they end, their counts stay). */
  private readonly finished = new Map<string, ShardConsumerStats>();
  /** What owned shards work with; its JetStream manager (for positions and trimming) has the client's usual time, not the lag figures' second. */
  private readonly ownerContext: OwnerContext;
  /** Shards handed over gracefully, answered from here until the successor answers for them (its heartbeat says so). */
  private readonly formers = new StandIns();
  /** Per shard, the last position its owner's heartbeat told: where a successor's detection feeds start. */
  private readonly lastPositions = new Map<string, number>();

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly config: ClusterConfig,
    private readonly buckets: ClusterBuckets,
    private readonly host: MemberHost,
    private readonly options: MemberOptions,
  ) {
    let jsm: Promise<JetStreamManager> | undefined;
    let quickJsm: Promise<JetStreamManager> | undefined;
    this.ownerContext = {
      memberId: options.memberId,
      js,
      jsm: () => (jsm ??= jetstreamManager(nc, { timeout: 10_000, checkAPI: false })),
      quickJsm: () => (quickJsm ??= jetstreamManager(nc, { timeout: Math.max(500, this.leaseMs / 2), checkAPI: false })),
      archive: buckets.archive,
      host,
    };
  }

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

  /** Starts ticking (heartbeats, leases, consumers, checkpoints); resolves after the first tick. */
  run(): Promise<void> {
    // Apart, so that renewing what we hold never waits behind restoring a shard we take, nor behind an upload.
    const tick = Math.max(100, this.leaseMs / 4);
    return this.repeat('heartbeat', tick, () => this.renewAll())
      .then(() => this.repeat('balance', tick, () => this.balance()))
      .then(() => void this.repeat('checkpoint', this.options.checkpointMs ?? 10_000, () => this.checkpointAll(), false));
  }

  /** Runs `step` (now, unless `now` is false) and then every `every` ms until the member leaves; resolves after the first run. */
  private repeat(what: string, every: number, step: () => Promise<void>, now = true): Promise<void> {
    const ticker = new Ticker(what, every, step, this.host.log);
    this.loops.push(ticker);
    return ticker.start(now);
  }

  /** Whether this member consumes `shard` now. */
  ownsShard(shard: string): boolean {
    return this.owned.has(shard);
  }

  /**
   * Shards this member answers queries for as their owner: held, restored,
   * and stored up to where the stream was when it took them (before that,
   * its answer would be short of what its predecessor had stored).
   */
  get serving(): string[] {
    return [...this.owned].filter(([, o]) => o.serving).map(([s]) => s);
  }

  private positions(): Record<string, number> {
    return Object.fromEntries([...this.owned].flatMap(([shard, o]) => (o.consumer ? [[shard, o.consumer.storedThrough]] : [])));
  }

  /** Shards it handed over and still answers for, as a stand-in, until their new owner does. */
  get standingIn(): string[] {
    return this.formers.list().filter((s) => !this.owned.has(s));
  }

  /** Shards this member consumes now. */
  get owns(): string[] {
    return [...this.owned.keys()].sort(byShardNumber);
  }

  /** Live members as of the last tick, leaving ones too (they answer queries until they are gone); this one always among them. */
  get liveMembers(): string[] {
    return [...new Set(this.memberView.map((m) => m.id)).add(this.id)].sort();
  }

  /** The members shards are assigned among: live and not leaving. */
  private assignable(heartbeats: readonly MemberRecord[]): string[] {
    const ids = new Set(heartbeats.filter((m) => !m.leaving).map((m) => m.id));
    if (!this.stopping) ids.add(this.id);
    return [...ids].sort();
  }

  /** This member's consumers' counters (current and finished). */
  consumerStats(): ShardConsumerStats[] {
    const all = new Map(this.finished);
    for (const [shard, o] of this.owned) if (o.consumer) all.set(shard, addStats(all.get(shard), o.consumer.stats));
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
    const assignment = assignShards(this.config.shards, this.assignable(view.members));
    return this.config.shards.every((shard) => view.owners.get(shard) === assignment.get(shard));
  }

  /**
   * Per shard, read from JetStream now (null where it did not answer within
   * LAG_TIMEOUT_MS): batches its owner has not stored yet (from the owner's
   * last heartbeat, a quarter lease old at most), and batches and bytes the
   * stream holds (not yet archived, or archived and not yet trimmed).
   */
  async lag(shards: readonly string[] = this.config.shards): Promise<ShardLag[]> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: LAG_TIMEOUT_MS, checkAPI: false });
    const jsm = this.jsm;
    const mine = this.positions();
    const positionOf = (shard: string) => {
      const owner = this.ownerView.get(shard);
      return owner === this.id ? mine[shard] : this.memberView.find((m) => m.id === owner)?.positions?.[shard];
    };
    return Promise.all(shards.map((shard) => streamLag(jsm, shard, positionOf(shard))));
  }

  /** Removes a member that will not come back from the registry (status pages stop listing it as down). */
  async forget(id: string): Promise<void> {
    if (id === this.id) throw new TributaryError('E_INVALID_ARGUMENT', 'a member cannot forget itself', { member: id });
    await this.buckets.nodes.delete(id);
  }

  /**
   * Leaves the cluster: stops balancing and checkpointing, says in its
   * heartbeat that it is leaving (the others assign its shards among
   * themselves, and askers still wait for its answers), hands every shard
   * over (drained, archived, lease given back, its leases renewed
   * meanwhile), answers for them as a stand-in until their successors say
   * they do (for at most `standInMs`), and removes its heartbeat.
   */
  async leave(standInMs = Math.min(20_000, 6 * this.leaseMs)): Promise<void> {
    if (this.stopping) return; // left, or leaving
    this.stopping = true;
    const [renewals, ...others] = this.loops;
    for (const loop of others) loop.end();
    await Promise.all(this.loops.map((loop) => loop.running));
    await this.beat(); // "leaving", at once
    await Promise.all([...this.owned.keys()].map((s) => this.release(s)));
    const deadline = performance.now() + standInMs;
    // Nobody to hand over to (the last member, or all leaving together): no successor will answer, so no wait.
    const successors = (heartbeats: readonly MemberRecord[]) => heartbeats.some((h) => h.id !== this.id && !h.leaving);
    let heartbeats: MemberRecord[] | undefined = this.memberView;
    while (this.standingIn.length > 0 && performance.now() < deadline && (!heartbeats || successors(heartbeats))) {
      await new Promise((r) => setTimeout(r, Math.max(100, this.leaseMs / 4)));
      heartbeats = await this.heartbeats();
      if (heartbeats) this.endStandIns(heartbeats);
    }
    renewals?.end();
    await renewals?.running; // a heartbeat in flight must not land after the delete
    this.formers.clear();
    await this.buckets.members.delete(this.id).catch(() => {});
    await this.register().catch(() => {});
  }

  private async register(): Promise<void> {
    const record: NodeRecord = { id: this.id, url: this.options.url, lastSeen: Date.now() };
    await this.buckets.nodes.put(this.id, JSON.stringify(record));
  }

  /** The heartbeat, then every lease held: a member cut off from NATS notices before its leases can be taken. */
  private async renewAll(): Promise<void> {
    await this.beat();
    await Promise.all([...this.owned.keys()].map((shard) => this.renew(shard)));
  }

  private async beat(): Promise<void> {
    const heartbeat: MemberRecord = {
      id: this.id,
      url: this.options.url,
      grpc: this.options.grpc,
      startedAt: this.startedAt,
      serving: this.serving,
      positions: this.positions(),
      ...(this.stopping ? { leaving: true } : {}),
    };
    try {
      await this.buckets.members.put(this.id, JSON.stringify(heartbeat));
      this.lastHeartbeatOk = performance.now();
    } catch (err) {
      this.host.log('warn', `cluster heartbeat failed: ${(err as Error).message}`);
    }
  }

  /** Which shards this member should hold among the live members: takes free ones, gives up others'. */
  private async balance(): Promise<void> {
    if (this.stopping) return;
    if (performance.now() - this.lastHeartbeatOk > this.leaseMs / 2) return; // our view of the cluster is stale: take nothing
    const nodes = await this.nodes().catch(() => undefined); // all or nothing: a partial read would drop a down member
    if (nodes) this.nodeView = nodes;
    const heartbeats = await this.heartbeats();
    if (!heartbeats) return; // who lives is not known this tick: act on nothing
    this.memberView = heartbeats;
    for (const h of heartbeats) for (const [shard, seq] of Object.entries(h.positions ?? {})) this.lastPositions.set(shard, seq);
    this.endStandIns(heartbeats);
    const assignment = assignShards(this.config.shards, this.assignable(heartbeats));
    // Shards taken are restored side by side: a dead member's shards all come back within one restore, not one after another.
    const taking: Promise<void>[] = [];
    const giving: Promise<void>[] = [];
    for (const shard of this.config.shards) {
      if (this.stopping) return;
      const want = assignment.get(shard);
      if (this.owned.has(shard)) {
        if (want !== this.id) giving.push(this.release(shard)); // a live member that should hold it will take it next tick
        this.ownerView.set(shard, this.id);
        continue;
      }
      const entry = await this.buckets.leases.get(shard).catch(() => undefined);
      if (entry === undefined) continue; // NATS did not answer: try next tick
      const holder = entry && entry.operation === 'PUT' ? entry.json<Lease>().owner : null;
      if (holder === null && want === this.id) taking.push(this.acquire(shard));
      else if (holder === this.id && entry) {
        // A lease in our name that we do not run: our previous life's (a restart inside the lease), or a renewal
        // whose reply was lost. Take it up again if it is ours to hold, else hand it back now rather than a lease later.
        if (want === this.id) taking.push(this.acquire(shard, entry.revision));
        else await this.buckets.leases.delete(shard, { previousSeq: entry.revision }).catch(() => {});
      }
      this.ownerView.set(shard, this.owned.has(shard) ? this.id : holder === this.id ? null : holder);
    }
    await Promise.all([...taking, ...giving]);
    // Shards taken or given up this tick: the view says so.
    for (const shard of this.config.shards) {
      if (this.owned.has(shard)) this.ownerView.set(shard, this.id);
      else if (this.ownerView.get(shard) === this.id) this.ownerView.set(shard, null);
    }
    this.viewAt = Date.now();
  }

  /** Stand-ins end once another member's heartbeat has said for half a lease that it serves the shard (see StandIns). */
  private endStandIns(heartbeats: readonly MemberRecord[]): void {
    this.formers.endServed((shard) => heartbeats.some((h) => h.id !== this.id && h.serving?.includes(shard)), this.leaseMs / 2);
  }

  /** Per live member, the shards its last heartbeat said it serves. */
  get servingView(): ReadonlyMap<string, readonly string[]> {
    return new Map(this.memberView.map((m) => [m.id, m.serving ?? []]));
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

  /**
   * Takes a free lease (or, given `revision`, one in our own name), then
   * opens the shard (restored from the archive unless this member wrote it
   * last, consumed from the archive's end); the lease is renewed meanwhile.
   */
  private async acquire(shard: string, revision?: number): Promise<void> {
    const since = Date.now();
    const lease = JSON.stringify({ owner: this.id, since } satisfies Lease);
    try {
      revision = revision === undefined ? await this.buckets.leases.create(shard, lease) : await this.buckets.leases.update(shard, lease, revision);
    } catch {
      return; // someone was quicker
    }
    const owned = new OwnedShard(shard, revision, since, this.ownerContext);
    this.owned.set(shard, owned);
    this.formers.delete(shard);
    try {
      await owned.open(this.lastPositions.get(shard) ?? 0);
      if (this.owned.get(shard) !== owned) await owned.fence(); // lost while restoring
    } catch (err) {
      if (this.owned.get(shard) === owned) this.owned.delete(shard);
      this.host.log('error', `cannot take ${shard}: ${(err as Error).message}; giving its lease back`, { shard, error: err });
      await this.buckets.leases.delete(shard, { previousSeq: owned.revision }).catch(() => {});
    }
  }

  /** Archives every shard this member owns, one after another (each seals, uploads what is new, trims its stream). */
  private async checkpointAll(): Promise<void> {
    for (const owned of [...this.owned.values()]) if (!this.stopping && !owned.releasing) await this.checkpoint(owned);
  }

  /** A checkpoint of `owned`; a manifest someone else wrote meanwhile means the lease was lost: the shard is given up. */
  private async checkpoint(owned: OwnedShard): Promise<void> {
    if ((await owned.checkpoint()) === 'lost' && this.owned.get(owned.shard) === owned) await this.drop(owned);
  }

  /** Stops a shard this member no longer holds, keeping its consumer's counts. */
  private async drop(owned: OwnedShard): Promise<void> {
    this.owned.delete(owned.shard);
    await owned.fence();
    if (owned.consumer) this.finish(owned.consumer);
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
        await this.drop(owned);
      }
    }
  }

  /**
   * Hands a shard over: stops consuming (batches in hand are stored), archives
   * it so the successor replays little, and gives the lease back. Until the
   * successor answers for it, this member answers for it (as it was when
   * consuming stopped).
   */
  private async release(shard: string): Promise<void> {
    const owned = this.owned.get(shard);
    if (!owned || owned.releasing) return;
    owned.releasing = true;
    await owned.stop();
    if (owned.consumer) this.finish(owned.consumer);
    if (owned.serving) {
      await this.checkpoint(owned);
      if (this.owned.get(shard) === owned) this.formers.add(shard);
    }
    if (this.owned.get(shard) !== owned) return; // lost meanwhile
    this.owned.delete(shard);
    await this.buckets.leases.delete(shard, { previousSeq: owned.revision }).catch(() => {});
    this.host.log('info', `gave ${shard} up`, { shard, member: this.id });
  }

  private finish(consumer: ShardConsumer): void {
    this.finished.set(consumer.shard, addStats(this.finished.get(consumer.shard), consumer.stats));
  }
}
