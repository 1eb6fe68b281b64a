import type { LogEntry } from '../../src/model/entry.js';
import { syntheticLevel, syntheticMessage } from '../../src/producers/synthetic.js';

// Label strings made once: the benchmarks build entries in hot loops on the daemon's own main thread.
const SERVICES = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
const SERVERS = Array.from({ length: 500 }, (_, i) => `srv-${i}`);
const REGIONS = Array.from({ length: 10 }, (_, i) => `region-${i}`);

/**
 * Entry n of the benchmarks' simulated fleet: 500 servers, each running one
 * of 20 services in one of 10 regions, as a fleet does. `message` defaults
 * to the synthetic template for n (pass a cached one in hot loops).
 */
export function fleetEntry(n: number, ts: bigint, message: string = syntheticMessage(n)): LogEntry {
  const server = n % 500;
  return { ts, level: syntheticLevel(n), service: SERVICES[server % 20]!, server: SERVERS[server]!, region: REGIONS[server % 10]!, message };
}

const PINO_LEVELS = [20, 30, 40, 50];

/** An entry as pino writes it (numeric level, time in ms, hostname, name), with its region as an extra field. */
export function pinoLineOf(e: LogEntry): string {
  return `{"level":${PINO_LEVELS[e.level]},"time":${e.ts / 1_000_000n},"pid":4242,"hostname":"${e.server}","name":"${e.service}","region":"${e.region}","msg":${JSON.stringify(e.message)}}`;
}
