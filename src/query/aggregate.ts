import type { BlockIndex } from '../index/block-format.js';
import type { StoreView } from '../index/store.js';
import { MINUTE_NS, type Rollup } from '../index/rollup.js';
import { LEVEL_NAMES } from '../model/level.js';
import type { GroupLabel } from './logql.js';
import { matchesMessage, type PlannedQuery } from './model.js';
import { forEachUnsealed, pagesMatching, streamFilterOf, type QueryStreams } from './scan.js';

/** Counts of matching entries per time bucket, for one group of label values. */
export interface Series {
  /** The group's label values (only the labels grouped by). */
  readonly labels: Partial<Record<GroupLabel, string>>;
  /** counts[i] = entries in [from + i*step, from + (i+1)*step). */
  readonly counts: number[];
}

export interface CountResult {
  readonly from: bigint;
  readonly step: bigint;
  readonly buckets: number;
  readonly series: Series[];
  readonly partial?: { readonly reasons: string[] };
  /** Where the counts came from: roll-up rows read, and entries scanned one by one. */
  readonly stats?: { rollupRows: number; entriesScanned: number };
}

/**
 * count_over_time by (labels), over one store: scans the entries in
 * [q.from, q.to) that pass the query's filters and counts them per bucket of
 * `step` and per group. Reads only the columns it needs: messages only when
 * the query has line filters, label columns only when filtered or grouped on.
 * With `window`, a bucket counts only its first `window` ns: disjoint windows
 * every step, as a Loki range query with a step longer than its range asks
 * (then there are as many buckets as points, not span / gcd(step, range)).
 */
export function countView(view: StoreView, q: PlannedQuery, step: bigint, by: readonly GroupLabel[], deadline = Infinity, window?: bigint): CountResult {
  const buckets = Number((q.to - q.from + step - 1n) / step);
  const stepN = Number(step);
  const windowN = window === undefined ? stepN : Number(window);
  const groups = new Map<string, Series>();
  const seriesFor = (labels: Partial<Record<GroupLabel, string>>): Series => {
    const key = by.map((l) => labels[l] ?? '').join('\u0000');
    let s = groups.get(key);
    if (!s) groups.set(key, (s = { labels, counts: new Array<number>(buckets).fill(0) }));
    return s;
  };
  // The bucket of a timestamp, or -1 in the gap after a window.
  const bucketOf = (ts: bigint) => {
    const off = Number(ts - q.from);
    const k = Math.floor(off / stepN);
    return off - k * stepN < windowN ? k : -1;
  };
  const add = (s: Series, ts: bigint, n: number) => {
    const b = bucketOf(ts);
    if (b >= 0) s.counts[b]! += n;
  };
  // The same by an offset from q.from in ns, a plain number (roll-up rows add by minute, with no BigInt).
  const addAt = (s: Series, off: number, n: number) => {
    const k = Math.floor(off / stepN);
    if (off - k * stepN < windowN) s.counts[k]! += n;
  };
  let stopped: string | undefined;
  const stats = { rollupRows: 0, entriesScanned: 0 };
  const needMessages = q.lines.length > 0;
  const wants = (l: GroupLabel) => by.includes(l);
  // Resolved against the dictionary once for the query, not once per block.
  const streams = streamFilterOf(view, q);

  for (const block of view.blocks) {
    if (performance.now() > deadline) {
      stopped = 'timeout: the query ran out of time';
      break;
    }
    if (block.entries === 0 || block.maxTs < q.from || block.minTs >= q.to) continue;
    // Whole minutes inside the range come from the block's roll-ups when buckets are
    // whole, aligned minutes and no line filter needs the messages; the rest is scanned.
    // Roll-ups count by (minute, service, server, region, level): a matcher on other labels or metadata scans.
    // Buckets starting on a minute take the rows as they are; buckets starting 1 ns after one are
    // Loki's left-open windows (m, m + 1], which need the rows' counts at the minute's first ns (v4).
    const rollupable = !needMessages && q.labelSet === null && q.metadata === null && step % MINUTE_NS === 0n && BigInt(windowN) % MINUTE_NS === 0n;
    const shift = q.from % MINUTE_NS;
    let rollup = rollupable && (shift === 0n || shift === 1n) ? view.rollup(block) : null;
    if (rollup !== null && shift === 1n && rollup.atStart === null) rollup = null;
    if (rollup) {
      const firstWhole = q.from; // aligned (plus the shift)
      const lastWhole = ((q.to - shift) / MINUTE_NS) * MINUTE_NS + shift; // whole minutes inside [from, to) end here
      stats.rollupRows += countRollup(view, rollup, q, by, firstWhole, lastWhole, shift, addAt, seriesFor);
      if (lastWhole < q.to)
        stats.entriesScanned += countBlock(
          view,
          block,
          { ...q, from: lastWhole > q.from ? lastWhole : q.from },
          streams,
          by,
          wants,
          needMessages,
          add,
          seriesFor,
        );
    } else {
      stats.entriesScanned += countBlock(view, block, q, streams, by, wants, needMessages, add, seriesFor);
    }
  }
  if (!stopped) {
    forEachUnsealed(view.batches, q, q.from, q.to, (r, i, service, server, region) => {
      stats.entriesScanned++;
      if (needMessages && !matchesMessage(q, r.message(i))) return;
      add(seriesFor(groupLabels(by, service, server, region, r.levels()[i]!)), r.timestamps()[i]!, 1);
    });
  }
  return { from: q.from, step, buckets, series: [...groups.values()], partial: stopped ? { reasons: [stopped] } : undefined, stats };
}

function groupLabels(by: readonly GroupLabel[], service: string, server: string, region: string, level: number): Partial<Record<GroupLabel, string>> {
  const out: Partial<Record<GroupLabel, string>> = {};
  for (const l of by) out[l] = l === 'service' ? service : l === 'server' ? server : l === 'region' ? region : LEVEL_NAMES[level]!;
  return out;
}

type IdPredicate = ((id: number) => boolean) | null;

/** The query's label predicates over label ids: each evaluated on the name once per distinct id. */
function idPredicates(view: StoreView, q: PlannedQuery): { svOk: IdPredicate; srOk: IdPredicate; rgOk: IdPredicate } {
  const byId = (pred: ((v: string) => boolean) | null): IdPredicate => {
    if (!pred) return null;
    const cache = new Map<number, boolean>();
    return (id) => {
      let ok = cache.get(id);
      if (ok === undefined) cache.set(id, (ok = pred(view.labelName(id))));
      return ok;
    };
  };
  return { svOk: byId(q.services), srOk: byId(q.servers), rgOk: byId(q.regions) };
}

/**
 * Adds the roll-up rows of whole minutes [from, to) (both on a minute, plus
 * `shift`). Shifted by 1 ns, a row of minute m counts its entries after the
 * minute's first nanosecond into m's bucket, and those exactly on it into
 * the bucket before (m - 1, m].
 */
function countRollup(
  view: StoreView,
  r: Rollup,
  q: PlannedQuery,
  by: readonly GroupLabel[],
  from: bigint,
  to: bigint,
  shift: bigint,
  addAt: (s: Series, off: number, n: number) => void,
  seriesFor: (labels: Partial<Record<GroupLabel, string>>) => Series,
): number {
  let used = 0;
  const lo = Number((from - shift) / MINUTE_NS);
  const hi = Number((to - shift) / MINUTE_NS);
  const { svOk, srOk, rgOk } = idPredicates(view, q);
  const at = r.atStart;
  // A row's offset from q.from (which is `from`, on a minute plus shift) is whole minutes.
  const minuteNs = Number(MINUTE_NS);
  const [bySv, bySr, byRg] = [by.includes('service'), by.includes('server'), by.includes('region')];
  // Series by the ids grouped on: label names are looked up once per group, not once per row.
  const groups = new Map<string, Series>();
  for (let i = 0; i < r.rows; i++) {
    const m = r.minute[i]!;
    if (m < lo || m > hi || (shift === 0n && m === hi) || (q.levelMask & (1 << r.level[i]!)) === 0) continue;
    const sv = r.service[i]!;
    const sr = r.server[i]!;
    const rg = r.region[i]!;
    if ((svOk && !svOk(sv)) || (srOk && !srOk(sr)) || (rgOk && !rgOk(rg))) continue;
    const lv = r.level[i]!;
    const key = `${bySv ? sv : ''}:${bySr ? sr : ''}:${byRg ? rg : ''}:${lv}`;
    let s = groups.get(key);
    if (s === undefined) {
      s = seriesFor(groupLabels(by, view.labelName(sv), view.labelName(sr), view.labelName(rg), lv));
      groups.set(key, s);
    }
    const off = (m - lo) * minuteNs;
    if (shift === 0n) addAt(s, off, r.count[i]!);
    else {
      const first = at![i]!;
      if (m < hi) addAt(s, off, r.count[i]! - first);
      if (first > 0 && m > lo) addAt(s, off - minuteNs, first);
    }
    used++;
  }
  return used;
}

function countBlock(
  view: StoreView,
  block: BlockIndex,
  q: PlannedQuery,
  streams: QueryStreams | null,
  by: readonly GroupLabel[],
  wants: (l: GroupLabel) => boolean,
  needMessages: boolean,
  add: (s: Series, ts: bigint, n: number) => void,
  seriesFor: (labels: Partial<Record<GroupLabel, string>>) => Series,
): number {
  if (streams === null) return 0;
  const needles = q.required.length > 0 ? q.required : null;
  if (needles !== null && !view.mayContain(block, needles)) return 0;
  let scanned = 0;
  const keyCache = new Map<string, Series>();
  const selection = { from: q.from, to: q.to, levelMask: q.levelMask, streams, backward: false, needles: needles ?? undefined };
  const [byService, byServer, byRegion] = [wants('service'), wants('server'), wants('region')];
  const matching = pagesMatching(view, block, streams);
  for (let p = 0; p < block.pages.length; p++) {
    const meta = block.pages[p]!;
    if (meta.maxTs < q.from || meta.minTs >= q.to) continue;
    if (matching !== null && !matching(p)) continue;
    const page = view.page(block, p);
    // The page picks the rows of the streams, levels and time range asked for; only those are read.
    const { rows, ts } = page.select(selection);
    scanned += rows.length;
    for (let k = 0; k < rows.length; k++) {
      const i = rows[k]!;
      if (q.metadata !== null && !q.metadata(page.meta(i))) continue;
      if (needMessages && !matchesMessage(q, page.message(i))) continue;
      const st = page.stream(i);
      const lv = page.levelOf(i);
      const key = `${byService ? st.service : ''}:${byServer ? st.server : ''}:${byRegion ? st.region : ''}:${lv}`;
      let s = keyCache.get(key);
      if (!s) {
        s = seriesFor(
          groupLabels(
            by,
            byService ? view.labelName(st.service) : '',
            byServer ? view.labelName(st.server) : '',
            byRegion ? view.labelName(st.region) : '',
            lv,
          ),
        );
        keyCache.set(key, s);
      }
      add(s, ts[k]!, 1);
    }
  }
  return scanned;
}

/** Adds the series of several answers (shards) together, by group. */
export function mergeCounts(results: readonly CountResult[], by: readonly GroupLabel[], topk?: number): CountResult {
  const first = results[0]!;
  const groups = new Map<string, Series>();
  for (const r of results) {
    for (const s of r.series) {
      const key = by.map((l) => s.labels[l] ?? '').join('\u0000');
      const into = groups.get(key);
      if (!into) groups.set(key, { labels: s.labels, counts: [...s.counts] });
      else s.counts.forEach((c, i) => (into.counts[i]! += c));
    }
  }
  let series = [...groups.values()];
  if (topk !== undefined) {
    const total = (s: Series) => s.counts.reduce((a, c) => a + c, 0);
    series = series.sort((a, b) => total(b) - total(a)).slice(0, topk);
  }
  const reasons = results.flatMap((r) => r.partial?.reasons ?? []);
  const stats = { rollupRows: 0, entriesScanned: 0 };
  for (const r of results) {
    stats.rollupRows += r.stats?.rollupRows ?? 0;
    stats.entriesScanned += r.stats?.entriesScanned ?? 0;
  }
  return { from: first.from, step: first.step, buckets: first.buckets, series, partial: reasons.length ? { reasons } : undefined, stats };
}
