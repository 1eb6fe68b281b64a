import test from 'ava';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { BatchReader, encodeBatch } from '../../src/batch/index.js';
import { bootstrapCluster } from '../../src/cluster/config.js';
import { JetStreamTransport } from '../../src/cluster/jetstream-transport.js';
import { LocalNatsCluster } from '../../src/cluster/local-nats.js';
import { connectNats, names } from '../../src/cluster/nats.js';
import { makeEntries } from '../helpers/entries.js';
import { natsServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/system.js';

/** The JetStream transport against a NATS whose max_payload is smaller than a batch (NATS's default is 1 MB). */
const natsTest = natsServer ? test : test.skip;

natsTest('a batch over max_payload goes as parts under it, numbered as the whole; sent again, JetStream drops every part as a duplicate', async (t) => {
  const nats = await LocalNatsCluster.start({ dir: join(tempDir(t, 'tributary-nats-'), 'nats'), nodes: 1, maxPayloadBytes: 64 * 1024 });
  t.teardown(() => nats.stop());
  const nc = await connectNats({ servers: nats.servers });
  t.teardown(() => nc.close());
  await bootstrapCluster(nc, { shards: 1, streamReplicas: 1 }, () => {});
  const transport = new JetStreamTransport({ servers: nats.servers });
  t.teardown(() => transport.close());

  const entries = makeEntries(8000);
  const batch = encodeBatch(entries, { sourceId: 'edge-1', firstSeq: 1000n });
  t.true(batch.byteLength > 4 * 64 * 1024, `a batch of ${batch.byteLength} bytes`);
  await transport.send('shard-0', batch, 10_000);
  await transport.send('shard-0', batch, 10_000); // a resend after a lost acknowledgement

  const jsm = await jetstreamManager(nc);
  const stream = names.stream('shard-0');
  const info = await jsm.streams.info(stream);
  const parts: BatchReader[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    t.true(m!.data.byteLength <= 64 * 1024);
    parts.push(BatchReader.open(m!.data));
  }
  t.true(parts.length > 4);
  t.is(
    parts.reduce((n, p) => n + p.count, 0),
    entries.length,
    'each part stored once',
  );
  let next = 1000n;
  for (const p of parts) {
    t.is(p.sourceId, 'edge-1');
    t.is(p.firstSeq, next);
    next += BigInt(p.count);
  }
});
