import type { BatchReader } from '../batch/reader.js';
import { NO_ID } from '../batch/layout.js';
import { NO_SET, type BlockIndex } from '../index/block-format.js';
import { pageEntryExtras } from '../index/block-reader.js';
import type { StreamFilter } from '../index/page.js';
import { PairsCache, pairsObject } from '../model/labels.js';
import type { StoreView } from '../index/store.js';
import type { IdentifiedEntry } from '../model/entry.js';
import type { Level } from '../model/level.js';
import { mergeRuns, type Run } from './merge-runs.js';
import {
  comparePositions,
  matchesMessage,
  type LabelPredicate,
  type PlannedQuery,
  type Position,
  type QueryBudget,
  type QueryResult,
  type QueryStats,
} from './model.js';

/** Label ids a block filter accepts, or null for "any"; an empty array means nothing can match. */
interface LabelFilter {
  readonly ids: Uint8Array | null; // wanted[id] = 1
  readonly none: boolean;
}

/** Resolves a label predicate against the shard's dictionary into the ids it accepts. */
function labelFilter(view: StoreView, accept: LabelPredicate | null): LabelFilter {
  if (accept === null) return { ids: null, none: false };
  const ids: number[] = [];
  view.labelNames().forEach((name, id) => accept(name) && ids.push(id));
  if (ids.length === 0) return { ids: null, none: true };
  const wanted = new Uint8Array(Math.max(...ids) + 1);
  for (const id of ids) wanted[id] = 1;
  return { ids: wanted, none: false };
}

/**
 * The query's predicate over label sets, evaluated once per shard label id
 * (lazily: a query looks only at the sets of the blocks it reaches).
 */
export class LabelSetFilter {
  private readonly state: Map<number, boolean> = new Map();
  /** Whether entries without other labels pass. */
  readonly empty: boolean;
  constructor(
    private readonly view: StoreView,
    private readonly accept: LabelPredicate,
  ) {
    this.empty = accept('');
  }
  /** Whether entries with this set id (NO_SET: no other labels) pass. */
  ok(id: number): boolean {
    if (id === NO_SET) return this.empty;
    let v = this.state.get(id);
    if (v === undefined) this.state.set(id, (v = this.accept(this.view.labelName(id))));
    return v;
  }
  /** Whether a block can hold a passing entry. */
  block(b: BlockIndex): boolean {
    if (b.unlabelled !== false && this.empty) return true;
    const bits = b.labels.set;
    if (bits === undefined) return false;
    for (let byte = 0; byte < bits.length; byte++) {
      const x = bits[byte]!;
      if (x === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((x & (1 << bit)) !== 0 && this.ok(byte * 8 + bit)) return true;
    }
    return false;
  }
}

/** A query's stream filters, resolved once per query against the shard's dictionary: what pages take, and what prunes blocks. */
export interface QueryStreams extends StreamFilter {
  readonly set: LabelSetFilter | null;
  /** The wanted ids of the service, server and region filters there are, as lists (for page postings). */
  readonly lists: readonly (readonly number[])[];
}

const idList = (wanted: Uint8Array | null): number[] | null => {
  if (wanted === null) return null;
  const ids: number[] = [];
  wanted.forEach((w, id) => w === 1 && ids.push(id));
  return ids;
};

/**
 * The id lists a page of `block` must have one of each of to hold a match
 * (postings.ts), or null when the query filters on no stream. A label-set
 * filter counts only where entries without other labels cannot pass (those
 * rows are in no posting).
 */
function pageWants(block: BlockIndex, s: QueryStreams): readonly (readonly number[])[] | null {
  const out = [...s.lists];
  if (s.set !== null && !s.set.empty) {
    const sets: number[] = [];
    const bits = block.labels.set;
    if (bits !== undefined) for (let id = 0; id < bits.length * 8; id++) if ((bits[id >> 3]! & (1 << (id & 7))) !== 0 && s.set.ok(id)) sets.push(id);
    out.push(sets);
  }
  return out.length === 0 ? null : out;
}

/** Which pages of a block can hold a match of these streams, by its postings (postings.ts); null: every page (no stream filter, or no postings). */
export function pagesMatching(view: StoreView, block: BlockIndex, streams: QueryStreams): ((page: number) => boolean) | null {
  const wants = pageWants(block, streams);
  const postings = wants === null || block.postings === undefined ? null : view.postings(block);
  return postings === null ? null : (p) => wants!.every((ids) => postings.hasAny(p, ids));
}

/** The query's stream filters, or null when no stream can match (a label value the shard has never seen). */
export function streamFilterOf(view: StoreView, q: PlannedQuery): QueryStreams | null {
  const service = labelFilter(view, q.services);
  const server = labelFilter(view, q.servers);
  const region = labelFilter(view, q.regions);
  if (service.none || server.none || region.none) return null;
  const lists = [service.ids, server.ids, region.ids].map(idList).filter((l): l is number[] => l !== null);
  return { service: service.ids, server: server.ids, region: region.ids, set: q.labelSet === null ? null : new LabelSetFilter(view, q.labelSet), lists };
}

/** Whether a block's label bitsets allow an entry of these streams. */
function blockHasStreams(b: BlockIndex, s: QueryStreams): boolean {
  if (s.service && !bitsetHasAny(b.labels.service, s.service)) return false;
  if (s.server && !bitsetHasAny(b.labels.server, s.server)) return false;
  if (s.region && !bitsetHasAny(b.labels.region, s.region)) return false;
  return s.set === null || s.set.block(b);
}

function bitsetHasAny(bits: Uint8Array, wanted: Uint8Array): boolean {
  for (let id = 0; id < wanted.length; id++) if (wanted[id] === 1 && (bits[id >> 3]! & (1 << (id & 7))) !== 0) return true;
  return false;
}

/** Whether the cursor excludes `p` (it must come strictly after the cursor in the query's direction). */
function beforeCursor(q: PlannedQuery, p: Position): boolean {
  if (q.after === null) return false;
  const c = comparePositions(p, q.after);
  return q.backward ? c >= 0 : c <= 0;
}

function levelsMatch(levels: readonly number[], mask: number): boolean {
  for (let l = 0; l < levels.length; l++) if ((mask & (1 << l)) !== 0 && levels[l]! > 0) return true;
  return false;
}

/** The matching entries of one sealed block, lazily, in the query's order. */
function* scanBlock(view: StoreView, block: BlockIndex, q: PlannedQuery, streams: QueryStreams, f: Filters, stats: QueryStats): Generator<IdentifiedEntry> {
  const pages = block.pages.map((_, i) => i);
  if (q.backward) pages.reverse();
  // Rows whose messages cannot hold a required substring are dropped by the page before it sorts
  // them or decodes a message: by their template (v4), or their frame's bytes (v3).
  const needles = q.required.length > 0 ? q.required : undefined;
  const selection = { from: f.from, to: q.to, levelMask: q.levelMask, streams, backward: q.backward, needles };
  const matching = pagesMatching(view, block, streams);
  for (const p of pages) {
    const meta = block.pages[p]!;
    if (meta.maxTs < f.from || meta.minTs >= q.to || !levelsMatch(meta.levels, q.levelMask)) continue;
    if (matching !== null && !matching(p)) continue;
    const page = view.page(block, p);
    stats.pagesScanned++;
    // Frames decoded for this query (counted before each yield too: the merge may stop here).
    let frames = page.framesLoaded;
    const countFrames = () => {
      stats.framesRead += page.framesLoaded - frames;
      frames = page.framesLoaded;
    };
    const { rows, ts, examined } = page.select(selection);
    stats.entriesExamined += examined;
    if (rows.length === 0) {
      countFrames();
      continue;
    }
    for (let k = 0; k < rows.length; k++) {
      const i = rows[k]!;
      if (q.metadata !== null && !q.metadata(page.meta(i))) continue;
      const pos: Position = { ts: ts[k]!, source: page.sourceId(i), seq: BigInt(page.seq(i)) };
      if (q.after !== null && beforeCursor(q, pos)) continue;
      const message = page.message(i);
      if (q.lines.length > 0 && !matchesMessage(q, message)) continue;
      const stream = page.stream(i);
      countFrames();
      yield {
        ts: pos.ts,
        source: pos.source,
        seq: pos.seq,
        level: page.levelOf(i) as Level,
        service: view.labelName(stream.service),
        server: view.labelName(stream.server),
        region: view.labelName(stream.region),
        message,
        ...pageEntryExtras(page, i, stream.set, f.names, f.cache),
      };
    }
    countFrames();
  }
}

/**
 * Calls `fn` for every entry of the unsealed batches that passes the
 * query's time range [from, to), level and label filters (not its line
 * filters: the caller decides whether it needs the message).
 */
export function forEachUnsealed(
  batches: readonly BatchReader[],
  q: PlannedQuery,
  from: bigint,
  to: bigint,
  fn: (r: BatchReader, i: number, service: string, server: string, region: string, batch: number) => void,
): void {
  for (let n = 0; n < batches.length; n++) {
    const r = batches[n]!;
    const range = r.timeRange();
    if (range.max < from || range.min >= to) continue;
    const ts = r.timestamps();
    const lv = r.levels();
    const labels = r.labels();
    const sv = r.serviceIds();
    const sr = r.serverIds();
    const rg = r.regionIds();
    const sets = q.labelSet !== null ? r.labelSetIds() : null;
    // Per dictionary id of this batch: whether its label set passes (0 unknown, 1 yes, 2 no).
    const setOk = q.labelSet !== null ? new Uint8Array(labels.length) : null;
    const noSetOk = q.labelSet === null || q.labelSet('');
    for (let i = 0; i < r.count; i++) {
      const t = ts[i]!;
      if (t < from || t >= to || (q.levelMask & (1 << lv[i]!)) === 0) continue;
      const service = labels[sv[i]!]!;
      const server = labels[sr[i]!]!;
      const region = labels[rg[i]!]!;
      if ((q.services && !q.services(service)) || (q.servers && !q.servers(server)) || (q.regions && !q.regions(region))) continue;
      if (setOk !== null) {
        const id = sets === null ? NO_ID : sets[i]!;
        if (id === NO_ID) {
          if (!noSetOk) continue;
        } else {
          if (setOk[id] === 0) setOk[id] = q.labelSet!(labels[id]!) ? 1 : 2;
          if (setOk[id] === 2) continue;
        }
      }
      if (q.metadata !== null && !q.metadata(r.meta(i))) continue;
      fn(r, i, service, server, region, n);
    }
  }
}

/**
 * The matching entries of the batches not yet sealed, as one run in the
 * query's order. Only positions are gathered and sorted (two numbers per
 * match, bounded by the memtable's own bound); entries are built lazily as
 * the merge takes them, so a limited query over a large memtable builds no
 * more than it returns.
 */
function scanBatches(batches: readonly BatchReader[], q: PlannedQuery, f: Filters, stats: QueryStats): Run | null {
  stats.memtableBatches += batches.length;
  const hits: number[] = []; // (batch, entry) pairs, flattened
  forEachUnsealed(batches, q, f.from, q.to, (r, i, _service, _server, _region, n) => {
    stats.entriesExamined++;
    if (q.after !== null && beforeCursor(q, { ts: r.timestamps()[i]!, source: r.sourceId, seq: r.seq(i) })) return;
    if (q.lines.length > 0 && !matchesMessage(q, r.message(i))) return;
    hits.push(n, i);
  });
  if (hits.length === 0) return null;
  const order = new Uint32Array(hits.length / 2);
  for (let k = 0; k < order.length; k++) order[k] = k;
  const pos = (k: number): Position => {
    const r = batches[hits[2 * k]!]!;
    const i = hits[2 * k + 1]!;
    return { ts: r.timestamps()[i]!, source: r.sourceId, seq: r.seq(i) };
  };
  const sign = q.backward ? -1 : 1;
  const cache = new PairsCache();
  const times = new BigInt64Array(order.length);
  for (let k = 0; k < order.length; k++) times[k] = batches[hits[2 * k]!]!.timestamps()[hits[2 * k + 1]!]!;
  // Timestamps decide almost every comparison; positions are built only for ties.
  order.sort((a, b) => {
    const ta = times[a]!;
    const tb = times[b]!;
    return sign * (ta < tb ? -1 : ta > tb ? 1 : comparePositions(pos(a), pos(b)));
  });
  const entry = (k: number): IdentifiedEntry => {
    const r = batches[hits[2 * k]!]!;
    const i = hits[2 * k + 1]!;
    const labels = r.labels();
    return {
      ts: r.timestamps()[i]!,
      source: r.sourceId,
      seq: r.seq(i),
      level: r.levels()[i] as Level,
      service: labels[r.serviceIds()[i]!]!,
      server: labels[r.serverIds()[i]!]!,
      region: labels[r.regionIds()[i]!]!,
      message: r.message(i),
      ...batchEntryExtras(r, i, cache),
    };
  };
  return {
    bound: pos(order[0]!).ts,
    open: function* () {
      for (let k = 0; k < order.length; k++) yield entry(order[k]!);
    },
  };
}

interface Filters {
  /** The effective lower time bound (a forward cursor moves it up). */
  readonly from: bigint;
  /** Null when no stream can match. */
  readonly streams: QueryStreams | null;
  readonly names: (id: number) => string;
  readonly cache: PairsCache;
}

/** The labels and metadata fields of a memtable entry (absent when it has none). */
function batchEntryExtras(r: BatchReader, i: number, cache: PairsCache) {
  const set = r.labelSet(i);
  const meta = r.meta(i);
  if (set === '' && meta === '') return {};
  return { ...(set === '' ? {} : { labels: cache.get(set) }), ...(meta === '' ? {} : { metadata: pairsObject(meta) }) };
}

/**
 * Answers a planned query from one store: prunes blocks (time range, level
 * counts, label bitsets) and pages, scans what is left lazily, merges the
 * sorted runs by (ts, source, seq), and stops at the limit: a limited query
 * reads only as many pages as it needs.
 */
export function emptyStats(): QueryStats {
  return { blocksTotal: 0, blocksScanned: 0, pagesScanned: 0, framesRead: 0, memtableBatches: 0, entriesExamined: 0 };
}

export function queryView(view: StoreView, q: PlannedQuery, budget?: QueryBudget): QueryResult {
  const stats: QueryStats = { ...emptyStats(), blocksTotal: view.blocks.length };
  const f: Filters = {
    from: q.after && !q.backward && q.after.ts > q.from ? q.after.ts : q.from,
    streams: streamFilterOf(view, q),
    names: (id) => view.labelName(id),
    cache: new PairsCache(),
  };
  const to = q.after && q.backward && q.after.ts + 1n < q.to ? q.after.ts + 1n : q.to;
  const pq: PlannedQuery = to === q.to ? q : { ...q, to };
  const runs: Run[] = [];
  const streams = f.streams;
  for (const b of view.blocks) {
    if (streams === null || b.entries === 0 || b.maxTs < f.from || b.minTs >= pq.to || !levelsMatch(b.levels, q.levelMask)) continue;
    if (!blockHasStreams(b, streams)) continue;
    if (q.required.length > 0 && !view.mayContain(b, q.required)) continue;
    runs.push({
      bound: q.backward ? b.maxTs : b.minTs,
      open: () => {
        stats.blocksScanned++;
        return scanBlock(view, b, pq, streams, f, stats);
      },
    });
  }
  const unsealed = scanBatches(view.batches, pq, f, stats);
  if (unsealed) runs.push(unsealed);
  return mergeRuns(runs, q, stats, budget);
}

/**
 * Calls `each` for every entry that passes the query, in no particular
 * order (block by block, then the unsealed batches), until it returns
 * false or the deadline passes: for aggregations, which need every entry
 * and no merge. Returns why it stopped early, or undefined.
 */
export function forEachEntry(view: StoreView, q: PlannedQuery, deadline: number, stats: QueryStats, each: (e: IdentifiedEntry) => boolean): string | undefined {
  stats.blocksTotal += view.blocks.length;
  // Null when no sealed block can hold a match (the unsealed batches have dictionaries of their own).
  const streams = streamFilterOf(view, q);
  const f: Filters = { from: q.from, streams, names: (id) => view.labelName(id), cache: new PairsCache() };
  const runs: (() => Iterator<IdentifiedEntry>)[] = [];
  for (const b of view.blocks) {
    if (streams === null || b.entries === 0 || b.maxTs < q.from || b.minTs >= q.to || !levelsMatch(b.levels, q.levelMask) || !blockHasStreams(b, streams))
      continue;
    if (q.required.length > 0 && !view.mayContain(b, q.required)) continue;
    runs.push(() => {
      stats.blocksScanned++;
      return scanBlock(view, b, q, streams, f, stats);
    });
  }
  const unsealed = scanBatches(view.batches, q, f, stats);
  if (unsealed) runs.push(unsealed.open);
  let n = 0;
  for (const open of runs) {
    const it = open();
    for (let r = it.next(); !r.done; r = it.next()) {
      if ((++n & 1023) === 0 && performance.now() > deadline) return 'timeout: the query ran out of time';
      if (!each(r.value)) return undefined;
    }
  }
  return undefined;
}
