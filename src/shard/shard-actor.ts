import { threadMemory, type ThreadMemory } from '../util/thread-memory.js';
import { lastSealThreadMemory } from '../index/sealer.js';
import { WAL_SYNC_BUCKETS_S, type SyncLatency } from './sync-latency.js';
import type { ResourceLimits } from 'node:worker_threads';
import { isTributaryError } from '../errors.js';
import { defineBehaviour, transferred, type ActorContext } from '../actors/behaviour.js';
import type { Frame } from '../mailbox/ring.js';
import { ArrivalSignal } from '../mailbox/arrivals.js';
import { faultyFs, nodeFs } from '../index/fs.js';
import { planQuery, type LogQuery, type QueryResult } from '../query/model.js';
import { labelValues } from '../query/labels.js';
import { encodeRows } from '../query/answer-rows.js';
import type { RowsAnswer } from '../query/merge-rows.js';
import { emptyStats, queryView } from '../query/scan.js';
import { countView, type CountResult } from '../query/aggregate.js';
import type { GroupLabel } from '../query/logql.js';
import { pipeView, sampleView, type PipedResult, type SampleRequest, type SampleResult, type Selection } from '../query/select.js';
import type { SourceReport } from '../index/dedup.js';
import { ShardStore, type AppendResult, type RecoveryReport, type StoreStats, type StoreView } from '../index/store.js';
import { feedsOf } from '../anomaly/feed.js';
import { replaceDirectory, stageFiles, type StagedFiles } from './shard-files.js';

export interface ShardArgs {
  /** The shard's directory (WAL, labels, blocks). */
  readonly dir: string;
  /** Group commit: fdatasync at most this long after the first unsynced append... */
  readonly groupCommitMs?: number;
  /** ...or as soon as this many bytes are waiting. */
  readonly groupCommitBytes?: number;
  readonly sealEntries?: number;
  readonly sealBytes?: number;
  readonly sealAgeMs?: number;
  readonly maxMemtableBytes?: number;
  /** Reserve the memtable's whole allowance at open (see StoreOptions.reserveMemtable). */
  readonly reserveMemtable?: boolean;
  readonly pageCacheBytes?: number;
  readonly sealThreadLimits?: ResourceLimits;
  readonly dedupWindowMs?: number;
  /** Bytes of recent batches a replica keeps in memory for its primary's restart. */
  readonly replicaTailBytes?: number;
  /** Retention: whole blocks older than maxAgeMs, then the oldest beyond maxBytes, are removed. */
  readonly retention?: { readonly maxAgeMs?: number; readonly maxBytes?: number };
  /** Fault injection for tests and drills: while Int32 slot 0 of this buffer is 1, every write fails with ENOSPC (a full disk). */
  readonly faults?: SharedArrayBuffer;
  /** Bumped whenever entries are stored, with their newest timestamp: live tails wait on it (mailbox/arrivals.ts). */
  readonly arrivals?: SharedArrayBuffer;
  /** Anomaly detector actor ids: each stored entry's (service, level, ts, id) is fed to the one its service hashes to. */
  readonly detectors?: readonly number[];
  /**
   * When the detectors hear of an entry (default 'append'):
   * - 'append': as soon as the shard has taken it (deduplicated, in the
   *   WAL's buffer). Detection does not wait for the fsync, whose time
   *   under seal writes goes up to tens of ms. The price: entries appended
   *   but not yet durable when the shard crashes, and resent by their
   *   sender, are counted twice (at most one group commit's worth).
   * - 'commit': after the group commit's fsync, so the detectors count
   *   exactly what is durable, one fsync later.
   */
  readonly detectOn?: 'append' | 'commit';
}

export type ShardRequest =
  | { op: 'stats' }
  | { op: 'seal' }
  /** Seal what the memtable holds and stage every block and the label log in `to` (a cluster's checkpoint). */
  | { op: 'checkpoint'; to: string }
  /** Take the directory `from` (a restored archive) as this shard's, closing and reopening the store. */
  | { op: 'adopt'; from: string }
  | { op: 'recovery' }
  | { op: 'sources'; prefix?: string; limit?: number }
  | { op: 'query'; query: LogQuery; budgetMs: number; maxBytes: number }
  | { op: 'count'; query: LogQuery; step: bigint; by: GroupLabel[]; budgetMs: number; window?: bigint }
  | { op: 'labelValues'; name: string; from?: bigint; to?: bigint }
  | { op: 'pipe'; selection: Selection; budgetMs: number; maxBytes: number }
  | { op: 'samples'; request: SampleRequest; budgetMs: number };

export interface ShardStatsAnswer {
  readonly role: 'primary' | 'replica';
  readonly store?: StoreStats;
  readonly tailBatches?: number;
  readonly tailBytes?: number;
  readonly diskFull: boolean;
  /** Detector feeds dropped because a detector's mailbox was full (primary only). */
  readonly feedsLost?: number;
  /** WAL group-commit fdatasync latencies since the shard started (primary only). */
  readonly walSync?: SyncLatency;
  readonly memory?: ThreadMemory; // of the thread it runs on (primary only)
  /** Of the seal thread beside it, as its last seal or compaction ended (primary only). */
  readonly sealMemory?: ThreadMemory;
}

interface PrimaryState {
  readonly role: 'primary';
  readonly args: ShardArgs;
  store: ShardStore;
  recovery: RecoveryReport;
  /** Highest frame seq per sending thread, appended and waiting for the next sync. */
  pending: Map<number, number>;
  pendingBytes: number;
  /** Detector feeds of the entries appended since the last sync, sent once they are durable (detectOn 'commit'). */
  feeds: { detector: number; bytes: Uint8Array }[];
  feedsLost: number;
  readonly walSync: SyncLatency;
  syncTimer: NodeJS.Timeout | undefined;
  syncing: boolean;
  sealTimer: NodeJS.Timeout | undefined;
  retryMs: number;
  diskFull: boolean;
  disposed: boolean;
  readonly arrivals: ArrivalSignal | undefined;
}

interface ReplicaState {
  readonly role: 'replica';
  readonly args: ShardArgs;
  /** Recent batches, oldest first, bounded by replicaTailBytes. */
  tail: Uint8Array[];
  tailBytes: number;
}

type State = PrimaryState | ReplicaState;

/** What a member hands a restarting peer: recent batches (copies). */
interface Snapshot {
  readonly batches: Uint8Array[];
}

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

/**
 * A shard aggregator. The primary owns a ShardStore: every batch frame is
 * appended to the WAL (deduplicated by source and sequence), group-committed,
 * and acknowledged to its sender only once durable. A replica keeps the
 * recent batches in memory and acknowledges on receipt; when the primary
 * restarts it appends that tail again, deduplication making it exact, so a
 * batch the replica holds is never lost even if the primary died before
 * logging it.
 */
export const shardActor = defineBehaviour<
  State,
  ShardArgs,
  ShardRequest,
  ShardStatsAnswer | RecoveryReport | RowsAnswer | CountResult | PipedResult | SampleResult | SourceReport[] | string[] | StagedFiles | null
>({
  init(args, ctx) {
    return ctx.role === 'primary' ? openPrimary(args, ctx, []) : { role: 'replica', args, tail: [], tailBytes: 0 };
  },

  restore(snapshot, args, ctx) {
    const batches = (snapshot as Snapshot).batches;
    if (ctx.role === 'replica') {
      const s: ReplicaState = { role: 'replica', args, tail: [], tailBytes: 0 };
      for (const b of batches) keepInTail(s, b);
      return s;
    }
    return openPrimary(args, ctx, batches);
  },

  snapshot(state) {
    return { batches: state.role === 'replica' ? state.tail : [] } satisfies Snapshot;
  },

  receive(state, frame, ctx) {
    if (state.role === 'replica') {
      keepInTail(state, frame.body.slice());
      ctx.ack(frame.from, frame.seq);
      return;
    }
    appendFrame(state, frame, ctx);
  },

  ask(state, req, ctx) {
    if (req.op === 'query') {
      if (state.role === 'replica') {
        // A replica stands in while its primary restarts; it holds no sealed data.
        return rowsAnswer({
          entries: [],
          partial: { reasons: [`shard ${shardName(state.args.dir)} is restarting: its replica cannot answer queries`] },
          stats: emptyStats(),
        });
      }
      return rowsAnswer(queryView(state.store.readView(), planQuery(req.query), { deadline: performance.now() + req.budgetMs, maxBytes: req.maxBytes }));
    }
    if (req.op === 'count') {
      const q = planQuery(req.query);
      if (state.role === 'replica') {
        return {
          ...countView(emptyView, q, req.step, req.by),
          partial: { reasons: [`shard ${shardName(state.args.dir)} is restarting: its replica cannot answer queries`] },
        };
      }
      return countView(state.store.readView(), q, req.step, req.by, performance.now() + req.budgetMs, req.window);
    }
    if (req.op === 'pipe' || req.op === 'samples') {
      // A replica holds no sealed data: it answers nothing, and says so.
      const restarting =
        state.role === 'replica' ? { partial: { reasons: [`shard ${shardName(state.args.dir)} is restarting: its replica cannot answer queries`] } } : {};
      if (state.role === 'replica')
        return req.op === 'pipe' ? { entries: [], stats: emptyStats(), ...restarting } : { series: [], stats: emptyStats(), ...restarting };
      const deadline = performance.now() + req.budgetMs;
      return req.op === 'pipe'
        ? pipeView(state.store.readView(), req.selection, { deadline, maxBytes: req.maxBytes })
        : sampleView(state.store.readView(), req.request, deadline);
    }
    if (req.op === 'labelValues') return state.role === 'primary' ? labelValues(state.store.readView(), req.name, req.from, req.to) : [];
    if (req.op === 'recovery') return state.role === 'primary' ? state.recovery : null;
    if (req.op === 'sources') return state.role === 'primary' ? state.store.sources(req.prefix, req.limit) : [];
    if (state.role === 'replica') return { role: 'replica', tailBatches: state.tail.length, tailBytes: state.tailBytes, diskFull: false };
    if (req.op === 'seal') {
      void state.store.seal();
      return null;
    }
    if (req.op === 'checkpoint')
      return state.store.seal().then(() =>
        stageFiles(
          state.args.dir,
          state.store.blocks.map((b) => b.path),
          req.to,
        ),
      );
    if (req.op === 'adopt') return adopt(state, req.from, ctx);
    return {
      role: 'primary',
      store: state.store.stats,
      diskFull: state.diskFull,
      feedsLost: state.feedsLost,
      walSync: state.walSync,
      memory: threadMemory(),
      sealMemory: lastSealThreadMemory(),
    };
  },

  async stop(state) {
    if (state.role === 'primary') {
      if (state.syncTimer) clearTimeout(state.syncTimer);
      state.syncTimer = undefined;
      await state.store.close(); // syncs the WAL
    }
  },

  dispose(state) {
    if (state.role !== 'primary' || state.disposed) return;
    state.disposed = true;
    if (state.syncTimer) clearTimeout(state.syncTimer);
    if (state.sealTimer) clearInterval(state.sealTimer);
    void state.store.close().catch(() => {});
  },
});

/** Replaces the shard's directory with `from`: everything appended is committed first, then the store reopens on the new files. */
async function adopt(state: PrimaryState, from: string, ctx: ActorContext): Promise<RecoveryReport> {
  await commit(state, ctx);
  if (state.sealTimer) clearInterval(state.sealTimer);
  await state.store.close();
  replaceDirectory(state.args.dir, from);
  const fresh = openPrimary(state.args, ctx, []);
  state.store = fresh.store;
  state.recovery = fresh.recovery;
  state.sealTimer = fresh.sealTimer;
  return fresh.recovery;
}

/** A shard as answers name it: its directory's last segment, not the server's path. */
function shardName(dir: string): string {
  return dir.slice(dir.lastIndexOf('/') + 1);
}

/** What a replica scans: nothing (it holds no sealed data). */
const emptyView: StoreView = {
  blocks: [],
  batches: [],
  fs: nodeFs,
  labelId: () => undefined,
  labelName: () => '',
  labelNames: () => [],
  page: () => {
    throw new Error('a replica holds no blocks');
  },
  rollup: () => null,
  mayContain: () => false,
  postings: () => null,
};

function openPrimary(args: ShardArgs, ctx: ActorContext, replay: readonly Uint8Array[]): PrimaryState {
  const { store, report } = ShardStore.open({
    dir: args.dir,
    fs: args.faults ? faultyFs(new Int32Array(args.faults)) : undefined,
    sealEntries: args.sealEntries,
    sealBytes: args.sealBytes,
    sealAgeMs: args.sealAgeMs,
    maxMemtableBytes: args.maxMemtableBytes,
    reserveMemtable: args.reserveMemtable,
    pageCacheBytes: args.pageCacheBytes,
    sealThreadLimits: args.sealThreadLimits,
    dedupWindowMs: args.dedupWindowMs,
  });
  const state: PrimaryState = {
    role: 'primary',
    args,
    store,
    recovery: report,
    pending: new Map(),
    pendingBytes: 0,
    feeds: [],
    feedsLost: 0,
    walSync: { counts: WAL_SYNC_BUCKETS_S.map(() => 0), sum: 0 },
    syncTimer: undefined,
    syncing: false,
    sealTimer: undefined,
    retryMs: RETRY_MIN_MS,
    diskFull: false,
    disposed: false,
    arrivals: args.arrivals ? new ArrivalSignal(args.arrivals) : undefined,
  };
  // The replica's tail: what this primary may have lost by dying before it logged it. Dedup drops the rest.
  for (const b of replay) store.append(b);
  if (report.wal.truncatedBytes > 0 || report.quarantined.length > 0) {
    ctx.log('warn', `shard ${args.dir} recovered with losses of unacknowledged data or damaged blocks`, {
      truncatedWalBytes: report.wal.truncatedBytes,
      quarantined: report.quarantined,
    });
  }
  ctx.log('info', `shard ${args.dir} recovered in ${report.ms.toFixed(1)} ms`, {
    blocks: report.blocks,
    blockEntries: report.blockEntries,
    replayedEntries: report.replayedEntries,
    replayedFromReplica: replay.length,
  });
  // Housekeeping even when no frame arrives: seal by age, enforce retention.
  const ageMs = args.sealAgeMs ?? 60_000;
  state.sealTimer = setInterval(
    () => {
      void maybeSeal(state, ctx);
      if (args.retention) {
        const removed = state.store.enforceRetention(args.retention);
        if (removed.blocks > 0) ctx.log('info', `shard ${args.dir}: retention removed ${removed.blocks} blocks (${removed.entries} entries)`, removed);
      }
    },
    Math.max(100, ageMs / 4),
  );
  return state;
}

function appendFrame(state: PrimaryState, frame: Frame, ctx: ActorContext): void {
  if (state.store.full) {
    // Ingest outruns sealing: keep the frame in the mailbox until the seal in flight is done.
    ctx.retryLater(5);
    return;
  }
  let result: AppendResult;
  try {
    result = state.store.append(frame.body);
  } catch (err) {
    if (isTributaryError(err, 'E_DISK_FULL') || isTributaryError(err, 'E_IO')) {
      // Keep the frame in the mailbox and try again later: backpressure, not loss.
      if (!state.diskFull) ctx.log('error', `shard ${state.args.dir}: ${(err as Error).message}; holding writes until it clears`);
      state.diskFull = true;
      ctx.setHealth(err.code === 'E_DISK_FULL' ? 'E_DISK_FULL' : 'E_IO');
      ctx.retryLater(state.retryMs);
      state.retryMs = Math.min(RETRY_MAX_MS, state.retryMs * 2);
      return;
    }
    throw err; // a malformed batch: fail, and after repeated failures it is dead-lettered
  }
  if (state.diskFull) {
    state.diskFull = false;
    state.retryMs = RETRY_MIN_MS;
    ctx.setHealth(undefined);
    ctx.log('info', `shard ${state.args.dir}: writes resumed`);
  }
  if (state.arrivals && result.stored.length > 0) state.arrivals.storedBatches(result.stored);
  const detectors = state.args.detectors;
  if (detectors && detectors.length > 0) {
    const feeds: { detector: number; bytes: Uint8Array }[] = [];
    for (const part of result.stored) for (const [d, bytes] of feedsOf(part, detectors.length)) feeds.push({ detector: detectors[d]!, bytes });
    if (state.args.detectOn === 'commit') state.feeds.push(...feeds);
    else sendFeeds(state, feeds, ctx);
  }
  const prev = state.pending.get(frame.from);
  if (prev === undefined || ((frame.seq - prev) | 0) > 0) state.pending.set(frame.from, frame.seq);
  state.pendingBytes += frame.length;
  if (state.pendingBytes >= (state.args.groupCommitBytes ?? 1 << 20)) void commit(state, ctx);
  else if (!state.syncTimer) state.syncTimer = setTimeout(() => void commit(state, ctx), state.args.groupCommitMs ?? 2);
}

/** Group commit: one fdatasync for everything appended so far, then the acknowledgements. */
async function commit(state: PrimaryState, ctx: ActorContext): Promise<void> {
  if (state.syncTimer) {
    clearTimeout(state.syncTimer);
    state.syncTimer = undefined;
  }
  if (state.pending.size === 0 || state.disposed) return;
  const acks = state.pending;
  const feeds = state.feeds;
  state.pending = new Map();
  state.pendingBytes = 0;
  state.feeds = [];
  try {
    const started = performance.now();
    await state.store.sync();
    const seconds = (performance.now() - started) / 1000;
    state.walSync.counts[WAL_SYNC_BUCKETS_S.findIndex((le) => seconds <= le)]!++;
    state.walSync.sum += seconds;
  } catch (err) {
    // After a failed fsync nothing since the last good one may be trusted on disk (the kernel may have dropped
    // the dirty pages): restart the shard, whose recovery reads what the WAL holds. Unacknowledged senders resend.
    ctx.log('error', `shard ${state.args.dir}: WAL sync failed: ${(err as Error).message}`);
    ctx.fail(err);
    return;
  }
  if (state.disposed) return;
  for (const [from, seq] of acks) ctx.ack(from, seq);
  sendFeeds(state, feeds, ctx);
  await maybeSeal(state, ctx);
}

/**
 * Feeds the detectors what was just stored. A detector's full mailbox
 * on this very thread cannot be waited for (this thread would have to
 * drain it): that feed is dropped and counted, and detection sees fewer
 * entries; storage is never held back by detection.
 */
function sendFeeds(state: PrimaryState, feeds: readonly { detector: number; bytes: Uint8Array }[], ctx: ActorContext): void {
  for (const f of feeds) {
    try {
      ctx.send(f.detector, f.bytes);
    } catch (err) {
      state.feedsLost++;
      if (state.feedsLost === 1 || state.feedsLost % 1000 === 0) {
        ctx.log('warn', `shard ${state.args.dir}: a detector feed was dropped (${state.feedsLost} so far): ${(err as Error).message}`);
      }
    }
  }
}

async function maybeSeal(state: PrimaryState, ctx: ActorContext): Promise<void> {
  if (state.disposed || !state.store.shouldSeal()) return;
  try {
    await state.store.seal();
  } catch (err) {
    if ((err as { code?: string }).code === 'E_CANCELLED') return; // the store is closing; the WAL keeps the entries
    ctx.log('error', `shard ${state.args.dir}: seal failed, will retry: ${(err as Error).message}`);
  }
}

function keepInTail(state: ReplicaState, batch: Uint8Array): void {
  state.tail.push(batch);
  state.tailBytes += batch.byteLength;
  const limit = state.args.replicaTailBytes ?? 128 * 1024 * 1024;
  while (state.tailBytes > limit && state.tail.length > 1) state.tailBytes -= state.tail.shift()!.byteLength;
}

/** A log query's answer as it leaves the shard: its rows as bytes, transferred to the asking thread (answer-rows.ts). */
function rowsAnswer({ entries, ...rest }: QueryResult): RowsAnswer {
  const rows = encodeRows(entries);
  return transferred({ ...rest, rows }, [rows.buffer as ArrayBuffer]);
}
