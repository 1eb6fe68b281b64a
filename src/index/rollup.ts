import zlib from 'node:zlib';
import { checkedBody, withCrc } from './block-io.js';
import type { EntryColumns } from './columns.js';

/**
 * Per-minute roll-ups of a block: how many entries of each (service, server,
 * region, level) fell in each minute. Computed at seal (on the seal pool),
 * stored as a section of the block, so counting over hours reads a few
 * thousand rows per block instead of its entries.
 *
 * Section: deflated Float64 columns [minute, service, server, region, level,
 * count] x rows, then a u32 CRC-32 of the deflated bytes.
 */
export const MINUTE_NS = 60_000_000_000n;
const MINUTE = 60_000_000_000;

export interface Rollup {
  readonly rows: number;
  /** Minutes since the epoch. */
  readonly minute: Float64Array;
  readonly service: Uint32Array;
  readonly server: Uint32Array;
  readonly region: Uint32Array;
  readonly level: Uint8Array;
  readonly count: Uint32Array;
}

/** Counts of sorted entries per (minute, service, server, region, level). */
export function computeRollup(c: EntryColumns, count: number, labelCount: number): Rollup {
  const L = Math.max(1, labelCount);
  // A numeric key while it fits in 53 bits (up to ~130,000 labels); a string key beyond.
  const numeric = L * L * L * 4 < Number.MAX_SAFE_INTEGER;
  const minute: number[] = [];
  const service: number[] = [];
  const server: number[] = [];
  const region: number[] = [];
  const level: number[] = [];
  const counts: number[] = [];
  let current = Number.NaN;
  let rows = new Map<number | string, number>(); // key -> row index, for the current minute
  for (let i = 0; i < count; i++) {
    const m = Math.floor(Number(c.ts[i]!) / MINUTE);
    if (m !== current) {
      current = m;
      rows = new Map(); // entries are sorted by time: a minute never comes back
    }
    const sv = c.service[i]!;
    const sr = c.server[i]!;
    const rg = c.region[i]!;
    const lv = c.level[i]!;
    const key = numeric ? ((sv * L + sr) * L + rg) * 4 + lv : `${sv},${sr},${rg},${lv}`;
    const row = rows.get(key);
    if (row !== undefined) {
      counts[row]!++;
      continue;
    }
    rows.set(key, counts.length);
    minute.push(m);
    service.push(sv);
    server.push(sr);
    region.push(rg);
    level.push(lv);
    counts.push(1);
  }
  return {
    rows: counts.length,
    minute: Float64Array.from(minute),
    service: Uint32Array.from(service),
    server: Uint32Array.from(server),
    region: Uint32Array.from(region),
    level: Uint8Array.from(level),
    count: Uint32Array.from(counts),
  };
}

export function encodeRollup(r: Rollup): Uint8Array {
  const n = r.rows;
  const raw = new Float64Array(n * 6);
  for (let i = 0; i < n; i++) {
    raw[i] = r.minute[i]!;
    raw[n + i] = r.service[i]!;
    raw[2 * n + i] = r.server[i]!;
    raw[3 * n + i] = r.region[i]!;
    raw[4 * n + i] = r.level[i]!;
    raw[5 * n + i] = r.count[i]!;
  }
  return withCrc(zlib.deflateRawSync(new Uint8Array(raw.buffer), { level: 1 }));
}

/** Decodes a roll-up section; null when its CRC or shape is wrong (the caller then counts by scanning). */
export function decodeRollup(bytes: Uint8Array): Rollup | null {
  const body = checkedBody(bytes);
  if (body === null) return null;
  const inflated = zlib.inflateRawSync(body);
  if (inflated.byteLength % 48 !== 0) return null;
  const raw = new Float64Array(inflated.buffer.slice(inflated.byteOffset, inflated.byteOffset + inflated.byteLength));
  const n = raw.length / 6;
  return {
    rows: n,
    minute: raw.slice(0, n),
    service: Uint32Array.from(raw.subarray(n, 2 * n)),
    server: Uint32Array.from(raw.subarray(2 * n, 3 * n)),
    region: Uint32Array.from(raw.subarray(3 * n, 4 * n)),
    level: Uint8Array.from(raw.subarray(4 * n, 5 * n)),
    count: Uint32Array.from(raw.subarray(5 * n, 6 * n)),
  };
}
