import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { customAlphabet } from 'nanoid';

/** KV keys and NATS tokens allow these; ids stay readable in `tributary cluster status`. */
const newId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 10);

/**
 * This data directory's member id: made once and kept in `cluster-member`,
 * so a restarted daemon rejoins as the member that holds its shards' data.
 */
export function memberIdFor(dataDir: string): string {
  const file = join(dataDir, 'cluster-member');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{1,64}$/.test(id)) return id;
  } catch {
    // first start in a cluster
  }
  const id = `m-${newId()}`;
  writeFileSync(file, id + '\n');
  return id;
}
