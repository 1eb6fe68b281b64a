import test from 'ava';
import { credentials, type Client, type ServiceClientConstructor } from '@grpc/grpc-js';
import { encodeBatch } from '../../src/batch/encode.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadTributaryPackage } from '../../src/grpc/proto.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { newSourceId } from '../../src/model/source.js';
import { HashRing, streamKey } from '../../src/shard/hash-ring.js';
import { tempDir } from '../helpers/system.js';

const T0 = 1_763_758_800_000_000_000n;

async function setup(t: Parameters<typeof tempDir>[0]) {
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
  t.teardown(() => d.stop());
  const Ingest = loadTributaryPackage().Ingest as ServiceClientConstructor;
  const client = new Ingest(d.grpcAddress, credentials.createInsecure()) as Client & Record<string, any>;
  t.teardown(() => client.close());
  return { d, client };
}

function unary<T>(client: Record<string, any>, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
}

async function count(d: Daemon, query = '{}'): Promise<number> {
  const r = await d.engine.query({
    ...(await import('../../src/query/logql.js')).parseLogQL(query).query,
    from: T0 - 10n ** 12n,
    to: T0 + 10n ** 12n,
    limit: 100_000,
  } as never);
  return r.entries.length;
}

test('unary Push stores entries, reports refused ones by position and reason, and drops a resend', async (t) => {
  const { d, client } = await setup(t);
  const entries = [
    { ts: (T0 + 1n).toString(), level: 'ERROR', service: 'api', server: 'web-1', region: 'eu-1', message: 'boom' },
    { ts: '5', level: 'INFO', service: 'api', server: 'web-1', region: 'eu-1', message: 'from 1970' },
    { ts: (T0 + 2n).toString(), level: 'WARN', service: 'db', server: 'db-1', region: 'eu-1', message: 'slow' },
  ];
  const r = await unary<{ accepted: string; duplicates: string; rejected: Record<string, string>; errors: { line: number; reason: string }[] }>(
    client,
    'Push',
    { entries },
  );
  t.is(Number(r.accepted), 2);
  t.deepEqual(r.rejected, { timestamp_out_of_range: '1' });
  t.deepEqual(
    r.errors.map((e) => [e.line, e.reason]),
    [[2, 'timestamp_out_of_range']],
  );
  const again = await unary<{ accepted: string; duplicates: string }>(client, 'Push', { entries });
  t.is(Number(again.accepted), 0);
  t.is(Number(again.duplicates), 2);
  t.is(await count(d), 2);
});

test('PushBatches: batches routed by the ring are acknowledged once durable, a resent batch is stored once, a corrupt one is refused', async (t) => {
  const { d, client } = await setup(t);
  const ring = await unary<{ shards: string[]; virtual_nodes: number }>(client, 'Ring', {});
  t.deepEqual(ring.shards, d.writer.shards);
  const hash = new HashRing(ring.shards, ring.virtual_nodes);
  const entries: LogEntry[] = Array.from({ length: 3000 }, (_, i) => ({
    ts: T0 + BigInt(i),
    level: (i % 4) as Level,
    service: `svc-${i % 7}`,
    server: `srv-${i % 31}`,
    region: 'eu-1',
    message: `line ${i}`,
  }));
  // One source per shard, numbered contiguously, as a routing client does.
  const perShard = new Map<string, LogEntry[]>();
  for (const e of entries) {
    const s = hash.lookup(streamKey(e.service, e.server));
    perShard.set(s, [...(perShard.get(s) ?? []), e]);
  }
  const frames: { shard: string; batch: Uint8Array; id: number }[] = [];
  let id = 0;
  for (const [shard, es] of perShard) {
    const source = newSourceId();
    for (let i = 0; i < es.length; i += 500)
      frames.push({ shard, batch: encodeBatch(es.slice(i, i + 500), { sourceId: source, firstSeq: BigInt(i) }), id: id++ });
  }
  const corrupt = Uint8Array.from(frames[0]!.batch);
  corrupt[corrupt.length - 3]! ^= 0xff;
  const sent = [...frames, frames[1]!, { ...frames[0]!, batch: corrupt, id: 999 }, { shard: 'shard-77', batch: frames[2]!.batch, id: 1000 }];
  const acks = await new Promise<{ id: string; ok: boolean; error_code: string }[]>((resolve, reject) => {
    const got: { id: string; ok: boolean; error_code: string }[] = [];
    const call = client.PushBatches();
    call.on('data', (a: { id: string; ok: boolean; error_code: string }) => got.push(a));
    call.on('end', () => resolve(got));
    call.on('error', reject);
    for (const f of sent) call.write(f);
    call.end();
  });
  t.is(acks.length, sent.length);
  const byId = new Map(acks.map((a) => [Number(a.id), a]));
  for (const f of frames) t.true(byId.get(f.id)!.ok, JSON.stringify(byId.get(f.id)));
  t.false(byId.get(999)!.ok);
  t.regex(byId.get(999)!.error_code, /^E_BATCH_/);
  t.false(byId.get(1000)!.ok);
  t.is(byId.get(1000)!.error_code, 'E_INVALID_ARGUMENT');
  t.is(await count(d), 3000, 'every entry once, the resent batch included');
});

test('loss accounting: per source, the door counts what it received, acknowledged and refused, and the shards what they store, repeat and miss', async (t) => {
  const { d } = await setup(t);
  const { GrpcTransport } = await import('../../src/collector/transport.js');
  const transport = new GrpcTransport(d.grpcAddress);
  t.teardown(() => transport.close());
  const ring = await transport.ring(5000);
  const hash = new HashRing(ring.shards, ring.virtualNodes);
  const shard = hash.lookup(streamKey('api', 'web-1'));
  const source = newSourceId();
  const batch = (first: number, n: number) =>
    encodeBatch(
      Array.from({ length: n }, (_, i) => ({
        ts: T0 + BigInt(first + i),
        level: 1 as Level,
        service: 'api',
        server: 'web-1',
        region: 'eu-1',
        message: `m ${first + i}`,
      })),
      { sourceId: source, firstSeq: BigInt(first) },
    );
  await transport.send(shard, batch(0, 100), 5000);
  await transport.send(shard, batch(150, 50), 5000); // 100..149 never sent: a hole
  await transport.send(shard, batch(0, 100), 5000); // a resend: repeats
  const wrong = ring.shards.find((s) => s !== shard) ?? 'no-such-shard';
  await t.throwsAsync(transport.send(`${wrong}-missing`, batch(200, 10), 5000), { message: /no shard/ });

  const res = await fetch(`${d.url}/api/v1/sources?prefix=${source}`);
  const view = ((await res.json()) as { data: { sources: Record<string, unknown>[]; daemonSource: string; unanswered: string[] } }).data;
  t.deepEqual(view.unanswered, []);
  t.is(view.sources.length, 1);
  t.like(view.sources[0], {
    source,
    received: 260,
    acknowledged: 250,
    refused: 10,
    stored: 150,
    duplicates: 100,
    end: 200,
    gaps: 50,
    missing: [[100, 150]],
  });
  t.is(await count(d), 150);
});

test('PushBatches under memory pressure reads one batch at a time (flow control), and opens up again when the pressure ends', async (t) => {
  const { Server, ServerCredentials } = await import('@grpc/grpc-js');
  const { addIngestService } = await import('../../src/grpc/ingest.js');
  const listeners = new Set<(high: boolean) => void>();
  const memory = {
    high: true,
    onChange: (l: (high: boolean) => void) => (listeners.add(l), () => listeners.delete(l)),
  };
  const setHigh = (high: boolean) => {
    memory.high = high;
    for (const l of listeners) l(high);
  };
  // A writer whose forwards finish when the test says: how many the door holds at once is what it read.
  const held: (() => void)[] = [];
  let maxHeld = 0;
  const writer = {
    shards: ['shard-0'],
    virtualNodes: 128,
    hasShard: () => true,
    forward: () =>
      new Promise<void>((resolve) => {
        held.push(resolve);
        maxHeld = Math.max(maxHeld, held.length);
      }),
  };
  const server = new Server();
  addIngestService(server, { ingestor: { count: () => {} } as never, writer: writer as never, memory });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => server.forceShutdown());
  const Ingest = loadTributaryPackage().Ingest as ServiceClientConstructor;
  const client = new Ingest(`127.0.0.1:${port}`, credentials.createInsecure()) as Client & Record<string, any>;
  t.teardown(() => client.close());
  const source = newSourceId();
  const frames = Array.from({ length: 6 }, (_, i) => ({
    shard: 'shard-0',
    id: i,
    batch: encodeBatch([{ ts: T0 + BigInt(i), level: 1 as Level, service: 's', server: 'h', region: 'r', message: `m ${i}` }], {
      sourceId: source,
      firstSeq: BigInt(i),
    }),
  }));
  const acks: number[] = [];
  const call = client.PushBatches();
  const ended = new Promise<void>((resolve, reject) => {
    call.on('data', (a: { id: string; ok: boolean }) => acks.push(Number(a.id)));
    call.on('end', resolve);
    call.on('error', reject);
  });
  for (const f of frames) call.write(f);
  call.end();
  const { waitUntil } = await import('../helpers/workers.js');
  // One at a time: each forward is released only after the door has read no other.
  for (let k = 0; k < 3; k++) {
    await waitUntil(`batch ${k} read`, () => held.length === 1);
    held.shift()!();
    await waitUntil(`batch ${k} acknowledged`, () => acks.length === k + 1);
  }
  t.is(maxHeld, 1);
  setHigh(false);
  await waitUntil('the other three read together', () => held.length === 3);
  for (const r of held.splice(0)) r();
  await ended;
  t.deepEqual(
    acks.sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5],
  );
});
