import test from 'ava';
import { HashRing, streamKey } from '../../src/shard/hash-ring.js';
import { murmur3 } from '../../src/util/murmur3.js';

const keys = Array.from({ length: 100_000 }, (_, i) => streamKey(`svc-${i % 97}`, `srv-${i}`));

test('murmur3 (over UTF-16 code units): the empty key hashes to 0 as in the reference; deterministic and order-sensitive', (t) => {
  t.is(murmur3(''), 0);
  t.is(murmur3('svc\u0000srv-1'), murmur3('svc\u0000srv-1'));
  t.not(murmur3('ab'), murmur3('ba'));
  t.not(murmur3('a', 1), murmur3('a', 2), 'the seed matters');
});

test('keys spread evenly over shards (within 15% of the mean with 128 virtual nodes)', (t) => {
  const ring = new HashRing(['s0', 's1', 's2', 's3']);
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(ring.lookup(k), (counts.get(ring.lookup(k)) ?? 0) + 1);
  const mean = keys.length / 4;
  for (const [s, n] of counts) t.true(Math.abs(n - mean) / mean < 0.15, `${s}: ${n}`);
});

test('adding a shard moves about 1/(n+1) of the keys, all to the new shard; removing it moves them back', (t) => {
  const ring = new HashRing<string>(['s0', 's1', 's2', 's3']);
  const before = keys.map((k) => ring.lookup(k));
  ring.add('s4');
  const after = keys.map((k) => ring.lookup(k));
  let moved = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] !== after[i]) {
      moved++;
      if (after[i] !== 's4') return t.fail(`a key moved between old shards: ${before[i]} -> ${after[i]}`);
    }
  }
  t.true(moved / keys.length > 0.14 && moved / keys.length < 0.26, `${moved} of ${keys.length} moved`);
  ring.remove('s4');
  t.deepEqual(
    keys.map((k) => ring.lookup(k)),
    before,
  );
});

test('every process builds the same ring whatever the order shards were added in', (t) => {
  const a = new HashRing(['s2', 's0', 's1']);
  const b = new HashRing<string>();
  for (const s of ['s0', 's1', 's2']) b.add(s);
  t.true(keys.every((k) => a.lookup(k) === b.lookup(k)));
});

test('an empty ring refuses to route', (t) => {
  t.throws(() => new HashRing().lookup('x'), { code: 'E_PLACEMENT' } as never);
});
