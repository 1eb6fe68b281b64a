import { appendFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { Collector, type CollectorOptions } from '../../src/collector/collector.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { storedEntries } from '../helpers/daemon.js';

/** pino's own line format: numeric level, time in ms, hostname, name. */
export function pinoLines(prefix: string, from: number, count: number, level = 30): string {
  let out = '';
  const t = Date.now();
  for (let i = from; i < from + count; i++) out += `{"level":${level},"time":${t + i},"pid":4242,"hostname":"web-1","name":"api","msg":"${prefix} ${i}"}\n`;
  return out;
}

export function appendPino(path: string, prefix: string, from: number, count: number): void {
  appendFileSync(path, pinoLines(prefix, from, count));
}

/** A collector stopped when the test ends; fast retries so outages are seen within a test's time. */
export async function startCollector(t: ExecutionContext, options: CollectorOptions): Promise<Collector> {
  const c = await Collector.start({
    pollMs: 50,
    rotateWaitMs: 300,
    send: { timeoutMs: 1000, attempts: 2, backoff: { initialMs: 10, maxMs: 100, jitter: 1 }, breaker: { failures: 2, openMs: 100, maxOpenMs: 400 } },
    ...options,
  });
  t.teardown(() => c.stop());
  return c;
}

/** Every stored message with the given prefix, with how many times each is stored. */
export async function storedMessages(d: Daemon, prefix: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const e of await storedEntries(d, `{service="api"} |= "${prefix} "`)) counts.set(e.message, (counts.get(e.message) ?? 0) + 1);
  return counts;
}

/** Asserts messages `${prefix} 0` .. `${prefix} ${n - 1}` are each stored exactly once. */
export async function assertExactlyOnce(t: ExecutionContext, d: Daemon, prefix: string, n: number): Promise<void> {
  const counts = await storedMessages(d, prefix);
  const missing = [];
  for (let i = 0; i < n; i++) if (!counts.has(`${prefix} ${i}`)) missing.push(i);
  const repeated = [...counts].filter(([, c]) => c > 1).map(([m]) => m);
  t.deepEqual(
    { missing: missing.slice(0, 10), missingCount: missing.length, repeated: repeated.slice(0, 10), stored: counts.size },
    { missing: [], missingCount: 0, repeated: [], stored: n },
  );
}
