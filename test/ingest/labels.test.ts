import test from 'ava';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import snappy from 'snappy';
import { BatchReader } from '../../src/batch/reader.js';
import { parseBody } from '../../src/ingest/parse-task.js';
import { PROTO_PATH } from '../../src/grpc/proto-path.js';
import { post, startDaemon, storedEntries } from '../helpers/daemon.js';

const T0 = BigInt(Date.now() - 60_000) * 1_000_000n;
const pushProto = protobuf.loadSync(fileURLToPath(new URL('../../../proto/loki/push.proto', import.meta.url))).lookupType('logproto.PushRequest');
const json = { 'content-type': 'application/json' };

test('Loki push JSON: every stream label is kept as sent, entry metadata too, and both are queryable', async (t) => {
  const d = await startDaemon(t);
  const body = {
    streams: [
      {
        stream: { app: 'checkout', env: 'prod', k8s_namespace_name: 'shop', host: 'web-1' },
        values: [
          [(T0 + 1n).toString(), 'paid', { trace_id: 'abc', user: 'ann' }],
          [(T0 + 2n).toString(), 'refunded'],
        ],
      },
      { stream: { app: 'checkout', env: 'dev', host: 'web-2' }, values: [[(T0 + 3n).toString(), 'dev line', { trace_id: 'def' }]] },
      { stream: { app: 'search' }, values: [[(T0 + 4n).toString(), 'no other labels']] },
    ],
  };
  t.is((await post(d, '/loki/api/v1/push', JSON.stringify(body), json)).status, 204);

  const prod = await storedEntries(d, '{env="prod"}');
  t.deepEqual(
    prod.map((e) => [e.message, e.service, e.server, e.labels, e.metadata]),
    [
      ['paid', 'checkout', 'web-1', { app: 'checkout', env: 'prod', host: 'web-1', k8s_namespace_name: 'shop' }, { trace_id: 'abc', user: 'ann' }],
      ['refunded', 'checkout', 'web-1', { app: 'checkout', env: 'prod', host: 'web-1', k8s_namespace_name: 'shop' }, undefined],
    ],
  );
  t.deepEqual(
    (await storedEntries(d, '{app="checkout"} | trace_id=~"abc|def"')).map((e) => e.message),
    ['paid', 'dev line'],
  );
  // A missing label reads as "": != keeps the streams without it, ="" selects them.
  t.deepEqual(
    (await storedEntries(d, '{env!="prod"}')).map((e) => e.message),
    ['dev line', 'no other labels'],
  );
  t.deepEqual(
    (await storedEntries(d, '{k8s_namespace_name=""}')).map((e) => e.message),
    ['dev line', 'no other labels'],
  );

  const labels = (await (await fetch(`${d.url}/loki/api/v1/labels`)).json()) as { data: string[] };
  t.true(['app', 'env', 'host', 'k8s_namespace_name', 'service'].every((l) => labels.data.includes(l)));
  const values = (await (await fetch(`${d.url}/loki/api/v1/label/env/values`)).json()) as { data: string[] };
  t.deepEqual(values.data, ['dev', 'prod']);

  // Loki's answer: the stream's labels as sent, with its metadata merged in (Loki does so unless asked to categorize).
  const range = new URLSearchParams({ query: '{env="prod"}', start: (T0 - 10n).toString(), end: (T0 + 10n).toString(), direction: 'forward' });
  const loki = (await (await fetch(`${d.url}/loki/api/v1/query_range?${range}`)).json()) as { data: { result: { stream: Record<string, string> }[] } };
  t.like(loki.data.result[0]!.stream, { app: 'checkout', env: 'prod', trace_id: 'abc', service: 'checkout', server: 'web-1' });
});

test('Loki push protobuf: labels and structured metadata round trip', async (t) => {
  const d = await startDaemon(t);
  const message = pushProto.create({
    streams: [
      {
        labels: '{job="payments", cluster_name="eu-prod", team="core"}',
        entries: [
          {
            timestamp: { seconds: Number(T0 / 1_000_000_000n), nanos: Number(T0 % 1_000_000_000n) },
            line: 'charged',
            structuredMetadata: [
              { name: 'trace_id', value: '0af7651916cd43dd8448eb211c80319c' },
              { name: 'order', value: 'o-17' },
            ],
          },
        ],
      },
    ],
  });
  const res = await post(d, '/loki/api/v1/push', snappy.compressSync(Buffer.from(pushProto.encode(message).finish())), {
    'content-type': 'application/x-protobuf',
  });
  t.is(res.status, 204);
  const got = await storedEntries(d, '{team="core"} | order="o-17"');
  t.deepEqual(
    got.map((e) => [e.ts, e.service, e.labels, e.metadata]),
    [[T0.toString(), 'payments', { cluster_name: 'eu-prod', job: 'payments', team: 'core' }, { order: 'o-17', trace_id: '0af7651916cd43dd8448eb211c80319c' }]],
  );
});

test('NDJSON: fields beyond the known ones become metadata, an object under "labels" gives stream labels', async (t) => {
  const d = await startDaemon(t);
  const lines = [
    JSON.stringify({ ts: (T0 + 1n).toString(), service: 'api', level: 'info', msg: 'GET /a', pid: 7, req: { id: 'r1' }, labels: { env: 'prod' } }),
    JSON.stringify({ ts: (T0 + 2n).toString(), service: 'api', level: 'info', msg: 'GET /b' }),
    // No message field: the whole line is the message, and nothing is stored twice as metadata.
    JSON.stringify({ ts: (T0 + 3n).toString(), service: 'api', level: 'info', other: 'x' }),
  ];
  t.is((await post(d, '/api/v1/ingest', lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status, 200);
  const got = await storedEntries(d, '{service="api"}');
  t.deepEqual(
    got.map((e) => [e.message, e.labels, e.metadata]),
    [
      ['GET /a', { env: 'prod' }, { pid: '7', req: '{"id":"r1"}' }],
      ['GET /b', undefined, undefined],
      [lines[2], undefined, undefined],
    ],
  );
  t.deepEqual(
    (await storedEntries(d, '{env="prod"} | pid="7"')).map((e) => e.message),
    ['GET /a'],
  );
});

test('label limits are configurable: an entry over one is refused naming the limit, its neighbours are stored', async (t) => {
  const d = await startDaemon(t, { ingest: { maxLabelsPerStream: 2, maxLabelValueBytes: 16 } });
  const body = {
    streams: [
      { stream: { app: 'a', x1: '1', x2: '2', x3: '3' }, values: [[(T0 + 1n).toString(), 'too many']] },
      { stream: { app: 'a', x1: 'y'.repeat(17) }, values: [[(T0 + 2n).toString(), 'too long']] },
      { stream: { app: 'a', x1: 'ok' }, values: [[(T0 + 3n).toString(), 'fine']] },
    ],
  };
  const res = await post(d, '/loki/api/v1/push', JSON.stringify(body), json);
  t.is(res.status, 400);
  const answer = (await res.json()) as { message: string };
  t.regex(answer.message, /over the limit of 2 \(maxLabelsPerStream\)/);
  t.deepEqual(d.ingestor.stats()['loki-json']?.rejected, { too_many_labels: 1, label_too_long: 1 });
  t.deepEqual(
    (await storedEntries(d, '{app="a"}')).map((e) => e.message),
    ['fine'],
  );
});

test('the gRPC Push door takes labels and metadata maps', (t) => {
  const type = protobuf.loadSync(PROTO_PATH).lookupType('tributary.v1.PushRequest');
  const body = type
    .encode(type.create({ entries: [{ ts: T0.toString(), level: 1, service: 'api', message: 'm', labels: { env: 'prod' }, metadata: { trace_id: 't1' } }] }))
    .finish();
  const r = parseBody({ format: 'tributary-push', body, shards: ['a'] });
  t.is(r.accepted, 1);
  const e = BatchReader.open(r.batches[0]!.bytes).entry(0);
  t.deepEqual([e.labels, e.metadata], [{ env: 'prod' }, { trace_id: 't1' }]);
});

test('high cardinality is normal load: 100,000 streams ingest and query without a limit error', async (t) => {
  const d = await startDaemon(t);
  const streams = 100_000;
  const perPush = 25_000;
  for (let from = 0; from < streams; from += perPush) {
    const body = {
      streams: Array.from({ length: perPush }, (_, k) => {
        const i = from + k;
        return { stream: { app: `svc-${i % 200}`, pod: `pod-${i}`, node: `node-${i % 10_000}` }, values: [[(T0 + BigInt(i)).toString(), `line ${i}`]] };
      }),
    };
    const res = await post(d, '/loki/api/v1/push', JSON.stringify(body), json);
    t.is(res.status, 204, await res.text());
  }
  t.deepEqual(
    (await storedEntries(d, '{pod="pod-77777"}')).map((e) => e.message),
    ['line 77777'],
  );
  t.is((await storedEntries(d, '{node="node-42"}')).length, 10);
  const values = (await (await fetch(`${d.url}/loki/api/v1/label/node/values`)).json()) as { data: string[] };
  t.is(values.data.length, 10_000);
});
