import { BatchReader } from '../batch/reader.js';
import { NO_ID } from '../batch/layout.js';
import { allocColumns, type EntryColumns, type SealColumns } from './columns.js';
import type { BlockIndex } from './block-format.js';
import { blockPages } from './block-reader.js';
import type { StorageFs } from './fs.js';

/**
 * A batch to seal: its bytes and, for each label of its dictionary, the
 * shard-wide label id (NO_SET for dictionary entries only metadata uses:
 * those are copied per entry, never given shard ids).
 */
export interface SealBatch {
  readonly bytes: Uint8Array;
  readonly labelIds: Uint32Array;
}

/**
 * Gathers the entries of many batches into sorted columns for a block:
 * sorted by (ts, source, seq), labels mapped to shard-wide ids, messages
 * copied once, straight into sorted order. Pure: it runs on the shard's thread
 * or on a seal worker alike.
 */
export function buildSealColumns(batches: readonly SealBatch[]): SealColumns {
  let n = 0;
  const readers = batches.map((b) => BatchReader.open(b.bytes, { verify: false }));
  for (const r of readers) n += r.count;
  const cols = allocColumns(n);
  const { ts, level, service, server, region, labels: labelSet, source, seq } = cols;
  const metas: string[] = new Array(n);
  // Messages are copied once, straight from their batch into sorted order: entry k's
  // message is batch[msgBatch[k]].messageBytes()[msgStart[k] .. + msgLen[k]].
  const msgBatch = new Uint32Array(n);
  const msgStart = new Uint32Array(n);
  const msgLen = new Uint32Array(n);
  const batchBytes: Uint8Array[] = [];
  const sources: string[] = [];
  const sourceIdx = new Map<string, number>();
  let msgTotal = 0;
  let k = 0;
  for (const [bi, r] of readers.entries()) {
    const labels = batches[bi]!.labelIds;
    let si = sourceIdx.get(r.sourceId);
    if (si === undefined) {
      si = sources.length;
      sources.push(r.sourceId);
      sourceIdx.set(r.sourceId, si);
    }
    const rts = r.timestamps();
    const rl = r.levels();
    const rs = r.serviceIds();
    const rv = r.serverIds();
    const rg = r.regionIds();
    const rl2 = r.labelSetIds();
    const rm = r.metaIds();
    const dict = rm === null ? [] : r.labels();
    const off = r.messageOffsets();
    const b = batchBytes.length;
    batchBytes.push(r.messageBytes());
    msgTotal += off[r.count]!;
    const first = Number(r.firstSeq);
    for (let i = 0; i < r.count; i++, k++) {
      ts[k] = rts[i]!;
      level[k] = rl[i]!;
      service[k] = labels[rs[i]!]!;
      server[k] = labels[rv[i]!]!;
      region[k] = labels[rg[i]!]!;
      if (rl2 !== null && rl2[i] !== NO_ID) labelSet[k] = labels[rl2[i]!]!;
      metas[k] = rm === null || rm[i] === NO_ID ? '' : dict[rm[i]!]!;
      source[k] = si;
      seq[k] = first + i;
      msgBatch[k] = b;
      msgStart[k] = off[i]!;
      msgLen[k] = off[i + 1]! - off[i]!;
    }
  }
  return sortColumns({
    n,
    cols,
    sources,
    msg: (k) => batchBytes[msgBatch[k]!]!.subarray(msgStart[k]!, msgStart[k]! + msgLen[k]!),
    msgTotal,
    meta: (k) => metas[k]!,
  });
}

/** Unsorted columns, with a way to reach entry k's message bytes. */
interface Gathered {
  readonly n: number;
  readonly cols: EntryColumns;
  readonly sources: string[];
  readonly msg: (k: number) => Uint8Array;
  readonly msgTotal: number;
  /** Entry k's structured metadata, encoded ('' for none). */
  readonly meta: (k: number) => string;
}

/** Sorts gathered columns by (ts, source, seq) into block columns; messages are copied once, in sorted order. */
function sortColumns(g: Gathered): SealColumns {
  const { n } = g;
  const { ts, level, service, server, region, labels, seq } = g.cols;
  // Number sources in the order of their ids, so that ties at one timestamp order by
  // (source id, seq) in every block alike: merging blocks needs one total order.
  const sortedSources = [...g.sources].sort();
  const rank = new Map(sortedSources.map((id, i) => [id, i]));
  const remap = Uint32Array.from(g.sources, (id) => rank.get(id)!);
  const source = g.cols.source;
  for (let i = 0; i < n; i++) source[i] = remap[source[i]!]!;
  // Timestamps compare as (high signed, low unsigned) 32-bit halves.
  const halves = new Int32Array(ts.buffer, ts.byteOffset, n * 2);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort(
    (a, b) => halves[2 * a + 1]! - halves[2 * b + 1]! || (halves[2 * a]! >>> 0) - (halves[2 * b]! >>> 0) || source[a]! - source[b]! || seq[a]! - seq[b]!,
  );
  const msgOffsets = new Uint32Array(n + 1);
  const msgBytes = new Uint8Array(g.msgTotal);
  const out = allocColumns(n);
  let m = 0;
  const metaOffsets = new Uint32Array(n + 1);
  const metaParts: string[] = [];
  let metaLength = 0;
  for (let j = 0; j < n; j++) {
    const i = order[j]!;
    out.ts[j] = ts[i]!;
    out.level[j] = level[i]!;
    out.service[j] = service[i]!;
    out.server[j] = server[i]!;
    out.region[j] = region[i]!;
    out.labels[j] = labels[i]!;
    out.source[j] = source[i]!;
    out.seq[j] = seq[i]!;
    msgOffsets[j] = m;
    const bytes = g.msg(i);
    msgBytes.set(bytes, m);
    m += bytes.byteLength;
    const meta = g.meta(i);
    metaOffsets[j] = metaLength;
    if (meta !== '') {
      metaParts.push(meta);
      metaLength += Buffer.byteLength(meta);
    }
  }
  msgOffsets[n] = m;
  metaOffsets[n] = metaLength;
  const metaBytes = metaLength === 0 ? new Uint8Array(0) : new Uint8Array(Buffer.from(metaParts.join(''), 'utf8'));
  return { count: n, ...out, sources: sortedSources, msgOffsets, msgBytes, metaOffsets, metaBytes };
}

/** Reads every entry of the given blocks back into one sorted set of columns (for compaction). */
export function buildColumnsFromBlocks(fs: StorageFs, blocks: readonly BlockIndex[], interrupt?: () => void): SealColumns {
  const n = blocks.reduce((a, b) => a + b.entries, 0);
  const cols = allocColumns(n);
  const { ts, level, service, server, region, labels, source, seq } = cols;
  const messages: Uint8Array[] = new Array(n);
  const metas: string[] = new Array(n);
  const sources: string[] = [];
  const sourceIdx = new Map<string, number>();
  let msgTotal = 0;
  let k = 0;
  for (const b of blocks) {
    const remap = b.sources.map((s) => {
      let i = sourceIdx.get(s.id);
      if (i === undefined) {
        i = sources.length;
        sources.push(s.id);
        sourceIdx.set(s.id, i);
      }
      return i;
    });
    const read = blockPages(fs, b);
    for (let p = 0; p < b.pages.length; p++) {
      interrupt?.();
      const page = read(p);
      ts.set(page.ts(), k);
      level.set(page.level(), k);
      service.set(page.service(), k);
      server.set(page.server(), k);
      region.set(page.region(), k);
      const sets = page.labelSets();
      if (sets !== null) labels.set(sets, k);
      const src = page.source();
      for (let i = 0; i < page.count; i++, k++) {
        source[k] = remap[src[i]!]!;
        seq[k] = page.seq(i);
        messages[k] = page.messageBytes(i);
        metas[k] = page.meta(i);
        msgTotal += messages[k]!.byteLength;
      }
    }
  }
  return sortColumns({ n, cols, sources, msg: (i) => messages[i]!, msgTotal, meta: (i) => metas[i]! });
}
