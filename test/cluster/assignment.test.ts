import test from 'ava';
import fc from 'fast-check';
import { assignShards } from '../../src/cluster/assignment.js';

const shardsOf = (n: number) => Array.from({ length: n }, (_, i) => `shard-${i}`);
const memberIds = fc.uniqueArray(fc.stringMatching(/^m-[a-z0-9]{4,10}$/), { minLength: 1, maxLength: 9 });

test('every shard goes to a live member, and every member holds floor(S/M) or ceil(S/M) shards', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), memberIds, (n, members) => {
      const shards = shardsOf(n);
      const a = assignShards(shards, members);
      t.deepEqual([...a.keys()].sort(), [...shards].sort());
      for (const owner of a.values()) t.true(members.includes(owner));
      const load = new Map(members.map((m) => [m, 0]));
      for (const owner of a.values()) load.set(owner, load.get(owner)! + 1);
      for (const [m, k] of load) t.true(k === Math.floor(n / members.length) || k === Math.ceil(n / members.length), `${m} holds ${k} of ${n}`);
    }),
  );
});

test('every member computes the same assignment, whatever order it lists the members in', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 32 }), memberIds, (n, members) => {
      const shards = shardsOf(n);
      t.deepEqual(assignShards(shards, members), assignShards([...shards].reverse(), [...members].reverse()));
    }),
  );
});

test('a member that leaves moves its own shards and few others (under 1.5 on average)', (t) => {
  // Plain modulo placement would move most shards; rendezvous moves only the leaver's; bounds on load cost a little.
  let others = 0;
  let trials = 0;
  fc.assert(
    fc.property(fc.uniqueArray(fc.stringMatching(/^m-[a-z0-9]{6}$/), { minLength: 2, maxLength: 6 }), fc.nat(), (members, pick) => {
      const shards = shardsOf(12);
      const before = assignShards(shards, members);
      const gone = members[pick % members.length]!;
      const after = assignShards(
        shards,
        members.filter((m) => m !== gone),
      );
      for (const s of shards) {
        if (before.get(s) === gone) t.not(after.get(s), gone);
        else if (after.get(s) !== before.get(s)) others++;
      }
      trials++;
    }),
    { numRuns: 500 },
  );
  t.true(others / trials < 1.5, `${(others / trials).toFixed(2)} other shards moved per departure`);
});

test('no members, no owners', (t) => {
  t.is(assignShards(shardsOf(4), []).size, 0);
});
