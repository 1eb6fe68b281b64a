import { TributaryError } from '../errors.js';
import { encodeBatch } from '../batch/encode.js';
import { BatchReader } from '../batch/reader.js';
import type { IdentifiedEntry, LogEntry } from '../model/entry.js';
import type { Level } from '../model/level.js';
import type { BlockIndex } from './block-format.js';
import { blockPages, pageEntryExtras, readBlockIndex, readRollup } from './block-reader.js';
import { ANY_STREAM, type Page, type PageSelection } from './page.js';
import { PairsCache } from '../model/labels.js';
import type { Rollup } from './rollup.js';
import { Dedup, type SourceReport } from './dedup.js';
import { nodeFs, unlinkAsync, type StorageFs } from './fs.js';
import type { ResourceLimits } from 'node:worker_threads';
import { SlabArena } from './arena.js';
import { PageCache } from './page-cache.js';
import { LabelDictionary } from './labels.js';
import { inlineSealer, poolSealer, type Sealer } from './sealer.js';
import type { PagePostings } from './postings.js';
import { Wal, comparePositions, type WalPosition, type WalRecoveryReport } from './wal.js';

export interface StoreOptions {
  readonly dir: string;
  readonly fs?: StorageFs;
  readonly walSegmentBytes?: number;
  /** Seal the memtable into a block at this many entries... */
  readonly sealEntries?: number;
  /** ...or this many bytes of batches... */
  readonly sealBytes?: number;
  /** ...or when its oldest entry arrived this long ago. */
  readonly sealAgeMs?: number;
  /** Sources idle this long are forgotten by deduplication. */
  readonly dedupWindowMs?: number;
  /**
   * Most bytes of batches the memtable may hold while a seal is in flight
   * (default 2 x sealBytes). Past it, `full` is true and the shard holds new
   * frames in its mailbox until the seal completes: memory stays bounded
   * (the batches being sealed plus the memtable <= 2 x maxMemtableBytes, plus
   * one batch) when ingest outruns sealing, and the backpressure reaches the
   * edges.
   */
  readonly maxMemtableBytes?: number;
  /** Bytes of decoded pages kept for queries (default 64 MiB). */
  readonly pageCacheBytes?: number;
  /**
   * Make and touch the memtable's whole allowance (memtable plus the batches
   * being sealed) at open, so resident memory does not grow with the data
   * (default false: tests open many small stores).
   */
  readonly reserveMemtable?: boolean;
  /** V8 limits of the seal pool's thread (the first store of a thread to start the pool sets them). */
  readonly sealThreadLimits?: ResourceLimits;
  /** Seal on a pool thread (default) or inline. Inline whenever a custom `fs` is given. */
  readonly sealInBackground?: boolean;
  readonly now?: () => number;
}

export interface AppendResult {
  /** Entries stored (new). */
  readonly accepted: number;
  /** Entries already stored (a resend), dropped. */
  readonly duplicates: number;
  /** Where in the WAL the entries went; durable once sync() reaches it. Null when nothing was written. */
  readonly position: WalPosition | null;
  /** The stored entries, as batches (the whole batch, or the new ranges of a partial resend): read them before the next seal. */
  readonly stored: readonly BatchReader[];
}

export interface RecoveryReport {
  readonly blocks: number;
  readonly blockEntries: number;
  /** Blocks by format version: older ones are read in place, new seals and compactions write the current one. */
  readonly formats: Record<string, number>;
  readonly quarantined: { file: string; reason: string }[];
  readonly removedTmp: number;
  readonly wal: WalRecoveryReport;
  /** Entries replayed from the WAL into the memtable (after deduplication). */
  readonly replayedEntries: number;
  readonly replayDuplicates: number;
  readonly invalidRecords: number;
  readonly ms: number;
}

/** Upper bounds (ms) of the lateness buckets: how long after its timestamp an entry arrived. */
export const LATENESS_BUCKETS_MS = [1_000, 10_000, 60_000, 600_000, 3_600_000, Infinity] as const;

/** Per source: entries per lateness bucket, plus entries stamped more than a second in the future. */
export interface Lateness {
  readonly buckets: number[];
  readonly future: number;
}

export interface StoreView {
  readonly blocks: readonly BlockIndex[];
  readonly batches: readonly BatchReader[];
  readonly fs: StorageFs;
  labelId(name: string): number | undefined;
  labelName(id: number): string;
  /** Every label name, indexed by id. */
  labelNames(): readonly string[];
  /** A decoded page of a sealed block (cached). */
  page(block: BlockIndex, pageNo: number): Page;
  /** The block's per-minute roll-ups (cached), or null if it has none. */
  rollup(block: BlockIndex): Rollup | null;
  /**
   * Whether some message of the block can contain every needle: false only
   * where its templates (v4) show that none can, read without any page.
   */
  mayContain(block: BlockIndex, needles: readonly Uint8Array[]): boolean;
  /** The block's postings from label ids to pages (cached), or null if it has none (before blocks v4). */
  postings(block: BlockIndex): PagePostings | null;
}

export interface StoreStats {
  readonly blocks: number;
  readonly blockEntries: number;
  readonly blockBytes: number;
  readonly memtableEntries: number;
  /** Entries of the generation a seal in flight is writing: readable, in neither the memtable nor a block yet. */
  readonly sealingEntries: number;
  readonly memtableBytes: number;
  readonly walBytes: number;
  readonly dedupSources: number;
  readonly dedupIntervals: number;
  /** Background work in flight: a seal, a compaction. */
  readonly sealing: boolean;
  readonly compacting: boolean;
  readonly duplicatesDropped: number;
  /** Lateness histogram per source (live ingest only): skewed clocks and late batches show here. */
  readonly lateness: Record<string, Lateness>;
}

interface MemBatch {
  readonly reader: BatchReader;
  readonly arrivedAt: number;
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const ALL_ROWS: PageSelection = { from: -(1n << 63n), to: 1n << 63n, levelMask: 0xf, streams: ANY_STREAM, backward: false };
const SLAB_BYTES = 4 * 1024 * 1024;

/**
 * One shard's storage: WAL, memtable and sealed blocks in a directory.
 *
 *   dir/wal/       write-ahead log segments and checkpoint
 *   dir/labels/    label dictionary log
 *   dir/blocks/    sealed blocks (NNN.blk), written via .tmp + rename
 *   dir/quarantine/ blocks that failed their checks at open
 *
 * Single-threaded by design: the shard actor that owns it is the only caller.
 */
export class ShardStore {
  private readonly fs: StorageFs;
  private readonly wal: Wal;
  private readonly labels: LabelDictionary;
  private readonly dedup: Dedup;
  private readonly blockList: BlockIndex[] = [];
  private memtable: MemBatch[] = [];
  private readonly arena: SlabArena;
  /** Batches taken out of the memtable by a seal in flight: still readable until their block is on disk. */
  private sealing: MemBatch[] = [];
  private sealInFlight: Promise<BlockIndex | null> | undefined;
  private compactInFlight: Promise<BlockIndex | null> | undefined;
  /** Blocks being merged: retention leaves them alone (deleting one would resurrect nothing but break the merge). */
  private compacting = new Set<BlockIndex>();
  private memEntries = 0;
  private memBytes = 0;
  private nextBlockId = 1;
  private duplicatesDropped = 0;
  private readonly lateness = new Map<string, Lateness>();
  private readonly now: () => number;
  private readonly opts: Required<
    Omit<StoreOptions, 'fs' | 'now' | 'dir' | 'walSegmentBytes' | 'sealInBackground' | 'pageCacheBytes' | 'reserveMemtable' | 'sealThreadLimits'>
  >;
  private readonly pageCache: PageCache;
  private readonly rollups = new Map<number, Rollup | null>();
  private readonly sealer: Sealer;

  private constructor(
    readonly dir: string,
    options: StoreOptions,
    wal: Wal,
    labels: LabelDictionary,
  ) {
    this.fs = options.fs ?? nodeFs;
    this.wal = wal;
    this.labels = labels;
    this.now = options.now ?? Date.now;
    this.opts = {
      sealEntries: options.sealEntries ?? 1 << 20,
      sealBytes: options.sealBytes ?? 8 * 1024 * 1024,
      sealAgeMs: options.sealAgeMs ?? 60_000,
      dedupWindowMs: options.dedupWindowMs ?? 3_600_000,
      maxMemtableBytes: options.maxMemtableBytes ?? 2 * (options.sealBytes ?? 8 * 1024 * 1024),
    };
    this.dedup = new Dedup(this.opts.dedupWindowMs);
    this.pageCache = new PageCache(options.pageCacheBytes ?? 64 * 1024 * 1024);
    this.arena = new SlabArena(SLAB_BYTES, {
      // The bound of memtable plus seal in flight (see maxMemtableBytes), and a slab per generation for fragmentation.
      reserve: options.reserveMemtable ? Math.ceil((2 * this.opts.maxMemtableBytes) / SLAB_BYTES) + 2 : 0,
    });
    this.sealer = options.fs === undefined && options.sealInBackground !== false ? poolSealer(options.sealThreadLimits) : inlineSealer(this.fs);
  }

  /** Opens (creating) a shard directory and recovers it: blocks, then the WAL after the checkpoint. */
  static open(options: StoreOptions): { store: ShardStore; report: RecoveryReport } {
    const started = performance.now();
    const fs = options.fs ?? nodeFs;
    const dir = options.dir;
    // Fail at open, with the path and the reason, rather than at the first write.
    for (const sub of ['', '/blocks', '/quarantine']) {
      const path = `${dir}${sub}`;
      try {
        fs.mkdirSync(path);
        const probe = `${path}/.writable`;
        fs.writeFileSync(probe, new Uint8Array(1));
        fs.unlinkSync(probe);
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new TributaryError(
          'E_STORAGE_UNWRITABLE',
          `data directory ${path} is not writable (${reason}): ${(err as Error).message}`,
          { path, reason },
          { cause: err },
        );
      }
    }
    const labels = LabelDictionary.open(`${dir}/labels`, { fs });
    // The WAL is opened after the blocks are known, so replay can deduplicate against them.
    const blocks: BlockIndex[] = [];
    const quarantined: RecoveryReport['quarantined'] = [];
    let removedTmp = 0;
    let maxId = 0;
    for (const name of fs.readdirSync(`${dir}/blocks`).sort()) {
      const path = `${dir}/blocks/${name}`;
      if (name.endsWith('.tmp')) {
        fs.unlinkSync(path); // a seal that did not finish: its entries are still in the WAL
        removedTmp++;
        continue;
      }
      const m = /^(\d{12})\.blk$/.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      maxId = Math.max(maxId, id);
      try {
        blocks.push(readBlockIndex(fs, path, id));
      } catch (err) {
        // A block from a newer release is not damage: moving it aside would lose it for that release.
        if ((err as TributaryError).code === 'E_FORMAT_TOO_NEW') throw err;
        fs.renameSync(path, `${dir}/quarantine/${name}`);
        quarantined.push({ file: name, reason: (err as Error).message });
      }
    }
    // A compacted block names the blocks it replaced: any still here (a crash came between
    // writing it and deleting them) would duplicate its entries, so they go now.
    const replaced = new Set(blocks.flatMap((b) => b.replaces ?? []));
    for (const b of blocks.filter((x) => replaced.has(x.id))) {
      fs.unlinkSync(b.path);
      blocks.splice(blocks.indexOf(b), 1);
    }
    let replayedEntries = 0;
    let replayDuplicates = 0;
    let invalidRecords = 0;
    const pending: Uint8Array[] = [];
    const { wal, report: walReport } = Wal.open(`${dir}/wal`, (r) => pending.push(r.payload), { fs, segmentBytes: options.walSegmentBytes });
    const store = new ShardStore(dir, options, wal, labels);
    store.nextBlockId = maxId + 1;
    for (const b of blocks) {
      store.blockList.push(b);
      for (const s of b.sources) for (let i = 0; i + 1 < s.ranges.length; i += 2) store.dedup.add(s.id, s.ranges[i]!, s.ranges[i + 1]!, b.sealedAt);
    }
    for (const payload of pending) {
      try {
        // insert copies the batch into the memtable's slabs: the segment buffer is not kept.
        const r = store.insert(payload, false);
        replayedEntries += r.accepted;
        replayDuplicates += r.duplicates;
      } catch {
        invalidRecords++; // a record that passed its CRC but is not a valid batch: never acknowledged as data
      }
    }
    return {
      store,
      report: {
        blocks: blocks.length,
        blockEntries: blocks.reduce((a, b) => a + b.entries, 0),
        formats: countFormats(blocks),
        quarantined,
        removedTmp,
        wal: walReport,
        replayedEntries,
        replayDuplicates,
        invalidRecords,
        ms: performance.now() - started,
      },
    };
  }

  /**
   * Validates a LogBatch, drops entries already stored, logs the rest to the
   * WAL and adds them to the memtable (queryable at once). Not durable until
   * sync() covers the returned position. Throws E_BATCH_* for bad input and
   * E_DISK_FULL / E_IO when the WAL cannot be written; nothing is stored then.
   */
  append(batch: Uint8Array): AppendResult {
    return this.insert(batch, true);
  }

  private insert(batch: Uint8Array, log: boolean): AppendResult {
    const reader = BatchReader.open(batch);
    reader.validate();
    const first = Number(reader.firstSeq);
    if (first + reader.count > MAX_SEQ) {
      throw new TributaryError('E_INVALID_ARGUMENT', `sequence numbers beyond 2^53 are not supported (source ${reader.sourceId})`, { source: reader.sourceId });
    }
    if (reader.count === 0) return { accepted: 0, duplicates: 0, position: null, stored: [] };
    const missing = this.dedup.missing(reader.sourceId, first, reader.count);
    const fresh = missing.reduce((a, [from, to]) => a + (to - from), 0);
    const duplicates = reader.count - fresh;
    if (duplicates > 0) this.dedup.noteDuplicates(reader.sourceId, duplicates, this.now());
    if (fresh === 0) {
      this.duplicatesDropped += duplicates;
      return { accepted: 0, duplicates, position: null, stored: [] };
    }
    // The common case stores the batch exactly as received; a partial resend is cut to its new ranges.
    const parts = duplicates === 0 ? [reader] : missing.map(([from, to]) => BatchReader.open(subBatch(reader, from - first, to - from)));
    let position: WalPosition | null = null;
    const stored: BatchReader[] = [];
    for (const part of parts) {
      // Kept in the memtable's slabs (shared memory): a seal on a pool thread reads it without a copy.
      const owned = this.arena.alloc(part.raw.byteLength);
      owned.set(part.raw);
      if (log) position = this.wal.append(owned);
      const r = BatchReader.open(owned, { verify: false });
      stored.push(r);
      this.memtable.push({ reader: r, arrivedAt: this.now() });
      this.memEntries += r.count;
      this.memBytes += owned.byteLength;
      this.dedup.add(r.sourceId, Number(r.firstSeq), Number(r.firstSeq) + r.count, this.now());
      if (log) this.measureLateness(r);
    }
    this.duplicatesDropped += duplicates;
    return { accepted: fresh, duplicates, position, stored };
  }

  /**
   * Counts each entry of a live batch into its source's lateness histogram.
   * Nothing is rejected for being late or early: entries are stored whatever
   * their timestamps (blocks sort at seal, queries merge); this is how an
   * operator sees a skewed clock or a batch that waited out an outage.
   */
  private measureLateness(r: BatchReader): void {
    let h = this.lateness.get(r.sourceId);
    if (!h) this.lateness.set(r.sourceId, (h = { buckets: new Array<number>(LATENESS_BUCKETS_MS.length).fill(0), future: 0 }));
    const nowNs = BigInt(this.now()) * 1_000_000n;
    const ts = r.timestamps();
    for (let i = 0; i < ts.length; i++) {
      const lateMs = Number(nowNs - ts[i]!) / 1e6;
      if (lateMs < -1000) {
        (h as { future: number }).future++;
        continue;
      }
      let b = 0;
      while (lateMs >= LATENESS_BUCKETS_MS[b]!) b++;
      h.buckets[b]!++;
    }
  }

  /** Makes everything appended so far durable (group commit: concurrent calls share an fdatasync). */
  sync(): Promise<WalPosition> {
    return this.wal.sync();
  }

  get durablePosition(): WalPosition {
    return this.wal.durablePosition;
  }

  /** True while the memtable is at its limit and a seal is in flight: take no more until it completes. */
  get full(): boolean {
    return this.memBytes >= this.opts.maxMemtableBytes && this.sealInFlight !== undefined;
  }

  /** Resolves when the seal in flight (if any) is done. */
  sealed(): Promise<unknown> {
    return this.sealInFlight?.catch(() => {}) ?? Promise.resolve();
  }

  /** True when the memtable has reached a seal threshold (entries, bytes or age) and no seal is in flight. */
  shouldSeal(): boolean {
    if (this.memEntries === 0 || this.sealInFlight) return false;
    return this.memEntries >= this.opts.sealEntries || this.memBytes >= this.opts.sealBytes || this.now() - this.memtable[0]!.arrivedAt >= this.opts.sealAgeMs;
  }

  /**
   * Seals the memtable into a block: sort by (ts, source, seq), write the
   * block durably, then checkpoint the WAL so replay starts after it.
   *
   * The memtable is swapped out before the first await, so appends that
   * arrive while the seal is in flight go to a fresh memtable (and are not
   * lost with it), and one seal runs at a time (a second call waits for it
   * rather than sealing the same entries again).
   */
  async seal(): Promise<BlockIndex | null> {
    while (this.sealInFlight) await this.sealInFlight;
    if (this.memEntries === 0) return null;
    const walEnd = this.wal.position;
    this.sealing = this.memtable;
    // Label ids are assigned here, on the thread that owns the dictionary; the rest can run elsewhere.
    const batches = this.sealing.map((b) => ({ bytes: b.reader.raw, labelIds: this.labels.idsForBatch(b.reader) }));
    const slabs = this.arena.cut();
    this.memtable = [];
    this.memEntries = 0;
    this.memBytes = 0;
    let sealed = false;
    const run = (async () => {
      try {
        await this.labels.sync(); // the block refers to label ids: they must be on disk first
        const block = await this.sealer.seal({
          dir: `${this.dir}/blocks`,
          id: this.nextBlockId++,
          batches,
          labelCount: this.labels.size,
          walEnd,
          now: this.now(),
        });
        // In one turn: readers see the batches either in the memtable being sealed or in the block, never both.
        this.blockList.push(block);
        this.sealing = []; // nothing reads the sealed batches any more: their slabs can be reused
        this.arena.release(slabs);
        sealed = true;
        this.dedup.expire(this.now());
        // Until the checkpoint is durable a crash replays from the previous one, and replay deduplicates
        // against the block; a failed checkpoint is retried by the next seal.
        await this.wal.checkpoint(walEnd);
        return block;
      } catch (err) {
        if (sealed) throw err;
        // Not sealed: the batches (and their slabs) go back in front of the memtable, to be sealed next time.
        this.arena.adopt(slabs);
        this.memtable = this.sealing.concat(this.memtable);
        for (const b of this.sealing) {
          this.memEntries += b.reader.count;
          this.memBytes += b.reader.byteLength;
        }
        throw err;
      } finally {
        this.sealing = [];
        this.sealInFlight = undefined;
      }
    })();
    this.sealInFlight = run;
    return run;
  }

  /**
   * Merges the longest run of small, consecutive blocks (under `smallBytes`
   * on disk each, at most `targetBytes` together, at least two) into one, on
   * the seal pool. Sizes are compressed bytes; the merge's working set is
   * several times larger, which is why the default target is a quarter of
   * the memtable size (measured: merging runs of up to 1 M entries made the
   * seal thread's heap the largest part of resident memory). Ingest goes on meanwhile; readers see
   * either the old blocks or the new one, never both: the block list is
   * swapped in one step, then the old files are deleted. Returns the new
   * block, or null when there was nothing to merge.
   */
  async compact(options: { smallBytes?: number; targetBytes?: number } = {}): Promise<BlockIndex | null> {
    if (this.compactInFlight) return this.compactInFlight;
    const target = options.targetBytes ?? Math.floor(this.opts.sealBytes / 4);
    const small = options.smallBytes ?? Math.floor(target / 4);
    const byId = [...this.blockList].sort((a, b) => a.id - b.id);
    let best: BlockIndex[] = [];
    for (let i = 0; i < byId.length; i++) {
      const run: BlockIndex[] = [];
      let total = 0;
      for (let j = i; j < byId.length && byId[j]!.bytes < small && total + byId[j]!.bytes <= target; j++) {
        run.push(byId[j]!);
        total += byId[j]!.bytes;
      }
      if (run.length > best.length) best = run;
    }
    if (best.length < 2) return null;
    const walEnd = best.reduce((a, b) => (comparePositions(a, b.walEnd) >= 0 ? a : b.walEnd), best[0]!.walEnd);
    this.compacting = new Set(best);
    const run = (async () => {
      try {
        const block = await this.sealer.compact({
          dir: `${this.dir}/blocks`,
          id: this.nextBlockId++,
          blocks: best,
          labelCount: this.labels.size,
          walEnd,
          now: this.now(),
        });
        this.blockList.splice(0, this.blockList.length, ...this.blockList.filter((b) => !best.includes(b)), block);
        await Promise.all(best.map((b) => unlinkAsync(this.fs, b.path)));
        return block;
      } finally {
        this.compacting = new Set();
        this.compactInFlight = undefined;
      }
    })();
    this.compactInFlight = run;
    return run;
  }

  /**
   * Drops whole sealed blocks, oldest data first: those whose newest entry is
   * older than `maxAgeMs`, then more until the blocks take at most `maxBytes`.
   * Returns what was removed. The memtable is never dropped.
   */
  enforceRetention(policy: { maxAgeMs?: number; maxBytes?: number }): { blocks: number; entries: number; bytes: number } {
    const removed = { blocks: 0, entries: 0, bytes: 0 };
    const drop = (b: BlockIndex) => {
      this.fs.unlinkSync(b.path);
      this.blockList.splice(this.blockList.indexOf(b), 1);
      removed.blocks++;
      removed.entries += b.entries;
      removed.bytes += b.bytes;
    };
    const byAge = this.blockList.filter((b) => !this.compacting.has(b)).sort((a, b) => (a.maxTs < b.maxTs ? -1 : a.maxTs > b.maxTs ? 1 : a.id - b.id));
    if (policy.maxAgeMs !== undefined) {
      const cutoff = BigInt(this.now() - policy.maxAgeMs) * 1_000_000n;
      for (const b of byAge) if (b.maxTs < cutoff) drop(b);
    }
    if (policy.maxBytes !== undefined) {
      let total = this.blockList.reduce((a, b) => a + b.bytes, 0);
      for (const b of byAge) {
        if (total <= policy.maxBytes) break;
        if (!this.blockList.includes(b)) continue;
        total -= b.bytes;
        drop(b);
      }
    }
    return removed;
  }

  /**
   * What a query reads: the sealed blocks and the batches not yet in a block
   * (being sealed, then the memtable), as of now. Read synchronously, on the
   * shard's thread: compaction and retention cannot delete a block between
   * two steps of a synchronous scan.
   */
  /** Per source: stored, repeats dropped, and holes in its numbering (see SourceReport). */
  sources(prefix?: string, limit?: number): SourceReport[] {
    return this.dedup.report(prefix, limit);
  }

  readView(): StoreView {
    return {
      blocks: this.blockList,
      batches: [...this.sealing, ...this.memtable].map((b) => b.reader),
      fs: this.fs,
      labelId: (name) => this.labels.lookup(name),
      labelName: (id) => this.labels.name(id),
      labelNames: () => this.labels.names,
      page: (block, pageNo) => this.pageCache.get(this.fs, block, pageNo),
      postings: (block) => (block.postings ? this.pageCache.postings(this.fs, block) : null),
      mayContain: (block, needles) => {
        const raw = block.templates?.raw;
        if (raw === undefined || raw) return true;
        const { templates } = this.pageCache.text(this.fs, block);
        return templates === null || needles.every((n) => templates.mayContain(n));
      },
      rollup: (block) => {
        let r = this.rollups.get(block.id);
        if (r === undefined) {
          r = readRollup(this.fs, block);
          this.rollups.set(block.id, r);
          // Roll-ups are small (a few thousand rows a block); keep the most recent 512 blocks' worth.
          if (this.rollups.size > 512) this.rollups.delete(this.rollups.keys().next().value!);
        }
        return r;
      },
    };
  }

  get blocks(): readonly BlockIndex[] {
    return this.blockList;
  }

  labelName(id: number): string {
    return this.labels.name(id);
  }

  /** Every stored entry: sealed blocks (each sorted) then the memtable (arrival order). For tests and tools. */
  *entries(): IterableIterator<IdentifiedEntry> {
    const cache = new PairsCache();
    const name = (id: number) => this.labels.name(id);
    for (const b of this.blockList) {
      const read = blockPages(this.fs, b);
      for (let p = 0; p < b.pages.length; p++) {
        const page = read(p);
        const ts = page.ts();
        const lv = page.level();
        const sv = page.service();
        const sr = page.server();
        const rg = page.region();
        // Rows in (ts, source, seq) order, whatever the page's own row order.
        for (const i of page.select(ALL_ROWS).rows) {
          yield {
            ts: ts[i]!,
            level: lv[i] as Level,
            service: this.labels.name(sv[i]!),
            server: this.labels.name(sr[i]!),
            region: this.labels.name(rg[i]!),
            message: page.message(i),
            source: page.sourceId(i),
            seq: BigInt(page.seq(i)),
            ...pageEntryExtras(page, i, page.stream(i).set, name, cache),
          };
        }
      }
    }
    for (const { reader } of this.sealing) yield* reader.entries();
    for (const { reader } of this.memtable) yield* reader.entries();
  }

  get stats(): StoreStats {
    const d = this.dedup.stats;
    return {
      blocks: this.blockList.length,
      blockEntries: this.blockList.reduce((a, b) => a + b.entries, 0),
      blockBytes: this.blockList.reduce((a, b) => a + b.bytes, 0),
      memtableEntries: this.memEntries,
      sealingEntries: this.sealing.reduce((a, b) => a + b.reader.count, 0),
      memtableBytes: this.memBytes,
      walBytes: this.wal.sizeBytes,
      dedupSources: d.sources,
      dedupIntervals: d.intervals,
      sealing: this.sealInFlight !== undefined,
      compacting: this.compactInFlight !== undefined,
      duplicatesDropped: this.duplicatesDropped,
      lateness: Object.fromEntries(this.lateness),
    };
  }

  async close(): Promise<void> {
    this.sealer.cancel();
    while (this.sealInFlight) await this.sealInFlight.catch(() => {});
    while (this.compactInFlight) await this.compactInFlight.catch(() => {});
    await this.wal.close();
    await this.labels.close();
    await this.sealer.release();
  }
}

/** A new batch holding entries [from, from + count) of `r`, keeping their source and sequence numbers. */
function subBatch(r: BatchReader, from: number, count: number): Uint8Array {
  const entries: LogEntry[] = [];
  for (let i = from; i < from + count; i++) entries.push(r.entry(i));
  return encodeBatch(entries, { sourceId: r.sourceId, firstSeq: r.firstSeq + BigInt(from) });
}

function countFormats(blocks: readonly BlockIndex[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of blocks) out[`v${b.version}`] = (out[`v${b.version}`] ?? 0) + 1;
  return out;
}
