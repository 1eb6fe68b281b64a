import test from 'ava';
import { join } from 'node:path';
import { connectNats } from '../../src/cluster/nats.js';
import { bootstrapCluster } from '../../src/cluster/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { isTributaryError } from '../../src/errors.js';
import { clusterStatus, memberOptions, natsServer, queryAll, settled, startNats } from '../helpers/cluster.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

/**
 * Development on one node: `nats-server -js` on a laptop is not clustered,
 * so it keeps one replica of everything. A cluster started there runs with
 * R = 1 and says so, rather than retrying forever; a replica count JetStream
 * refuses is a configuration error, said at once.
 */

const natsTest = natsServer ? test.serial : test.skip;

natsTest('against a single non-clustered nats-server the cluster starts with 1 replica, warns why, and stores and answers', async (t) => {
  const nats = await startNats(t, 1);
  const warnings: string[] = [];
  // The default asks for 3 replicas; this server can keep one.
  const d = await Daemon.start(
    memberOptions(join(tempDir(t), 'a'), { nats: { servers: nats.servers }, shards: 2, leaseMs: 1500, joinTimeoutMs: 60_000 }, (level, message) => {
      if (level === 'warn') warnings.push(message);
    }),
  );
  t.teardown(() => d.stop());
  t.true(
    warnings.some((w) => /not clustered: .*1 replica, not 3.*cluster\.streamReplicas/.test(w)),
    warnings.join('\n'),
  );
  t.false(
    warnings.some((w) => /not ready to join/.test(w)),
    'no retry loop',
  );
  t.is((await clusterStatus(d.url)).streamReplicas, 1);
  await settled(d.url, 1);
  const now = BigInt(Date.now()) * 1_000_000n;
  await d.ingest(
    Array.from({ length: 50 }, (_, i) => ({ ts: now + BigInt(i), level: 1, service: 'laptop', server: 'dev', region: 'home', message: `entry ${i}` })),
  );
  // Reads are eventually consistent: the ack means JetStream holds the batch; the shard's owner stores it a moment later.
  const laptop = async () => (await queryAll(d.url)).entries.filter((e) => e.service === 'laptop');
  await waitUntil('the 50 entries stored by their owner', async () => (await laptop()).length >= 50, 20_000);
  const { entries, partial } = await queryAll(d.url);
  t.deepEqual(partial, []);
  t.deepEqual(
    entries
      .filter((e) => e.service === 'laptop')
      .map((e) => e.message)
      .sort(),
    Array.from({ length: 50 }, (_, i) => `entry ${i}`).sort(),
  );
});

natsTest('a replica count JetStream refuses is E_CONFIG_INVALID naming cluster.streamReplicas, not a retry', async (t) => {
  const nats = await startNats(t, 1);
  const nc = await connectNats({ servers: nats.servers });
  t.teardown(() => nc.close());
  // A connection that claims a cluster (as a server in a NATS cluster of too few JetStream nodes would): JetStream refuses R = 3.
  Object.defineProperty(nc, 'info', { value: { ...nc.info, cluster: 'pretend' } });
  const err = await t.throwsAsync(bootstrapCluster(nc, { shards: 1, streamReplicas: 3 }, () => {}));
  t.true(isTributaryError(err, 'E_CONFIG_INVALID'), err?.message);
  t.regex(err!.message, /cluster\.streamReplicas/);
});
