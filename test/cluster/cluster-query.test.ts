import test, { type ExecutionContext } from 'ava';
import { serialize } from 'node:v8';
import type { NatsConnection } from '@nats-io/nats-core';
import { ClusterQueryEngine, type ClusterView } from '../../src/cluster/cluster-query.js';
import { connectNats, names } from '../../src/cluster/nats.js';
import type { IdentifiedEntry } from '../../src/model/entry.js';
import { emptyStats } from '../../src/query/scan.js';
import { natsServer, startNats } from '../helpers/cluster.js';

/**
 * Scatter-gather over NATS with stand-in members: which replies a query
 * keeps, when it stops waiting, and when it must say it is partial. One
 * NATS node; the members are subscriptions answering as daemons do.
 */

const natsTest = natsServer ? test.serial : test.skip;

async function connection(t: ExecutionContext): Promise<NatsConnection> {
  const nats = await startNats(t, 1);
  const nc = await connectNats({ servers: nats.servers });
  t.teardown(() => nc.close());
  return nc;
}

/** A member's answer for `shards`: `n` entries of its own (and, given `standIns`, one entry per shard it stands in for). */
function answer(member: string, n: number, shards: readonly string[], standIns: readonly string[] = []) {
  const entry = (i: number, server = member): IdentifiedEntry => ({
    ts: 1_000n + BigInt(i),
    service: 'svc',
    server,
    region: 'r1',
    level: 1,
    message: `${server} ${i}`,
    source: server,
    seq: BigInt(i),
  });
  const result = (entries: IdentifiedEntry[]) => ({ entries, stats: emptyStats() });
  return {
    member,
    ok: true,
    shards,
    result: result(Array.from({ length: n }, (_, i) => entry(i))),
    standIns: standIns.map((shard) => ({ shard, result: result([entry(0, `${member}-for-${shard}`)]) })),
  };
}

/** Members answering every query, in this order, from one connection (so the asker receives them in this order). */
function members(nc: NatsConnection, replies: readonly object[]): void {
  nc.subscribe(names.query, { callback: (_err, msg) => replies.forEach((r) => msg.respond(serialize(r))) });
}

const everything = { from: 0n, to: 1n << 62n, limit: 1000 };
const messages = (r: { entries: readonly { message: string }[] }) => r.entries.map((e) => e.message).sort();

natsTest("an answer is whole once every shard is answered for, whoever answers: a member the asker's view does not list yet counts", async (t) => {
  const nc = await connection(t);
  // c joined a tick ago: the asker's view has not seen it, but it owns shard-2 already and answers first.
  members(nc, [answer('c', 3, ['shard-2']), answer('a', 2, ['shard-0']), answer('b', 1, ['shard-1'])]);
  const view: ClusterView = { shards: ['shard-0', 'shard-1', 'shard-2'], live: ['a', 'b'] };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 20_000 });
  t.is(result.partial, undefined);
  t.deepEqual(messages(result), ['a 0', 'a 1', 'b 0', 'c 0', 'c 1', 'c 2']);
});

natsTest('a shard nobody answers for makes the answer partial, naming it and its owner, and the members that failed or kept silent', async (t) => {
  const nc = await connection(t);
  members(nc, [answer('a', 2, ['shard-0']), { member: 'f', ok: false, code: 'E_IO', message: 'disk gone' }]);
  const view: ClusterView = {
    shards: ['shard-0', 'shard-1'],
    live: ['a', 'f', 'silent'],
    owners: new Map([['shard-1', 'f']]),
  };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 300 });
  t.deepEqual(messages(result), ['a 0', 'a 1']);
  const reasons = result.partial?.reasons ?? [];
  t.true(
    reasons.some((r) => r.includes('shard-1') && r.includes('f')),
    reasons.join('; '),
  );
  t.false(
    reasons.some((r) => r.includes('shard-0')),
    reasons.join('; '),
  );
  t.deepEqual(
    ['f', 'silent', 'a'].map((m) => reasons.some((r) => r.startsWith(`member ${m} `))),
    [true, true, false],
    reasons.join('; '),
  );
});

natsTest('every shard answered for, a silent member does not make the answer partial (it owns nothing)', async (t) => {
  const nc = await connection(t);
  members(nc, [answer('a', 1, ['shard-0', 'shard-1'])]);
  const view: ClusterView = { shards: ['shard-0', 'shard-1'], live: ['a', 'idle'] };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 5_000 });
  t.is(result.partial, undefined);
  t.deepEqual(messages(result), ['a 0']);
});

natsTest("a stand-in's answer is used for a shard no owner answers for, and left out when its new owner answers", async (t) => {
  const nc = await connection(t);
  // a handed shard-1 and shard-2 over to b; b answers for shard-1 already, shard-2 not yet.
  members(nc, [answer('a', 1, ['shard-0'], ['shard-1', 'shard-2']), answer('b', 1, ['shard-1'])]);
  const view: ClusterView = { shards: ['shard-0', 'shard-1', 'shard-2'], live: ['a', 'b'] };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 20_000 });
  t.is(result.partial, undefined);
  t.deepEqual(messages(result), ['a 0', 'a-for-shard-2 0', 'b 0']);
});

natsTest('a shard answered for by two owners (a hand-over) is said, since counts would hold it twice', async (t) => {
  const nc = await connection(t);
  members(nc, [answer('a', 1, ['shard-0']), answer('b', 1, ['shard-0', 'shard-1'])]);
  const view: ClusterView = { shards: ['shard-0', 'shard-1'], live: ['a', 'b'] };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 20_000 });
  t.regex(result.partial?.reasons.join('; ') ?? '', /shard-0 was answered for by a and b/);
});

natsTest('a query a member finds invalid is refused, not answered partial', async (t) => {
  const nc = await connection(t);
  members(nc, [{ member: 'a', ok: false, code: 'E_QUERY_INVALID', message: 'bad regex' }]);
  const view: ClusterView = { shards: ['shard-0'], live: ['a'] };
  const err = await t.throwsAsync(new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 5000 }));
  t.is((err as { code?: string }).code, 'E_QUERY_INVALID');
});

natsTest("a stand-in's answer is not taken for a shard a silent member serves: its new owner may have stored more since", async (t) => {
  const nc = await connection(t);
  // b took shard-1 from a and serves it (its heartbeat says so), then went silent (killed): a still stands in.
  members(nc, [answer('a', 1, ['shard-0'], ['shard-1'])]);
  const view: ClusterView = {
    shards: ['shard-0', 'shard-1'],
    live: ['a', 'b'],
    serving: new Map([
      ['a', ['shard-0']],
      ['b', ['shard-1']],
    ]),
  };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 300 });
  t.deepEqual(messages(result), ['a 0']);
  t.regex(result.partial?.reasons.join('; ') ?? '', /shard-1: b serves it and did not answer/);
});
