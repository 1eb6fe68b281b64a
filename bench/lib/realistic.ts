import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../src/util/mulberry32.js';

/**
 * A fleet shaped like a real one, for benchmarks that must not flatter:
 * 10,000 servers in 100 regions, each running one of 200 services whose
 * popularity is Zipf(1.1); levels DEBUG 30 %, INFO 64.5 %, WARN 5 %,
 * ERROR 0.5 %; messages from the Loghub samples (each service logs like one
 * of the 16 systems: a real line with its numbers drawn afresh); per-server
 * clock skew uniform in +-2 s plus jitter; one hour. Seeded: the same seed
 * gives the same entries, so every system in a run loads the same data.
 */
export interface RealisticOptions {
  readonly entries: number;
  readonly seed?: number;
  readonly servers?: number;
  readonly regions?: number;
  readonly services?: number;
  /** The hour's start, ns (default 2026-01-01T00:00:00Z). */
  readonly startNs?: bigint;
}

export interface RealisticEntry {
  readonly ts: bigint;
  readonly service: string;
  readonly server: string;
  readonly region: string;
  /** 0..3 = DEBUG..ERROR */
  readonly level: number;
  readonly message: string;
}

export const HOUR_NS = 3_600_000_000_000n;
export const DEFAULT_START_NS = 1_767_225_600_000_000_000n;
const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

/** The seeded generator the fleet draws from. */
export const rng = mulberry32;

/** One CSV record split into fields (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return out;
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      i++; // the comma
    } else {
      const c = line.indexOf(',', i);
      const end = c < 0 ? line.length : c;
      out.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return out;
}

const LOGHUB = fileURLToPath(new URL('../../../../shared/data/loghub/', import.meta.url));

/** Per Loghub system, the Content column of its structured sample: real lines, templates and variables. */
export function loghubMessages(dir = LOGHUB): { system: string; lines: string[] }[] {
  const out: { system: string; lines: string[] }[] = [];
  for (const system of readdirSync(dir).sort()) {
    let files: string[];
    try {
      files = readdirSync(join(dir, system)).filter((f) => f.endsWith('_structured.csv'));
    } catch {
      continue;
    }
    if (files.length === 0) continue;
    const rows = readFileSync(join(dir, system, files[0]!), 'utf8')
      .split(/\r?\n/)
      .filter((l) => l.length > 0);
    const header = csvFields(rows[0]!);
    const col = header.indexOf('Content');
    const lines = rows
      .slice(1)
      .map((r) => csvFields(r)[col] ?? '')
      .filter((m) => m.length > 0);
    if (lines.length > 0) out.push({ system, lines });
  }
  return out;
}

/** A real line with each run of digits drawn afresh (same length): the template stays, the variables vary. */
function refill(line: string, r: () => number): string {
  return line.replace(/\d+/g, (d) => {
    let s = '';
    for (let i = 0; i < d.length; i++) s += String.fromCharCode(48 + Math.floor(r() * 10));
    return s;
  });
}

export class RealisticFleet {
  readonly servers: string[];
  readonly regions: string[];
  readonly services: string[];
  /** Per server: its service index and region index. */
  readonly serverService: Uint16Array;
  readonly serverRegion: Uint16Array;
  private readonly skewNs: Float64Array;
  private readonly systems: { system: string; lines: string[] }[];
  readonly startNs: bigint;

  constructor(readonly options: RealisticOptions) {
    const r = rng(options.seed ?? 42);
    const nServers = options.servers ?? 10_000;
    const nRegions = options.regions ?? 100;
    const nServices = options.services ?? 200;
    this.startNs = options.startNs ?? DEFAULT_START_NS;
    this.systems = loghubMessages();
    this.services = Array.from({ length: nServices }, (_, i) => `${this.systems[i % this.systems.length]!.system.toLowerCase()}-${String(i).padStart(3, '0')}`);
    this.regions = Array.from({ length: nRegions }, (_, i) => `region-${String(i).padStart(2, '0')}`);
    this.servers = Array.from({ length: nServers }, (_, i) => `srv-${String(i).padStart(5, '0')}`);
    // Zipf(1.1) popularity: a server runs service k with probability proportional to 1 / k^1.1.
    const weights = Array.from({ length: nServices }, (_, k) => 1 / (k + 1) ** 1.1);
    const total = weights.reduce((a, b) => a + b, 0);
    const cumulative = new Float64Array(nServices);
    let acc = 0;
    weights.forEach((w, k) => (cumulative[k] = acc += w / total));
    this.serverService = new Uint16Array(nServers);
    this.serverRegion = new Uint16Array(nServers);
    this.skewNs = new Float64Array(nServers);
    for (let s = 0; s < nServers; s++) {
      const u = r();
      let k = 0;
      while (k < nServices - 1 && cumulative[k]! < u) k++;
      this.serverService[s] = k;
      this.serverRegion[s] = s % nRegions;
      this.skewNs[s] = (r() * 2 - 1) * 2e9;
    }
  }

  /**
   * Calls `fn` for every entry, in arrival order: entry i arrives at
   * start + i/N of the hour, stamped by its server's skewed clock (+-2 s)
   * with +-5 ms of jitter, so timestamps are out of order by up to 4 s.
   */
  forEach(fn: (e: RealisticEntry, i: number) => void): void {
    const r = rng((this.options.seed ?? 42) ^ 0x5eed);
    const n = this.options.entries;
    const spacing = Number(HOUR_NS) / n;
    const start = Number(this.startNs % 1_000_000_000_000n);
    const base = this.startNs - BigInt(start);
    for (let i = 0; i < n; i++) {
      const s = Math.floor(r() * this.servers.length);
      const svc = this.serverService[s]!;
      const u = r();
      const level = u < 0.3 ? 0 : u < 0.945 ? 1 : u < 0.995 ? 2 : 3;
      const lines = this.systems[svc % this.systems.length]!.lines;
      const message = refill(lines[Math.floor(r() * lines.length)]!, r);
      const offset = Math.round(start + i * spacing + this.skewNs[s]! + (r() * 2 - 1) * 5e6);
      fn(
        { ts: base + BigInt(offset), service: this.services[svc]!, server: this.servers[s]!, region: this.regions[this.serverRegion[s]!]!, level, message },
        i,
      );
    }
  }
}

/** The entry as one NDJSON line, ts a JSON integer of nanoseconds (exact: Tributary reads the digits). */
export function ndjsonLine(e: RealisticEntry): string {
  return `{"ts":${e.ts},"service":"${e.service}","server":"${e.server}","region":"${e.region}","level":"${LEVELS[e.level]}","msg":${JSON.stringify(e.message)}}`;
}

/** Writes the fleet's entries as NDJSON; returns the bytes written. */
export function writeNdjson(fleet: RealisticFleet, path: string): number {
  const fd = openSync(path, 'w');
  let chunk = '';
  let bytes = 0;
  fleet.forEach((e) => {
    chunk += ndjsonLine(e) + '\n';
    if (chunk.length > 1 << 20) {
      bytes += writeSync(fd, chunk);
      chunk = '';
    }
  });
  if (chunk.length > 0) bytes += writeSync(fd, chunk);
  closeSync(fd);
  return bytes;
}
