import test from 'ava';
import fc from 'fast-check';
import type { KV, KvEntry } from '@nats-io/kv';
import { readAll } from '../../src/cluster/kv-read.js';
import { TributaryError } from '../../src/errors.js';

/**
 * Reading a membership bucket (the node registry) whole. Under failover a
 * get can time out; the read must then fail, not come back without that
 * record: a registry view missing a down member made queries that missed
 * its entries say they were whole (seen in the kill test on a loaded CI
 * machine).
 */

type Stored = { readonly value: unknown } | 'deleted' | 'times out';

/** A bucket holding `records` under their keys; listed in the order given. */
function bucket(records: ReadonlyMap<string, Stored>): Pick<KV, 'keys' | 'get'> {
  return {
    keys: async () =>
      (async function* () {
        yield* records.keys();
      })() as unknown as Awaited<ReturnType<KV['keys']>>,
    get: async (key: string) => {
      const r = records.get(key);
      if (r === 'times out') throw new Error('timeout');
      if (r === undefined) return null;
      return {
        key,
        operation: r === 'deleted' ? 'DEL' : 'PUT',
        json: () => (r as { value: unknown }).value,
      } as unknown as KvEntry;
    },
  };
}

const stored = fc.oneof(
  { weight: 4, arbitrary: fc.integer().map((n) => ({ value: { n } }) as Stored) },
  { weight: 1, arbitrary: fc.constant<Stored>('deleted') },
  { weight: 1, arbitrary: fc.constant<Stored>('times out') },
);

test('a bucket read whole is every stored record in key order; one unreadable record fails the read (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), stored), { selector: ([k]) => k, maxLength: 12 }), async (pairs) => {
      const records = new Map(pairs);
      const unreadable = pairs.filter(([, r]) => r === 'times out').map(([k]) => k);
      const read = readAll<{ n: number }>(bucket(records));
      if (unreadable.length > 0) {
        const err = await read.then(
          () => undefined,
          (e: unknown) => e,
        );
        t.true(err instanceof TributaryError && err.code === 'E_UNAVAILABLE', 'a timed-out get must fail the whole read');
        t.true(unreadable.includes(String((err as TributaryError).context.key)));
        return;
      }
      const expected = [...records]
        .filter(([, r]) => typeof r === 'object')
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, r]) => (r as { value: unknown }).value);
      t.deepEqual(await read, expected);
    }),
  );
});
