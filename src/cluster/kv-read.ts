import type { KV } from '@nats-io/kv';
import { TributaryError } from '../errors.js';

/**
 * Every record in `kv`, or a rejection if any listed key could not be read:
 * a get that timed out while NATS fails over must not read as "gone" (a
 * registry view without a down member would make queries that miss its
 * entries say they are whole). A key deleted between listing and reading
 * is gone.
 */
export async function readAll<T>(kv: Pick<KV, 'keys' | 'get'>): Promise<T[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  const out: T[] = [];
  for (const k of keys.sort()) {
    const e = await kv.get(k).catch((err: Error) => {
      throw new TributaryError('E_UNAVAILABLE', `cannot read ${k}: ${err.message}`, { key: k }, { cause: err });
    });
    if (e && e.operation === 'PUT') out.push(e.json<T>());
  }
  return out;
}
