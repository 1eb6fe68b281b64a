import type { ExecutionContext } from 'ava';
import { Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { tempDir } from './system.js';

/** A daemon on free ports over a temporary directory, stopped when the test ends. */
export async function startDaemon(t: ExecutionContext, options: DaemonOptions = {}): Promise<Daemon> {
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: false, workers: 2, ...options });
  t.teardown(() => d.stop());
  return d;
}

export interface StoredEntry {
  ts: string;
  level: string;
  service: string;
  server: string;
  region: string;
  message: string;
  labels?: Record<string, string>;
  metadata?: Record<string, string>;
}

/** What a query over HTTP returns, oldest first (up to 5000 entries). */
export async function storedEntries(d: Daemon, query = '{}', from = 0n, to = BigInt(Date.now() + 86_400_000) * 1_000_000n): Promise<StoredEntry[]> {
  const res = await fetch(
    `${d.url}/api/v1/query?${new URLSearchParams({ query, from: from.toString(), to: to.toString(), limit: '5000', direction: 'forward' })}`,
  );
  if (!res.ok) throw new Error(`query ${query} answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: { entries: StoredEntry[] } }).data.entries;
}

export function post(d: Daemon, path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${d.url}${path}`, { method: 'POST', body, headers });
}
