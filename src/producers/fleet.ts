import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from '../model/level.js';
import { syntheticMessage } from './synthetic.js';

/** A simulated fleet: who logs, how much, at what levels, with what clocks. */
export interface FleetOptions {
  /** Servers (default 1,000; up to 100,000). Server i runs service i mod services, in region i mod regions. */
  readonly servers?: number;
  readonly regions?: number;
  readonly services?: number;
  /** Entries per second across the fleet (default 10,000). */
  readonly rate?: number;
  /** Bursts: every `everyMs`, the rate is multiplied by `factor` for `forMs`. */
  readonly burst?: { readonly everyMs: number; readonly forMs: number; readonly factor: number };
  /** Fractions of DEBUG, WARN, ERROR (INFO is the rest). Default 0.25, 0.10, 0.02. */
  readonly levels?: { readonly debug?: number; readonly warn?: number; readonly error?: number };
  /** Each server's clock is off by a fixed amount in [-skewMs, +skewMs] (default 2000). */
  readonly skewMs?: number;
  /**
   * Injected failures: these services log ERROR with probability `errorRate`
   * from `atMs` (after start) for `forMs`, and again every `everyMs` when given.
   */
  readonly errorBursts?: readonly {
    readonly services: readonly string[];
    readonly atMs: number;
    readonly forMs: number;
    readonly errorRate: number;
    readonly everyMs?: number;
  }[];
  /** Seed of the level draws (default 1): the same options make the same fleet. */
  readonly seed?: number;
}

export interface FleetEntry {
  readonly timeMs: number;
  readonly level: Level;
  readonly service: string;
  readonly server: number;
  readonly region: string;
  readonly message: string;
}

/** pino's numeric levels, as a pino logger writes them. */
const PINO_LEVEL = [20, 30, 40, 50];

/** xorshift32: fast, seedable, good enough for a level mix. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** The fleet as a generator of entries: deterministic for given options and start time. */
export class Fleet {
  readonly servers: number;
  private readonly regions: string[];
  private readonly services: string[];
  private readonly skew: Int32Array;
  private readonly random: () => number;
  private readonly mix: { debug: number; warn: number; error: number };
  private n = 0;

  constructor(
    readonly options: FleetOptions = {},
    readonly startMs = Date.now(),
  ) {
    this.servers = Math.min(100_000, Math.max(1, options.servers ?? 1000));
    this.regions = Array.from({ length: Math.min(1000, Math.max(1, options.regions ?? 10)) }, (_, i) => `region-${i}`);
    this.services = Array.from({ length: Math.max(1, options.services ?? 20) }, (_, i) => `svc-${i}`);
    const skewMs = options.skewMs ?? 2000;
    this.skew = new Int32Array(this.servers);
    const r = rng(0x5eed);
    for (let i = 0; i < this.servers; i++) this.skew[i] = Math.round((r() * 2 - 1) * skewMs);
    this.random = rng(options.seed ?? 1);
    this.mix = { debug: 0.25, warn: 0.1, error: 0.02, ...options.levels };
  }

  serviceOf(server: number): string {
    return this.services[server % this.services.length]!;
  }

  regionOf(server: number): string {
    return this.regions[server % this.regions.length]!;
  }

  /** Entries due between the start and `nowMs` that were not produced yet (rate and bursts applied). */
  due(nowMs: number): number {
    const elapsed = Math.max(0, nowMs - this.startMs);
    const rate = this.options.rate ?? 10_000;
    let total = (elapsed * rate) / 1000;
    const b = this.options.burst;
    if (b && b.everyMs > 0) {
      const whole = Math.floor(elapsed / b.everyMs);
      const inBurst = Math.min(b.forMs, elapsed - whole * b.everyMs);
      total += ((whole * b.forMs + inBurst) * rate * (b.factor - 1)) / 1000;
    }
    return Math.max(0, Math.floor(total) - this.n);
  }

  /** The next entry, as server `n mod servers` logs it at `nowMs` by its own (skewed) clock. */
  next(nowMs: number): FleetEntry {
    const n = this.n++;
    const server = (n * 7919) % this.servers; // spread consecutive entries over the fleet
    const service = this.serviceOf(server);
    const x = this.random();
    let level: Level =
      x < this.mix.error
        ? Level.ERROR
        : x < this.mix.error + this.mix.warn
          ? Level.WARN
          : x < this.mix.error + this.mix.warn + this.mix.debug
            ? Level.DEBUG
            : Level.INFO;
    const at = nowMs - this.startMs;
    for (const burst of this.options.errorBursts ?? []) {
      const into = burst.everyMs ? (at - burst.atMs) % burst.everyMs : at - burst.atMs;
      if (at >= burst.atMs && into < burst.forMs && burst.services.includes(service) && this.random() < burst.errorRate) level = Level.ERROR;
    }
    return { timeMs: nowMs + this.skew[server]!, level, service, server, region: this.regionOf(server), message: syntheticMessage(n) };
  }
}

/** One entry as a pino logger would write it (what collectors read from the files). */
export function pinoLine(e: FleetEntry): string {
  return `{"level":${PINO_LEVEL[e.level]},"time":${e.timeMs},"pid":${1000 + (e.server % 30000)},"hostname":"srv-${e.server}","name":"${e.service}","region":"${e.region}","msg":${JSON.stringify(e.message)}}\n`;
}

export interface FleetFileOptions extends FleetOptions {
  readonly dir: string;
  /** Files written (servers are spread over them, as hosts with many services write to a few files). Default 4. */
  readonly files?: number;
  /** A file is rotated (renamed to .1, .2 ... and a new one started) past this size (default 64 MiB). */
  readonly rotateBytes?: number;
  /** Rotated files kept (default 3); older ones are deleted, as logrotate's `rotate`. */
  readonly keep?: number;
  /** How often entries are written (default 50 ms). */
  readonly tickMs?: number;
}

/**
 * The fleet writing rotating pino NDJSON files: `fleet-<k>.log`, renamed to
 * `fleet-<k>.log.1` (and on) past `rotateBytes`. Writes what the rate says
 * is due every tick.
 */
export class FleetFileWriter {
  private readonly fleet: Fleet;
  private readonly fds: number[] = [];
  private readonly sizes: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  written = 0;
  rotations = 0;

  constructor(
    private readonly options: FleetFileOptions,
    startMs = Date.now(),
  ) {
    this.fleet = new Fleet(options, startMs);
    mkdirSync(options.dir, { recursive: true });
    for (let k = 0; k < (options.files ?? 4); k++) {
      this.fds.push(openSync(this.path(k), 'a'));
      this.sizes.push(fstatSync(this.fds[k]!).size);
    }
  }

  path(k: number): string {
    return join(this.options.dir, `fleet-${k}.log`);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(Date.now()), this.options.tickMs ?? 50);
  }

  /** Writes the entries due by `nowMs` (at most `max`); returns how many. */
  tick(nowMs: number, max = Infinity): number {
    const due = Math.min(max, this.fleet.due(nowMs));
    const files = this.fds.length;
    const chunks: string[][] = Array.from({ length: files }, () => []);
    for (let i = 0; i < due; i++) {
      const e = this.fleet.next(nowMs);
      chunks[e.server % files]!.push(pinoLine(e));
    }
    for (let k = 0; k < files; k++) {
      if (chunks[k]!.length === 0) continue;
      const bytes = Buffer.from(chunks[k]!.join(''));
      writeSync(this.fds[k]!, bytes);
      this.sizes[k]! += bytes.length;
      if (this.sizes[k]! >= (this.options.rotateBytes ?? 64 * 1024 * 1024)) this.rotate(k);
    }
    this.written += due;
    return due;
  }

  /** logrotate's rename-and-create: .1 becomes .2 and so on, the live file becomes .1, a new one is opened. */
  private rotate(k: number): void {
    const keep = this.options.keep ?? 3;
    const base = this.path(k);
    if (existsSync(`${base}.${keep}`)) unlinkSync(`${base}.${keep}`);
    for (let i = keep - 1; i >= 1; i--) if (existsSync(`${base}.${i}`)) renameSync(`${base}.${i}`, `${base}.${i + 1}`);
    renameSync(base, `${base}.1`);
    closeSync(this.fds[k]!);
    this.fds[k] = openSync(base, 'a');
    this.sizes[k] = 0;
    this.rotations++;
  }

  stop(): void {
    clearInterval(this.timer);
    for (const fd of this.fds) closeSync(fd);
    this.fds.length = 0;
  }
}
