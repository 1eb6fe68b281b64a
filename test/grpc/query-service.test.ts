import test from 'ava';
import { credentials, status, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadTributaryPackage } from '../../src/grpc/proto.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

const S = 1_000_000_000n;
const T0 = 1_763_758_800n * S;

async function setup(t: Parameters<typeof tempDir>[0]) {
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
  t.teardown(() => d.stop());
  const entries: LogEntry[] = Array.from({ length: 2500 }, (_, i) => ({
    ts: T0 + BigInt(i) * 100_000_000n,
    level: (i % 4) as Level,
    service: ['api', 'db'][i % 2]!,
    server: `web-${i % 5}`,
    region: 'eu-1',
    message: `request ${i}${i % 7 === 0 ? ' timeout' : ''}`,
  }));
  await d.writer.write(entries);
  const Query = loadTributaryPackage().Query as ServiceClientConstructor;
  const client = new Query(d.grpcAddress, credentials.createInsecure()) as Client & Record<string, any>;
  t.teardown(() => client.close());
  return { d, entries, client };
}

function stream(client: Record<string, any>, request: object): Promise<{ messages: any[]; error?: ServiceError }> {
  return new Promise((resolve) => {
    const messages: any[] = [];
    const call = client.Query(request);
    call.on('data', (m: any) => messages.push(m));
    call.on('error', (error: ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages }));
  });
}

test('Query streams every matching entry in timestamp order, in chunks, with the cursor on the last message', async (t) => {
  const { client, entries } = await setup(t);
  const want = entries.filter((e) => e.service === 'api');
  const { messages, error } = await stream(client, {
    query: '{service="api"}',
    from: T0.toString(),
    to: (T0 + 3600n * S).toString(),
    limit: 1200,
    direction: 'FORWARD',
  });
  t.is(error, undefined);
  t.is(messages.length, 2, 'chunks of 1000');
  const got = messages.flatMap((m) => m.entries);
  t.deepEqual(
    got.map((e: any) => BigInt(e.ts)),
    want.slice(0, 1200).map((e) => e.ts),
  );
  t.is(got[0].level, 'DEBUG');
  t.is(got[0].message, want[0]!.message);
  t.truthy(got[0].source);
  t.is(messages[0].next_cursor, '');
  t.not(messages[1].next_cursor, '');
  // The cursor continues where the first page stopped.
  const rest = await stream(client, {
    query: '{service="api"}',
    from: T0.toString(),
    to: (T0 + 3600n * S).toString(),
    limit: 5000,
    direction: 'FORWARD',
    cursor: messages[1].next_cursor,
  });
  t.deepEqual(
    rest.messages.flatMap((m) => m.entries).map((e: any) => BigInt(e.ts)),
    want.slice(1200).map((e) => e.ts),
  );
});

test('a bad query is INVALID_ARGUMENT with the position and the Tributary code in metadata', async (t) => {
  const { client } = await setup(t);
  const { error } = await stream(client, { query: '{service="api"} |= ', from: T0.toString(), to: (T0 + S).toString() });
  t.is(error?.code, status.INVALID_ARGUMENT);
  t.regex(error!.details, /1:20/);
  t.deepEqual(error!.metadata.get('tributary-code'), ['E_QUERY_INVALID']);
});

test('Metric and LabelValues answer like the HTTP API', async (t) => {
  const { client, entries } = await setup(t);
  const metric = await new Promise<any>((resolve, reject) =>
    client.Metric(
      { query: 'sum by (level) (count_over_time({} |= "timeout" [1m]))', from: T0.toString(), to: (T0 + 300n * S).toString() },
      (err: Error | null, r: any) => (err ? reject(err) : resolve(r)),
    ),
  );
  const counts = new Map<string, number>();
  for (const s of metric.series)
    counts.set(
      s.labels.level,
      s.counts.reduce((a: number, c: string) => a + Number(c), 0),
    );
  const want = new Map<string, number>();
  for (const e of entries)
    if (e.message.includes('timeout'))
      want.set(['DEBUG', 'INFO', 'WARN', 'ERROR'][e.level]!, (want.get(['DEBUG', 'INFO', 'WARN', 'ERROR'][e.level]!) ?? 0) + 1);
  t.deepEqual([...counts].sort(), [...want].sort());
  const values = await new Promise<any>((resolve, reject) =>
    client.LabelValues({ name: 'host', from: T0.toString(), to: (T0 + 3600n * S).toString() }, (err: Error | null, r: any) => (err ? reject(err) : resolve(r))),
  );
  t.deepEqual(values.values, ['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
});
