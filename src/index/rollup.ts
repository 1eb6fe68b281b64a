import zlib from 'node:zlib';
import { checkedBody, withCrc } from './block-io.js';
import type { EntryColumns } from './columns.js';
import { packColumns, unpackColumns } from './packed.js';

/**
 * Per-minute roll-ups of a block: how many entries of each (service, server,
 * region, level) fell in each minute. Computed at seal (on the seal pool),
 * stored as a section of the block, so counting over hours reads a few
 * thousand rows per block instead of its entries.
 *
 * Section (blocks v4): f64 first minute, u32 rows, then the columns [minute
 * - first, service, server, region, level, count, at start] packed at their widths
 * (packed.ts), deflated, then a u32 CRC-32 of the deflated bytes. Blocks
 * v1-3: deflated Float64 columns in the same order, minutes since the epoch
 * (at 10,000 servers a roll-up row stands for about 3 entries, and that
 * layout took 3.6 B/entry).
 */
export const MINUTE_NS = 60_000_000_000n;

export interface Rollup {
  readonly rows: number;
  /** Minutes since the epoch. */
  readonly minute: Float64Array;
  readonly service: Uint32Array;
  readonly server: Uint32Array;
  readonly region: Uint32Array;
  readonly level: Uint8Array;
  readonly count: Uint32Array;
  /**
   * Of count, the entries exactly at the minute's first nanosecond (blocks
   * v4; null before). With them the minute (m, m + 1] is count - atStart(m)
   * + atStart(m + 1): Loki's left-open windows come from the same rows.
   */
  readonly atStart: Uint32Array | null;
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
  const atStart: number[] = [];
  let current = Number.NaN;
  // The current minute's bounds in exact nanoseconds (a double would round timestamps near a boundary).
  let startNs = 0n;
  let endNs = -1n;
  let rows = new Map<number | string, number>(); // key -> row index, for the current minute
  for (let i = 0; i < count; i++) {
    const ts = c.ts[i]!;
    if (ts >= endNs || ts < startNs) {
      const m = ts >= 0n ? ts / MINUTE_NS : (ts - MINUTE_NS + 1n) / MINUTE_NS;
      startNs = m * MINUTE_NS;
      endNs = startNs + MINUTE_NS;
      current = Number(m);
      rows = new Map(); // entries are sorted by time: a minute never comes back
    }
    const sv = c.service[i]!;
    const sr = c.server[i]!;
    const rg = c.region[i]!;
    const lv = c.level[i]!;
    const first = ts === startNs ? 1 : 0;
    const key = numeric ? ((sv * L + sr) * L + rg) * 4 + lv : `${sv},${sr},${rg},${lv}`;
    const row = rows.get(key);
    if (row !== undefined) {
      counts[row]!++;
      atStart[row]! += first;
      continue;
    }
    rows.set(key, counts.length);
    minute.push(current);
    service.push(sv);
    server.push(sr);
    region.push(rg);
    level.push(lv);
    counts.push(1);
    atStart.push(first);
  }
  return {
    rows: counts.length,
    minute: Float64Array.from(minute),
    service: Uint32Array.from(service),
    server: Uint32Array.from(server),
    region: Uint32Array.from(region),
    level: Uint8Array.from(level),
    count: Uint32Array.from(counts),
    atStart: Uint32Array.from(atStart),
  };
}

export function encodeRollup(r: Rollup): Uint8Array {
  const n = r.rows;
  const first = n > 0 ? r.minute[0]! : 0;
  const minutes = new Uint32Array(n);
  for (let i = 0; i < n; i++) minutes[i] = r.minute[i]! - first;
  const packed = packColumns([minutes, r.service, r.server, r.region, r.level, r.count, r.atStart ?? new Uint32Array(n)], n);
  const raw = new Uint8Array(16 + packed.byteLength);
  const v = new DataView(raw.buffer);
  v.setFloat64(0, first, true);
  v.setUint32(8, n, true);
  raw.set(packed, 16);
  return withCrc(zlib.deflateRawSync(raw, { level: 6 }));
}

/** Decodes a roll-up section (`version`: its block's); null when its CRC or shape is wrong (the caller then counts by scanning). */
export function decodeRollup(bytes: Uint8Array, version: number): Rollup | null {
  if (version < 4) return decodeFloatRollup(bytes);
  const body = checkedBody(bytes);
  if (body === null) return null;
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(zlib.inflateRawSync(body));
  } catch {
    return null;
  }
  if (raw.byteLength < 16 || raw.byteOffset % 4 !== 0) raw = raw.slice();
  if (raw.byteLength < 16) return null;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const first = v.getFloat64(0, true);
  const n = v.getUint32(8, true);
  const cols = unpackColumns(raw.subarray(16), 7, n);
  if (cols === null) return null;
  const minute = new Float64Array(n);
  for (let i = 0; i < n; i++) minute[i] = first + cols[0]![i]!;
  return {
    rows: n,
    minute,
    service: Uint32Array.from(cols[1]!),
    server: Uint32Array.from(cols[2]!),
    region: Uint32Array.from(cols[3]!),
    level: Uint8Array.from(cols[4]!),
    count: Uint32Array.from(cols[5]!),
    atStart: Uint32Array.from(cols[6]!),
  };
}

/** Blocks v1-3's layout: Float64 columns. */
function decodeFloatRollup(bytes: Uint8Array): Rollup | null {
  const body = checkedBody(bytes);
  if (body === null) return null;
  let inflated: Buffer;
  try {
    inflated = zlib.inflateRawSync(body);
  } catch {
    return null;
  }
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
    atStart: null,
  };
}
