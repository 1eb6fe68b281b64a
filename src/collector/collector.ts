import { statSync, watch, type FSWatcher } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { glob } from 'tinyglobby';
import { stampBatch } from '../batch/stamp.js';
import { TributaryError, isRetriable } from '../errors.js';
import { parseLogfmt } from '../ingest/formats/logfmt.js';
import { parseNdjson } from '../ingest/formats/ndjson.js';
import { parseRegexLines } from '../ingest/formats/regex-lines.js';
import { ShardSink, type RejectReason, type StreamDefaults } from '../ingest/sink.js';
import { HashRing } from '../shard/hash-ring.js';
import { backoffDelay } from '../supervisor/backoff.js';
import { AggregatorPool, readAggregatorConfig, watchAggregatorConfig, type AggregatorStats, type SendPolicy } from './aggregators.js';
import {
  MAX_RETIRED_SOURCES,
  committedSources,
  loadCollectorState,
  saveCollectorState,
  sourceNameOf,
  type CollectorState,
  type FileCheckpoint,
  type SourceCommit,
} from './checkpoint.js';
import { DiskBuffer, type BufferFullPolicy, type DiskBufferStats } from './disk-buffer.js';
import { TailedFile, identityOf, type LineChunk } from './tailer.js';
import { JetStreamTransport } from '../cluster/jetstream-transport.js';
import { isNatsAddress, parseServers, type NatsOptions } from '../cluster/nats.js';
import { GrpcTransport, type BatchTransport, type GrpcTransportOptions, type RingInfo } from './transport.js';

/** How the lines of the tailed files are read. */
export type LineFormat =
  | { readonly type: 'ndjson' }
  | { readonly type: 'logfmt' }
  /** Named groups ts, level, service, server, region, msg. */
  | { readonly type: 'regex'; readonly pattern: string; readonly keepUnmatched?: boolean };

/** Positions of let-go files remembered, so a file found again resumes rather than ships twice. */
const MAX_LET_GO_FILES = 256;

export interface CollectorOptions {
  /** Globs of files to follow (new matches are picked up as they appear). */
  readonly include: readonly string[];
  /** Globs to leave out (default: compressed rotations, *.gz). */
  readonly exclude?: readonly string[];
  readonly format?: LineFormat;
  /** Where the checkpoint and the disk buffer live. */
  readonly stateDir: string;
  /** A file listing the aggregators, `{"aggregators": ["host:port"]}`, reloaded when it changes. */
  readonly aggregatorsFile?: string;
  /** Or a fixed list. */
  readonly aggregators?: readonly string[];
  /** How to reach an aggregator (default gRPC PushBatches). */
  readonly transportFor?: (address: string) => BatchTransport;
  /** Token and TLS for the default gRPC transport. */
  readonly grpc?: GrpcTransportOptions;
  /** Credentials and TLS for aggregators given as nats:// URLs (a cluster's JetStream). */
  readonly nats?: Omit<NatsOptions, 'servers'>;
  /**
   * Labels: service, server and region are what a line gets when it names
   * none (default: this host's name as the server); every other label is
   * added to every entry's stream labels (`env: prod`, say), a line's own
   * labels winning a name they share.
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** Longest line, bytes (default 256 KiB). */
  readonly maxLineBytes?: number;
  /** Bytes read from a file at a time (default 1 MiB). */
  readonly readBytes?: number;
  /** Batches being sent at once (default 8); reading waits beyond it. */
  readonly maxInFlight?: number;
  /** How often files are looked for and checked for growth when no change is signalled (default 250 ms). */
  readonly pollMs?: number;
  /** A rotated-away or deleted file is read until it has been quiet this long (default 2 s): its writer may not have reopened yet. */
  readonly rotateWaitMs?: number;
  /** Files found at the first start (no checkpoint): read from the beginning (default) or only what is appended from now on. */
  readonly startAt?: 'beginning' | 'end';
  readonly send?: SendPolicy;
  readonly buffer?: { readonly maxBytes?: number; readonly policy?: BufferFullPolicy };
  readonly log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface CollectorStats {
  files: number;
  linesRead: number;
  /** Entries acknowledged by an aggregator as durable (directly or from the disk buffer). */
  acked: number;
  /** Entries handed to the disk buffer while no aggregator took them. */
  buffered: number;
  /** Entries lost on purpose: the disk buffer was full under a drop policy. */
  dropped: number;
  /** Entries an aggregator refused as bad (not retried). */
  refused: number;
  rejected: Partial<Record<RejectReason, number>>;
  checkpoints: number;
  buffer: DiskBufferStats;
  aggregators: AggregatorStats[];
}

interface Stream {
  source: string;
  next: bigint;
}

/** A chunk's batches on their way; the file's checkpoint moves past the chunk once all are acknowledged or buffered. */
interface Unit {
  pending: number;
  readonly offset: number;
  readonly next: Record<string, string>;
  /** The file's refused lines up to the unit's end. */
  readonly rejected: number;
}

/** A followed file and what is committed for it. */
interface Followed {
  readonly file: TailedFile;
  readonly serial: number;
  readonly streams: Map<string, Stream>;
  readonly units: Unit[];
  committed: { offset: number; next: Record<string, string>; rejected: number };
  /** Refused lines so far (read ahead of the checkpoint). */
  rejected: number;
  /** Scans in a row that did not list it (a file is let go only after two: see scan). */
  missedScans: number;
}

/** A collector's side of loss accounting for one source. */
export interface CollectorSourceAccount extends SourceCommit {
  /** Numbers given out so far (committed, or on their way to an aggregator or the buffer). */
  readonly numbered: number;
}

/** Resolves when notified or after a time, whichever is first: waiting without spinning. */
class Wakeup {
  private wake: (() => void) | undefined;
  notify(): void {
    this.wake?.();
  }
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }
}

/**
 * Tails log files and ships their lines to aggregators, losing none.
 *
 * Each file's entries are numbered per shard under a source of their own
 * (the collector's id, the file's serial, the shard's), in file order, so
 * numbering does not depend on how reads interleave across files. A file's
 * checkpoint (its offset and its next numbers) moves forward only when
 * every batch cut from the lines before it is acknowledged by an aggregator
 * or written to the disk buffer. After a crash, each file is read again
 * from its checkpoint, the same lines get the same numbers, and what was
 * sent already is stored once by the shards' (source, seq) deduplication.
 */
export class Collector {
  private state: CollectorState;
  private readonly files = new Map<string, Followed>();
  private readonly pool: AggregatorPool;
  private readonly buffer: DiskBuffer;
  private ring: RingInfo | undefined;
  private hashRing: HashRing | undefined;
  private stopping = false;
  private readonly loopWake = new Wakeup();
  private readonly drainWake = new Wakeup();
  private readonly slotWake = new Wakeup();
  private inFlight = 0;
  private readonly deliveries = new Set<Promise<void>>();
  private ringFetchedAt = 0;
  private firstScan: boolean;
  private lastScan = 0;
  private checkpointDirty = false;
  private readonly watchers = new Map<string, FSWatcher>();
  private unwatchConfig: (() => void) | undefined;
  private loops: Promise<void>[] = [];
  private readonly counters = { linesRead: 0, acked: 0, buffered: 0, dropped: 0, refused: 0, checkpoints: 0 };
  private readonly rejected: Partial<Record<RejectReason, number>> = {};
  private readonly o: Required<Pick<CollectorOptions, 'maxLineBytes' | 'readBytes' | 'maxInFlight' | 'pollMs' | 'rotateWaitMs'>>;
  private readonly log: NonNullable<CollectorOptions['log']>;
  private readonly labels: Partial<Omit<StreamDefaults, 'labels'>>;
  private readonly streamLabels: Readonly<Record<string, string>>;

  private constructor(private readonly options: CollectorOptions) {
    this.state = loadCollectorState(options.stateDir);
    this.firstScan = this.state.files.length === 0;
    this.ring = this.state.ring;
    if (this.ring) this.hashRing = new HashRing([...this.ring.shards], this.ring.virtualNodes);
    this.o = {
      maxLineBytes: options.maxLineBytes ?? 256 * 1024,
      readBytes: options.readBytes ?? 1 << 20,
      maxInFlight: options.maxInFlight ?? 8,
      pollMs: options.pollMs ?? 250,
      rotateWaitMs: options.rotateWaitMs ?? 2000,
    };
    this.log = options.log ?? (() => {});
    const { service, server, region, ...others } = options.labels ?? {};
    this.labels = { server: server ?? hostname(), ...(service !== undefined ? { service } : {}), ...(region !== undefined ? { region } : {}) };
    this.streamLabels = others;
    this.pool = new AggregatorPool(
      options.transportFor ??
        // nats://a:4222,nats://b:4222 is a cluster's JetStream (the client fails over between its servers); anything else a gRPC aggregator.
        ((address) =>
          isNatsAddress(address) ? new JetStreamTransport({ ...options.nats, servers: parseServers(address) }) : new GrpcTransport(address, options.grpc)),
      options.send,
    );
    this.buffer = new DiskBuffer({ dir: join(options.stateDir, 'buffer'), maxBytes: options.buffer?.maxBytes, policy: options.buffer?.policy });
  }

  /** Starts following: the aggregator list is read (and watched), files are found, and shipping begins. */
  static async start(options: CollectorOptions): Promise<Collector> {
    if (options.format?.type === 'regex') {
      try {
        new RegExp(options.format.pattern);
      } catch (err) {
        throw new TributaryError('E_CONFIG_INVALID', `line pattern: ${(err as Error).message}`, { pattern: options.format.pattern });
      }
    }
    const c = new Collector(options);
    if (options.aggregatorsFile) {
      c.pool.setAddresses(readAggregatorConfig(options.aggregatorsFile).aggregators);
      c.unwatchConfig = watchAggregatorConfig(
        options.aggregatorsFile,
        (config) => {
          c.pool.setAddresses(config.aggregators);
          c.log('info', `collector: aggregators now ${config.aggregators.join(', ')}`);
          c.drainWake.notify();
        },
        (err) => c.log('error', `collector: ${err.message} (keeping ${c.pool.addresses.join(', ')})`),
      );
    } else if (options.aggregators && options.aggregators.length > 0) {
      c.pool.setAddresses(options.aggregators);
    } else {
      throw new TributaryError('E_CONFIG_INVALID', 'a collector needs aggregators: a file (aggregatorsFile) or a list', {});
    }
    c.loops = [c.readLoop(), c.drainLoop()];
    return c;
  }

  stats(): CollectorStats {
    return { files: this.files.size, ...this.counters, rejected: { ...this.rejected }, buffer: this.buffer.stats, aggregators: this.pool.stats() };
  }

  /**
   * Per source: what was numbered and what is committed (acknowledged by an
   * aggregator, or in the disk buffer). Compared with the daemon's view of
   * the same sources (GET /api/v1/sources), it shows whether every entry
   * arrived: `tributary sources --collector-state DIR` does the comparison.
   */
  sources(): CollectorSourceAccount[] {
    const numbered = new Map<string, number>();
    for (const f of this.files.values()) for (const s of f.streams.values()) numbered.set(s.source, Number(s.next));
    return committedSources(this.currentState()).map((c) => ({ ...c, numbered: numbered.get(c.source) ?? c.committed }));
  }

  private stopped: Promise<void> | undefined;

  /** Stops reading, waits for batches in flight (each acknowledged or buffered), writes the checkpoint, and closes. Calling it again waits for the same stop. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.loopWake.notify();
    this.drainWake.notify();
    this.slotWake.notify();
    await Promise.all(this.loops);
    // Every batch in flight ends acknowledged, buffered, or (policy block, stopping) left for the restart to resend.
    await Promise.all(this.deliveries);
    this.writeCheckpoint();
    this.unwatchConfig?.();
    for (const w of this.watchers.values()) w.close();
    for (const f of this.files.values()) f.file.close();
    this.pool.close();
    this.buffer.close();
  }

  // --- reading -------------------------------------------------------------

  private async readLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        if (!this.hashRing) await this.fetchRing();
        else if (Date.now() - this.ringFetchedAt > 30_000) await this.refreshRing();
        if (Date.now() - this.lastScan >= this.o.pollMs) await this.scan();
        let worked = false;
        for (const f of [...this.files.values()]) {
          if (this.stopping) break;
          worked = (await this.readFile(f)) || worked;
        }
        if (this.checkpointDirty) this.writeCheckpoint();
        if (!worked) await this.loopWake.wait(this.o.pollMs);
      } catch (err) {
        this.log('error', `collector: ${(err as Error).message}`);
        await this.loopWake.wait(this.o.pollMs * 4);
      }
    }
  }

  /** The ring, from an aggregator; until one answers (and none is cached), nothing can be cut and files wait. */
  private async fetchRing(): Promise<void> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        this.setRing(await this.pool.ring());
        return;
      } catch (err) {
        this.log('warn', `collector: no ring yet: ${(err as Error).message}`);
        await this.loopWake.wait(backoffDelay({ initialMs: 200, maxMs: 5000, jitter: 1 }, attempt));
      }
    }
  }

  /** Shards come and go: the ring is asked for again now and then (failure keeps the one there is). */
  private async refreshRing(): Promise<void> {
    this.ringFetchedAt = Date.now();
    try {
      const ring = await this.pool.ring();
      if (ring.shards.join() !== this.ring?.shards.join() || ring.virtualNodes !== this.ring.virtualNodes) this.setRing(ring);
    } catch {
      // unreachable for now: the deliveries notice and buffer
    }
  }

  private setRing(ring: RingInfo): void {
    this.ringFetchedAt = Date.now();
    this.ring = ring;
    this.hashRing = new HashRing([...ring.shards], ring.virtualNodes);
    this.state = { ...this.state, ring };
    this.checkpointDirty = true;
  }

  /** Finds files matching the globs: new ones are followed, and files no longer matched are let go once drained. */
  private async scan(): Promise<void> {
    this.lastScan = Date.now();
    const paths = await glob([...this.options.include], { ignore: [...(this.options.exclude ?? ['**/*.gz'])], absolute: true, onlyFiles: true });
    const seen = new Set<string>();
    const saved = new Map([...(this.state.letGo ?? []), ...this.state.files].map((f) => [identityOf(f.dev, f.ino), f]));
    for (const path of paths) {
      let st;
      try {
        st = statSync(path);
      } catch {
        continue; // gone between listing and stat
      }
      const id = identityOf(st.dev, st.ino);
      seen.add(id);
      const known = this.files.get(id);
      if (known) {
        known.file.path = path; // renamed within the globs (rotation): same file, new name
        known.missedScans = 0;
        continue;
      }
      this.follow(path, id, saved.get(id), st.size);
    }
    this.watchDirs(paths);
    this.firstScan = false;
    for (const [id, f] of this.files) {
      if (seen.has(id)) continue;
      // Renamed out of the globs, or deleted: read to the end, then let go after the rotate wait. Only
      // once two scans in a row missed it: a rename landing between the listing and its stat hides a file
      // from one scan, and a file let go then would be found again as new and shipped twice (seen under load).
      if (
        ++f.missedScans >= 2 &&
        f.units.length === 0 &&
        f.file.pendingBytes === 0 &&
        Date.now() - f.file.lastActivity >= this.o.rotateWaitMs &&
        f.file.size() <= f.file.offset
      ) {
        f.file.close();
        this.files.delete(id);
        this.retire(f);
        this.checkpointDirty = true;
      }
    }
  }

  private follow(path: string, id: string, saved: FileCheckpoint | undefined, size: number): void {
    const resumable = saved !== undefined && TailedFile.matches(path, saved);
    const offset = resumable ? saved.offset : this.firstScan && this.options.startAt === 'end' ? size : 0;
    let file: TailedFile;
    try {
      file = new TailedFile(path, offset, this.o.maxLineBytes + 16_384);
    } catch (err) {
      this.log('warn', `collector: cannot open ${path}: ${(err as Error).message}`);
      return;
    }
    const serial = resumable ? saved.serial : this.state.nextSerial;
    if (!resumable) this.state = { ...this.state, nextSerial: serial + 1 };
    else if (this.state.letGo?.includes(saved)) {
      // Followed again: its sources are live once more, not retired.
      const live = new Set(Object.keys(saved.next).map((shard) => this.sourceName(serial, shard)));
      this.state = {
        ...this.state,
        letGo: this.state.letGo.filter((x) => x !== saved),
        retired: (this.state.retired ?? []).filter((r) => !live.has(r.source)),
      };
    }
    const next = resumable ? saved.next : {};
    const rejected = resumable ? (saved.rejected ?? 0) : 0;
    const streams = new Map<string, Stream>();
    for (const [shard, n] of Object.entries(next)) streams.set(shard, { source: this.sourceName(serial, shard), next: BigInt(n) });
    this.files.set(id, { file, serial, streams, units: [], committed: { offset, next, rejected }, rejected, missedScans: 0 });
    this.checkpointDirty = true;
    this.log('info', `collector: following ${path}${resumable ? ` from byte ${offset}` : ''}`);
  }

  /** fs.watch on each directory wakes the loop at once when a file grows or appears; polling covers file systems where it cannot. */
  private watchDirs(paths: readonly string[]): void {
    for (const dir of new Set(paths.map((p) => dirname(resolve(p))))) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.loopWake.notify());
        w.on('error', () => w.close());
        this.watchers.set(dir, w);
      } catch {
        // polling only
      }
    }
  }

  private sourceName(serial: number, shard: string): string {
    let n = this.state.shards[shard];
    if (n === undefined) {
      n = Object.keys(this.state.shards).length;
      this.state = { ...this.state, shards: { ...this.state.shards, [shard]: n } };
    }
    return sourceNameOf(this.state.id, serial, n);
  }

  /** A file let go keeps its sources' committed numbers in the checkpoint, for accounting. */
  private retire(f: Followed): void {
    const retired = [...(this.state.retired ?? [])];
    for (const [shard, next] of Object.entries(f.committed.next)) {
      retired.push({ source: this.sourceName(f.serial, shard), path: f.file.path, committed: next });
    }
    const letGo = [...(this.state.letGo ?? []), this.checkpointOf(f)].slice(-MAX_LET_GO_FILES);
    this.state = { ...this.state, retired: retired.slice(-MAX_RETIRED_SOURCES), letGo };
  }

  private checkpointOf(f: Followed): FileCheckpoint {
    return { ...f.file.position(), offset: f.committed.offset, serial: f.serial, next: f.committed.next, rejected: f.committed.rejected };
  }

  /** Reads and ships one chunk of a file; false when it had nothing new. */
  private async readFile(f: Followed): Promise<boolean> {
    const quiet = Date.now() - f.file.lastActivity >= this.o.rotateWaitMs;
    // A last line without a newline is shipped once the file is quiet and no longer the one its writer appends to.
    const flushPartial = quiet && f.file.rotatedAway();
    let chunk: LineChunk | undefined;
    try {
      chunk = f.file.read(this.o.readBytes, flushPartial);
    } catch (err) {
      this.log('warn', `collector: reading ${f.file.path}: ${(err as Error).message}`);
      return false;
    }
    if (!chunk) return false;
    await this.ship(f, chunk);
    return true;
  }

  private parse(chunk: LineChunk): ReturnType<ShardSink['finish']> {
    const sink = new ShardSink(
      this.ring!.shards,
      { maxLineBytes: this.o.maxLineBytes, defaults: this.labels, labels: this.streamLabels, fingerprints: false },
      chunk.bytes.length,
    );
    const format = this.options.format ?? { type: 'ndjson' };
    if (format.type === 'ndjson') parseNdjson(sink, chunk.bytes, chunk.firstLine);
    else if (format.type === 'logfmt') parseLogfmt(sink, chunk.bytes, chunk.firstLine);
    else parseRegexLines(sink, chunk.bytes, new RegExp(format.pattern), format.keepUnmatched ?? false, chunk.firstLine);
    return sink.finish();
  }

  private async ship(f: Followed, chunk: LineChunk): Promise<void> {
    const result = this.parse(chunk);
    let lines = 0;
    for (const [reason, n] of Object.entries(result.rejected) as [RejectReason, number][]) {
      this.rejected[reason] = (this.rejected[reason] ?? 0) + n;
      lines += n;
    }
    f.rejected += lines;
    this.counters.linesRead += result.accepted + lines;
    if (result.errors.length > 0) this.log('warn', `collector: ${f.file.path}: ${lines} lines refused; first: ${result.errors[0]!.message}`);
    const batches = result.batches.map((b) => {
      let s = f.streams.get(b.shard);
      if (!s) f.streams.set(b.shard, (s = { source: this.sourceName(f.serial, b.shard), next: 0n }));
      stampBatch(b.bytes, s.source, s.next);
      s.next += BigInt(b.count);
      return b;
    });
    const unit: Unit = {
      pending: batches.length,
      offset: chunk.endOffset,
      next: Object.fromEntries([...f.streams].map(([shard, s]) => [shard, s.next.toString()])),
      rejected: f.rejected,
    };
    f.units.push(unit);
    if (batches.length === 0) this.unitDone(f);
    for (const b of batches) {
      while (this.inFlight >= this.o.maxInFlight && !this.stopping) await this.slotWake.wait(1000);
      this.inFlight++;
      const delivery = this.deliver(b.shard, b.bytes, b.count)
        .then(() => {
          unit.pending--;
          if (unit.pending === 0) this.unitDone(f);
        })
        .catch((err: Error) => this.log('error', `collector: a batch was neither sent nor buffered (resent after a restart): ${err.message}`))
        .finally(() => {
          this.inFlight--;
          this.deliveries.delete(delivery);
          this.slotWake.notify();
        });
      this.deliveries.add(delivery);
    }
  }

  /** Moves the file's checkpoint over every leading unit that is finished. */
  private unitDone(f: Followed): void {
    while (f.units.length > 0 && f.units[0]!.pending === 0) {
      const u = f.units.shift()!;
      f.committed = { offset: u.offset, next: u.next, rejected: u.rejected };
      this.checkpointDirty = true;
    }
    this.loopWake.notify();
  }

  // --- sending -------------------------------------------------------------

  /** Sends a batch until an aggregator holds it, or the disk buffer does. Never rejects. */
  private async deliver(shard: string, batch: Uint8Array, count: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        // With no aggregator reachable, straight to the buffer instead of waiting out timeouts.
        if (this.pool.anyAvailable()) {
          await this.pool.send(shard, batch);
          this.counters.acked += count;
          return;
        }
      } catch (err) {
        if (!isRetriable(err)) {
          this.counters.refused += count;
          this.log('error', `collector: a batch of ${count} entries for ${shard} was refused: ${(err as Error).message}`);
          return;
        }
      }
      try {
        if (this.buffer.push({ shard, batch, entries: count })) this.counters.buffered += count;
        else {
          this.counters.dropped += count;
          this.log('error', `collector: disk buffer full (policy drop_newest): ${count} entries dropped`);
        }
        this.drainWake.notify();
        return;
      } catch (err) {
        // Full (policy block, or the disk itself) or failing: this batch waits (and with it, reading), until an aggregator or buffer space comes back.
        if (attempt === 1) this.log('error', `collector: ${(err as Error).message}: reading paused until aggregators take batches again`);
        if (this.stopping) throw new TributaryError('E_BUFFER_FULL', 'stopping with the disk buffer full', {});
        await new Promise((r) => setTimeout(r, backoffDelay({ initialMs: 100, maxMs: 2000, jitter: 1 }, attempt)));
      }
    }
  }

  /** Empties the disk buffer, oldest first, whenever an aggregator is reachable. */
  private async drainLoop(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const item = this.buffer.isEmpty || !this.pool.anyAvailable() ? undefined : this.buffer.peek();
      if (!item) {
        await this.drainWake.wait(this.o.pollMs);
        continue;
      }
      try {
        await this.pool.send(item.shard, item.batch);
        this.buffer.ack();
        this.counters.acked += item.entries;
        attempt = 0;
      } catch (err) {
        if (!isRetriable(err)) {
          this.buffer.ack(); // refused as bad: retrying would block the buffer forever
          this.counters.refused += item.entries;
          this.log('error', `collector: a buffered batch was refused: ${(err as Error).message}`);
          continue;
        }
        await this.drainWake.wait(backoffDelay({ initialMs: 200, maxMs: 5000, jitter: 1 }, ++attempt));
      }
    }
  }

  private currentState(): CollectorState {
    const files: FileCheckpoint[] = [...this.files.values()].map((f) => this.checkpointOf(f));
    return { ...this.state, files };
  }

  private writeCheckpoint(): void {
    this.state = this.currentState();
    saveCollectorState(this.options.stateDir, this.state);
    this.checkpointDirty = false;
    this.counters.checkpoints++;
  }
}
