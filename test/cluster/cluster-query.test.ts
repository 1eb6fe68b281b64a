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

/** A member's answer: `n` entries of its own. */
function answer(member: string, n: number) {
  const entries: IdentifiedEntry[] = Array.from({ length: n }, (_, i) => ({
    ts: 1_000n + BigInt(i),
    service: 'svc',
    server: member,
    region: 'r1',
    level: 1,
    message: `${member} ${i}`,
    source: member,
    seq: BigInt(i),
  }));
  return { member, ok: true, result: { entries, stats: emptyStats() } };
}

/** Members answering every query, in this order, from one connection (so the asker receives them in this order). */
function members(nc: NatsConnection, replies: readonly object[]): void {
  nc.subscribe(names.query, { callback: (_err, msg) => replies.forEach((r) => msg.respond(serialize(r))) });
}

const everything = { from: 0n, to: 1n << 62n, limit: 1000 };

natsTest("a member the asker's view does not list yet is heard, and does not crowd out one it expects", async (t) => {
  const nc = await connection(t);
  // c joined a tick ago: the asker's view has not seen it, but c already holds entries and answers first.
  members(nc, [answer('c', 3), answer('a', 2), answer('b', 4)]);
  const view: ClusterView = {
    live: ['a', 'b'],
    holders: new Map([
      ['a', ['shard-0']],
      ['b', ['shard-1']],
    ]),
    known: true,
  };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 20_000 });
  t.is(result.partial, undefined);
  t.deepEqual(result.entries.map((e) => e.message).sort(), ['a 0', 'a 1', 'b 0', 'b 1', 'b 2', 'b 3', 'c 0', 'c 1', 'c 2']);
});

natsTest('a live member that does not answer, a member that fails, and a down member holding data make the answer partial, each named', async (t) => {
  const nc = await connection(t);
  members(nc, [answer('a', 2), { member: 'f', ok: false, code: 'E_IO', message: 'disk gone' }]);
  const view: ClusterView = {
    live: ['a', 'f', 'silent'],
    holders: new Map([
      ['a', ['shard-0']],
      ['down', ['shard-1']],
      ['down-empty', []],
    ]),
    known: true,
  };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 300 });
  t.deepEqual(
    result.entries.map((e) => e.message),
    ['a 0', 'a 1'],
  );
  const reasons = result.partial?.reasons ?? [];
  t.deepEqual(
    ['f', 'silent', 'down', 'down-empty'].map((m) => reasons.some((r) => r.startsWith(`member ${m} `))),
    [true, true, true, false],
    reasons.join('; '),
  );
});

natsTest('a query a member finds invalid is refused, not answered partial', async (t) => {
  const nc = await connection(t);
  members(nc, [{ member: 'a', ok: false, code: 'E_QUERY_INVALID', message: 'bad regex' }]);
  const view: ClusterView = { live: ['a'], holders: new Map([['a', ['shard-0']]]), known: true };
  const err = await t.throwsAsync(new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 5000 }));
  t.is((err as { code?: string }).code, 'E_QUERY_INVALID');
});

natsTest('an asker that has not read the membership yet says its answer may be partial, though everyone it knows answered', async (t) => {
  const nc = await connection(t);
  members(nc, [answer('self', 2)]);
  // A member just started: its view lists only itself until its first tick reads the registry and heartbeats.
  const view: ClusterView = { live: ['self'], holders: new Map(), known: false };
  const result = await new ClusterQueryEngine(nc, () => view).query(everything, { timeoutMs: 5000 });
  t.is(result.entries.length, 2);
  t.regex(result.partial?.reasons.join('; ') ?? '', /has not read the cluster membership/);
});
