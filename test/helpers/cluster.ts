import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { findNatsServer, LocalNatsCluster } from '../../src/cluster/local-nats.js';
import { tempDir } from './system.js';

/** nats-server on this machine (CI installs Debian's package), or undefined: the cluster tests are then skipped, saying so. */
export const natsServer = findNatsServer();

/** A 3-node NATS cluster with JetStream on 127.0.0.1, stopped when the test ends. */
export async function startNats(t: ExecutionContext, nodes = 3): Promise<LocalNatsCluster> {
  const nats = await LocalNatsCluster.start({ dir: join(tempDir(t, 'tributary-nats-'), 'nats'), nodes });
  t.teardown(() => nats.stop());
  return nats;
}

export interface QueriedEntry {
  readonly message: string;
  readonly service: string;
}

/** Every entry a daemon's query API returns for `{}` (all time), page by page; and whether any page was partial, and why. */
export async function queryAll(url: string, pageSize = 20_000, timeoutMs = 5000): Promise<{ entries: QueriedEntry[]; partial: string[] }> {
  const entries: QueriedEntry[] = [];
  const partial: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const params = new URLSearchParams({
      query: '{}',
      from: '0',
      to: String(BigInt(Date.now() + 86_400_000) * 1_000_000n),
      limit: String(pageSize),
      direction: 'forward',
      timeout_ms: String(timeoutMs),
      ...(cursor ? { cursor } : {}),
    });
    const res = await fetch(`${url}/api/v1/query?${params}`);
    if (!res.ok) throw new Error(`query answered ${res.status}: ${await res.text()}`);
    const page = ((await res.json()) as { data: { entries: QueriedEntry[]; nextCursor?: string; partial?: { reasons: string[] } } }).data;
    entries.push(...page.entries);
    partial.push(...(page.partial?.reasons ?? []));
    if (!page.nextCursor || page.entries.length === 0) return { entries, partial };
    cursor = page.nextCursor;
  }
}

/** Message -> how many times it was found. */
export function occurrences(entries: readonly { readonly message: string }[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const e of entries) seen.set(e.message, (seen.get(e.message) ?? 0) + 1);
  return seen;
}
