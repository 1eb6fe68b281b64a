import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { appendPino, startCollector } from '../collector/helpers.js';
import { clusterStatus, memberOptions, natsServer, occurrences, queryAll, settled, startNats } from '../helpers/cluster.js';
import { freePort } from '../../src/cluster/local-nats.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

/**
 * Daemons as members of a cluster on a real 3-node NATS JetStream cluster:
 * pushes through any member reach the shard's owner, queries through any
 * member gather every member's shards, and a member that stops hands its
 * shards over. (The kill -9 test with separate processes is
 * cluster-failures.test.ts.)
 */

if (!natsServer) console.log('cluster tests skipped: no nats-server found (apt-get install nats-server, or set NATS_SERVER)');
const clusterTest = natsServer ? test.serial : test.skip;

async function member(t: ExecutionContext, servers: string[], dataDir: string): Promise<Daemon> {
  const d = await Daemon.start(
    // What the members say of leases and consumers is what explains a failure here.
    memberOptions(dataDir, { nats: { servers }, shards: 4, leaseMs: 1500 }, (level, message) => {
      if (level !== 'info') t.log(`${dataDir.slice(-1)} ${level}: ${message}`);
    }),
  );
  t.teardown(() => d.stop().catch(() => {}));
  return d;
}

function ndjson(prefix: string, from: number, n: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: n }, (_, k) =>
    JSON.stringify({ ts: String(now + BigInt(k)), level: 'INFO', service: `svc-${k % 5}`, server: `h-${k % 11}`, region: 'r1', msg: `${prefix} ${from + k}` }),
  ).join('\n');
}

async function push(d: Daemon, body: string): Promise<number> {
  const res = await fetch(`${d.url}/api/v1/ingest`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
  if (!res.ok) throw new Error(`push answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { accepted: number }).accepted;
}

/** Asserts `${prefix} 0..n-1` are each found once in `entries`. */
function assertOnce(t: ExecutionContext, entries: readonly { message: string }[], prefix: string, n: number): void {
  const seen = occurrences(entries.filter((e) => e.message.startsWith(`${prefix} `)));
  const missing = Array.from({ length: n }, (_, i) => `${prefix} ${i}`).filter((m) => !seen.has(m));
  const repeated = [...seen].filter(([, c]) => c > 1).map(([m]) => m);
  t.deepEqual({ missing: missing.slice(0, 5), missingCount: missing.length, repeated: repeated.slice(0, 5) }, { missing: [], missingCount: 0, repeated: [] });
}

clusterTest('two members share the shards; a push through one is found once through the other, and a collector publishes straight to JetStream', async (t) => {
  const nats = await startNats(t);
  const dir = tempDir(t);
  const a = await member(t, nats.servers, join(dir, 'a'));
  const b = await member(t, nats.servers, join(dir, 'b'));
  const s = await settled(a.url, 2);
  t.is(s.shards, 4);
  t.is(s.streamReplicas, 3);
  t.log(`owners: ${s.shardOwners.map((x) => `${x.shard}=${x.owner}`).join(' ')}`);

  t.is(await push(a, ndjson('http', 0, 2000)), 2000);
  await waitUntil('2000 entries found through b', async () => (await queryAll(b.url)).entries.length >= 2000, 20_000);
  const viaB = await queryAll(b.url);
  t.deepEqual(viaB.partial, []);
  assertOnce(t, viaB.entries, 'http', 2000);

  // A collector given the cluster as its aggregator publishes to the shards' streams itself.
  const logs = tempDir(t);
  appendPino(join(logs, 'app.log'), 'tailed', 0, 500);
  await startCollector(t, { include: [join(logs, '*.log')], stateDir: join(logs, 'state'), aggregators: [nats.servers.join(',')] });
  await waitUntil(
    '500 tailed entries found through a',
    async () => (await queryAll(a.url)).entries.filter((e) => e.message.startsWith('tailed ')).length >= 500,
    20_000,
  );
  assertOnce(t, (await queryAll(a.url)).entries, 'tailed', 500);

  // Everything consumed: no lag left in any shard's stream.
  await waitUntil('no consumer lag', async () => (await clusterStatus(a.url)).shardOwners.every((x) => x.pending === 0), 10_000);
  const consumed =
    (await clusterStatus(a.url)).consumers.reduce((n, c) => n + c.stored, 0) + (await clusterStatus(b.url)).consumers.reduce((n, c) => n + c.stored, 0);
  t.true(consumed > 0);
  // /metrics of each member tells the same, counting each batch on the member that consumed it.
  const scraped = await Promise.all([a, b].map(async (d) => (await fetch(`${d.url}/metrics`)).text()));
  const stored = scraped.reduce(
    (n, text) => n + [...text.matchAll(/^tributary_cluster_batches_total\{shard="[^"]+",outcome="stored"\} (\d+)$/gm)].reduce((m, x) => m + Number(x[1]), 0),
    0,
  );
  t.is(stored, consumed);
  for (const text of scraped) {
    t.regex(text, /^tributary_cluster_members_live 2$/m);
    t.regex(text, /^tributary_cluster_balanced 1$/m);
  }
  t.is(
    scraped.reduce((n, text) => n + Number(/^tributary_cluster_shards_owned (\d+)$/m.exec(text)?.[1] ?? -100), 0),
    4,
  );

  // Detection is per service across the cluster: errors pushed through a, spread over shards on both members, flag the
  // service once, and either member's anomaly API says so (each service is watched by its detector slot's owner).
  const now = BigInt(Date.now()) * 1_000_000n;
  const errors = Array.from({ length: 40 }, (_, k) =>
    JSON.stringify({ ts: String(now + BigInt(k)), level: 'ERROR', service: 'payments', server: `h-${k}`, region: 'r1', msg: `declined ${k}` }),
  );
  t.is(await push(a, errors.join('\n')), 40);
  const flagged = async (d: Daemon) => {
    const data = (
      (await (await fetch(`${d.url}/api/v1/anomalies`)).json()) as { data: { current: { service: string }[]; history: { service: string; type: string }[] } }
    ).data;
    return data;
  };
  await waitUntil(
    'payments flagged, seen through both members',
    async () => (await Promise.all([a, b].map(flagged))).every((x) => x.current.some((e) => e.service === 'payments')),
    20_000,
  );
  for (const view of await Promise.all([a, b].map(flagged))) {
    t.deepEqual(
      view.history.filter((e) => e.service === 'payments').map((e) => e.type),
      ['flag'],
      'flagged once in the cluster',
    );
  }

  // a leaves cleanly: it archives its shards and hands their leases back, and b, restoring them from the archive, answers
  // for everything a had stored, whole, while a is away.
  await a.stop();
  await settled(b.url, 1);
  t.is(await push(b, ndjson('after', 0, 300)), 300);
  await waitUntil(
    '300 entries pushed after a left',
    async () => (await queryAll(b.url)).entries.filter((e) => e.message.startsWith('after ')).length >= 300,
    20_000,
  );
  const whileAway = await queryAll(b.url);
  t.deepEqual(whileAway.partial, [], 'a is away, its shards are with b: the answer is whole');
  assertOnce(t, whileAway.entries, 'http', 2000);
  assertOnce(t, whileAway.entries, 'tailed', 500);
  assertOnce(t, whileAway.entries, 'after', 300);

  // a back: every entry once, complete again.
  const a2 = await member(t, nats.servers, join(dir, 'a'));
  await settled(a2.url, 2);
  // a's shards come back to it and it catches up from the streams: eventually every entry, then exactly once.
  await waitUntil('2800 entries found through a', async () => (await queryAll(a2.url)).entries.length >= 2800, 20_000).catch(() => {}); // asserted below
  const all = await queryAll(a2.url);
  t.deepEqual(all.partial, []);
  assertOnce(t, all.entries, 'http', 2000);
  assertOnce(t, all.entries, 'tailed', 500);
  assertOnce(t, all.entries, 'after', 300);
});

clusterTest(
  'a daemon started while JetStream has no quorum waits, saying why (its port alive, not ready, with the reason), and joins once it has',
  async (t) => {
    const nats = await startNats(t);
    await Promise.all([nats.kill(1), nats.kill(2)]); // one node of three: no meta leader
    let saidWhy!: () => void;
    const said = new Promise<void>((resolve) => (saidWhy = resolve));
    const port = await freePort();
    const starting = Daemon.start(
      memberOptions(
        join(tempDir(t), 'a'),
        { nats: { servers: nats.servers }, shards: 4, leaseMs: 1500, joinTimeoutMs: 90_000 },
        (level, message) => {
          if (level === 'warn' && /JetStream is not ready to join/.test(message)) saidWhy();
        },
        port,
      ),
    );
    t.teardown(async () => (await starting.catch(() => undefined))?.stop());
    await Promise.race([
      said,
      starting.then(() => {
        throw new Error('joined a cluster without a JetStream quorum');
      }),
    ]);
    // While it waits, its port says it is alive (do not restart it) and not ready (do not send it traffic), and why.
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.is(healthz.status, 200);
    const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
    t.is(readyz.status, 503);
    t.regex(((await readyz.json()) as { reasons: string[] }).reasons[0]!, /waiting for JetStream: join/);
    await Promise.all([nats.restart(1), nats.restart(2)]);
    const d = await starting;
    t.is((await fetch(`${d.url}/readyz`)).status, 200, 'the real server took the port once joined');
    const s = await settled(d.url, 1);
    t.deepEqual(
      s.shardOwners.map((x) => x.owner),
      s.shardOwners.map(() => s.member),
      'the only member holds every shard',
    );
  },
);
