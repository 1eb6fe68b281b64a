import test from 'ava';
import { encodeBatch } from '../../src/batch/encode.js';
import { ShardStore } from '../../src/index/store.js';
import { Level } from '../../src/model/level.js';
import { countView } from '../../src/query/aggregate.js';
import { planQuery } from '../../src/query/model.js';
import { tempDir } from '../helpers/system.js';

const MIN = 60_000_000_000n;
const T0 = 1_767_225_600_000_000_000n; // on a minute

// Entries on minute boundaries, 1 ns either side of them, and in between, over 10 minutes.
const STAMPS = Array.from({ length: 10 }, (_, m) => [0n, 1n, MIN / 2n, MIN - 1n].map((d) => T0 + BigInt(m) * MIN + d)).flat();

/** Entries per bucket [from + k step, from + k step + window): from 1 ns after a minute, that is Loki's (m, m + window]. */
function brute(from: bigint, to: bigint, step: bigint, window = step): number[] {
  const n = Number((to - from + step - 1n) / step);
  const out = new Array<number>(n).fill(0);
  for (const ts of STAMPS) for (let k = 0; k < n; k++) if (ts >= from + BigInt(k) * step && ts < from + BigInt(k) * step + window) out[k]!++;
  return out;
}

test("per-minute roll-ups count windows starting on a minute, Loki's windows starting 1 ns after one, and disjoint windows, exactly as a scan does", async (t) => {
  const { store } = ShardStore.open({ dir: tempDir(t), sealInBackground: false });
  t.teardown(() => store.close());
  store.append(
    encodeBatch(
      STAMPS.map((ts, i) => ({ ts, level: Level.INFO, service: 'api', server: 'h', region: 'r', message: `m ${i}` })),
      { sourceId: 's', firstSeq: 0n },
    ),
  );
  await store.seal();
  for (const [from, step, rollup, window] of [
    [T0 + 1n, 2n * MIN, true, MIN],
    [T0, 3n * MIN, true, MIN],
    [T0 + 1n, 2n * MIN, false, MIN / 2n],
    [T0, MIN, true],
    [T0 + 1n, MIN, true],
    [T0 + 1n, 2n * MIN, true],
    [T0 + 2n * MIN + 1n, MIN, true],
    [T0 + 1n, MIN / 2n, false],
    [T0 + 7n, MIN, false],
  ] as const) {
    const to = from + 8n * MIN;
    const r = countView(store.readView(), planQuery({ from, to, services: ['api'] }), step, [], Infinity, window);
    const got = r.series[0]?.counts ?? [];
    t.deepEqual(got, brute(from, to, step, window), `from T0+${from - T0} step ${step} window ${window}`);
    t.is((r.stats?.rollupRows ?? 0) > 0, rollup, 'roll-ups answer exactly when the buckets allow them');
  }
});
