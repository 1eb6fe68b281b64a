import type { BatchReader } from '../batch/reader.js';
import { murmur3 } from '../util/murmur3.js';

/**
 * The detectors' feed: per stored batch and detector, the entries' service,
 * level and timestamp, and their ids as (source, first seq + index). About
 * 17 bytes an entry, against the batch's hundreds: detectors never see
 * messages.
 *
 * Layout (little-endian): u32 entry count, u32 name count, u64 first seq,
 * u16-prefixed UTF-8 source, then per name a u16-prefixed UTF-8 service,
 * padding to 8, then columns: i64 ts[n], u32 index[n] (into the batch, for
 * the seq), u32 service[n] (into the names), u8 level[n].
 */
export interface FeedEntry {
  readonly service: string;
  readonly level: number;
  readonly ts: bigint;
  readonly source: string;
  readonly seq: bigint;
}

/** Which detector of `detectors` watches a service. */
export function detectorFor(service: string, detectors: number): number {
  return murmur3(service, 0x5eed) % detectors;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One feed per detector for the entries of a stored batch (only detectors with entries get one). */
export function feedsOf(batch: BatchReader, detectors: number): Map<number, Uint8Array> {
  const labels = batch.labels();
  const serviceIds = batch.serviceIds();
  const levels = batch.levels();
  const ts = batch.timestamps();
  // Per label id: its detector, computed once per batch.
  const target = new Map<number, number>();
  const rows = new Map<number, number[]>();
  for (let i = 0; i < batch.count; i++) {
    const sid = serviceIds[i]!;
    let d = target.get(sid);
    if (d === undefined) target.set(sid, (d = detectorFor(labels[sid]!, detectors)));
    let r = rows.get(d);
    if (!r) rows.set(d, (r = []));
    r.push(i);
  }
  const source = encoder.encode(batch.sourceId);
  const out = new Map<number, Uint8Array>();
  for (const [d, idx] of rows) {
    const names: number[] = [];
    const nameIndex = new Map<number, number>();
    for (const i of idx) if (!nameIndex.has(serviceIds[i]!)) nameIndex.set(serviceIds[i]!, names.push(serviceIds[i]!) - 1);
    const encodedNames = names.map((sid) => encoder.encode(labels[sid]!));
    let head = 16 + 2 + source.length;
    for (const n of encodedNames) head += 2 + n.length;
    head = (head + 7) & ~7;
    const n = idx.length;
    const bytes = new Uint8Array(head + n * (8 + 4 + 4 + 1));
    const view = new DataView(bytes.buffer);
    view.setUint32(0, n, true);
    view.setUint32(4, names.length, true);
    view.setBigUint64(8, batch.firstSeq, true);
    let o = 16;
    view.setUint16(o, source.length, true);
    bytes.set(source, o + 2);
    o += 2 + source.length;
    for (const name of encodedNames) {
      view.setUint16(o, name.length, true);
      bytes.set(name, o + 2);
      o += 2 + name.length;
    }
    const tsCol = new BigInt64Array(bytes.buffer, head, n);
    const indexCol = new Uint32Array(bytes.buffer, head + 8 * n, n);
    const serviceCol = new Uint32Array(bytes.buffer, head + 12 * n, n);
    const levelCol = bytes.subarray(head + 16 * n, head + 17 * n);
    idx.forEach((i, k) => {
      tsCol[k] = ts[i]!;
      indexCol[k] = i;
      serviceCol[k] = nameIndex.get(serviceIds[i]!)!;
      levelCol[k] = levels[i]!;
    });
    out.set(d, bytes);
  }
  return out;
}

/** Calls `each` for every entry of a feed, in order. */
export function readFeed(bytes: Uint8Array, each: (service: string, level: number, ts: bigint, index: number) => void): { source: string; firstSeq: bigint } {
  // A frame's bytes may sit at any offset in the mailbox: columns are read from an aligned copy.
  const own = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const view = new DataView(own.buffer, own.byteOffset, own.byteLength);
  const n = view.getUint32(0, true);
  const nameCount = view.getUint32(4, true);
  const firstSeq = view.getBigUint64(8, true);
  let o = 16;
  const sourceLength = view.getUint16(o, true);
  const source = decoder.decode(own.subarray(o + 2, o + 2 + sourceLength));
  o += 2 + sourceLength;
  const names: string[] = [];
  for (let k = 0; k < nameCount; k++) {
    const len = view.getUint16(o, true);
    names.push(decoder.decode(own.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  const head = (o + 7) & ~7;
  const base = own.byteOffset + head;
  const tsCol = new BigInt64Array(own.buffer, base, n);
  const indexCol = new Uint32Array(own.buffer, base + 8 * n, n);
  const serviceCol = new Uint32Array(own.buffer, base + 12 * n, n);
  const levelCol = new Uint8Array(own.buffer, base + 16 * n, n);
  for (let k = 0; k < n; k++) each(names[serviceCol[k]!]!, levelCol[k]!, tsCol[k]!, indexCol[k]!);
  return { source, firstSeq };
}
