import test from 'ava';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import snappy from 'snappy';
import { Daemon } from '../../src/daemon/daemon.js';
import { post, startDaemon, storedEntries } from '../helpers/daemon.js';

const T0 = 1_763_758_800_000_000_000n;

const daemon = startDaemon;
const stored = (d: Daemon, query = '{}', from = T0 - 10n ** 12n, to = T0 + 10n ** 12n) => storedEntries(d, query, from, to);

test('NDJSON push stores the good lines and names each bad one by line and reason', async (t) => {
  const d = await daemon(t);
  const lines = [
    JSON.stringify({ ts: (T0 + 1n).toString(), service: 'api', server: 'web-1', region: 'eu-1', level: 'ERROR', msg: 'db timeout' }),
    '{"ts": "not json',
    // pino's own field names: time in ms, numeric level, hostname, name
    JSON.stringify({ time: Number(T0 / 1_000_000n) + 2, level: 40, hostname: 'web-2', name: 'billing', msg: 'slow charge', pid: 7 }),
    JSON.stringify({ ts: (T0 + 3n).toString(), service: 'api', server: 'web-1', level: 'loud', msg: 'x' }),
    '',
    JSON.stringify({ ts: '2025-11-21T21:00:00.000000004Z', service: 'api', server: 'web-1', region: 'eu-1', level: 'warning', msg: 'disk 91%' }),
    '[1,2]',
    JSON.stringify({ ts: '12', service: 'api', msg: 'unit mistake' }),
  ];
  const res = await post(d, '/api/v1/ingest', lines.join('\n'), { 'content-type': 'application/x-ndjson' });
  t.is(res.status, 400);
  const report = (await res.json()) as { accepted: number; rejected: Record<string, number>; errors: { line: number; reason: string }[] };
  t.is(report.accepted, 3);
  t.deepEqual(report.rejected, { malformed_json: 1, unknown_level: 1, not_an_object: 1, timestamp_out_of_range: 1 });
  t.deepEqual(
    report.errors.map((e) => [e.line, e.reason]),
    [
      [2, 'malformed_json'],
      [4, 'unknown_level'],
      [7, 'not_an_object'],
      [8, 'timestamp_out_of_range'],
    ],
  );
  const got = await stored(d);
  t.deepEqual(
    got.map((e) => [e.ts, e.level, e.service, e.server, e.region, e.message]),
    [
      ['1763758800000000001', 'ERROR', 'api', 'web-1', 'eu-1', 'db timeout'],
      ['1763758800002000000', 'WARN', 'billing', 'web-2', 'unknown', 'slow charge'],
      ['1763758800000000004', 'WARN', 'api', 'web-1', 'eu-1', 'disk 91%'],
    ].sort((a, b) => (BigInt(a[0]!) < BigInt(b[0]!) ? -1 : 1)),
  );
});

test('a push that is all good answers 200, a gzip body is inflated on the parse thread, and a resend is stored once', async (t) => {
  const d = await daemon(t);
  const body = Array.from({ length: 300 }, (_, i) =>
    JSON.stringify({ ts: (T0 + BigInt(i)).toString(), service: `s${i % 3}`, server: `h${i % 7}`, level: 'info', msg: `m ${i}` }),
  ).join('\n');
  const first = await post(d, '/api/v1/ingest', gzipSync(body), { 'content-encoding': 'gzip' });
  t.is(first.status, 200);
  t.like(await first.json(), { accepted: 300, duplicates: 0 });
  const again = await post(d, '/api/v1/ingest', body);
  t.like(await again.json(), { accepted: 0, duplicates: 300 });
  t.is((await stored(d)).length, 300);
  const stats = (await (await fetch(`${d.url}/api/v1/ingest/stats`)).json()) as { data: Record<string, unknown> };
  t.like(stats.data['http-ndjson'], { requests: 2, accepted: 300, duplicates: 300 });
});

test('bodies over the limit get 413, a gzip bomb is refused, unknown encodings get 415', async (t) => {
  const d = await daemon(t, { ingest: { bodyLimit: 4096, maxInflatedBytes: 64 * 1024 } });
  t.is((await post(d, '/api/v1/ingest', 'x'.repeat(8192))).status, 413);
  t.is((await post(d, '/api/v1/ingest', 'x', { 'content-encoding': 'br' })).status, 415);
  const bomb = gzipSync(Buffer.alloc(1 << 20, 0x20));
  t.true(bomb.byteLength < 4096);
  const res = await post(d, '/api/v1/ingest', bomb, { 'content-encoding': 'gzip' });
  t.is(res.status, 400);
  t.like(await res.json(), { accepted: 0, rejected: { malformed_body: 1 } });
});

const pushProto = protobuf.loadSync(fileURLToPath(new URL('../../../proto/loki/push.proto', import.meta.url))).lookupType('logproto.PushRequest');

test('Loki push, JSON and snappy protobuf: labels and their aliases map to service, server and region; levels from labels, metadata or the line', async (t) => {
  const d = await daemon(t);
  const json = {
    streams: [
      {
        stream: { service_name: 'checkout', host: 'web-3', region: 'us-2', level: 'warning' },
        values: [[(T0 + 10n).toString(), 'cart is slow']],
      },
      {
        stream: { app: 'auth', instance: 'auth-1' },
        values: [
          [(T0 + 11n).toString(), 'level=error msg="token expired"'],
          [(T0 + 12n).toString(), 'plain line', { level: 'critical' }],
          [(T0 + 13n).toString(), 'nothing said'],
        ],
      },
    ],
  };
  const res = await post(d, '/loki/api/v1/push', JSON.stringify(json), { 'content-type': 'application/json' });
  t.is(res.status, 204);
  const message = pushProto.create({
    streams: [
      {
        labels: '{job="payments", hostname="pay-9", zone="eu-3", detected_level="debug"}',
        entries: [{ timestamp: { seconds: Number(T0 / 1_000_000_000n), nanos: 14 }, line: 'retrying \\"charge\\"' }],
      },
    ],
  });
  const proto = await post(d, '/loki/api/v1/push', snappy.compressSync(Buffer.from(pushProto.encode(message).finish())), {
    'content-type': 'application/x-protobuf',
  });
  t.is(proto.status, 204);
  t.deepEqual(
    (await stored(d)).map((e) => [e.ts.slice(-2), e.level, e.service, e.server, e.region, e.message]),
    [
      ['10', 'WARN', 'checkout', 'web-3', 'us-2', 'cart is slow'],
      ['11', 'ERROR', 'auth', 'auth-1', 'unknown', 'level=error msg="token expired"'],
      ['12', 'ERROR', 'auth', 'auth-1', 'unknown', 'plain line'],
      ['13', 'INFO', 'auth', 'auth-1', 'unknown', 'nothing said'],
      ['14', 'DEBUG', 'payments', 'pay-9', 'eu-3', 'retrying \\"charge\\"'],
    ],
  );
});

test('a bad Loki push is a 400 naming the problem, with the good entries stored', async (t) => {
  const d = await daemon(t);
  const res = await post(
    d,
    '/loki/api/v1/push',
    JSON.stringify({
      streams: [
        { stream: { service: 'a', level: 'sparkly' }, values: [[(T0 + 1n).toString(), 'x']] },
        {
          stream: { service: 'b' },
          values: [
            [(T0 + 2n).toString(), 'y'],
            ['yesterday', 'z'],
          ],
        },
      ],
    }),
    { 'content-type': 'application/json' },
  );
  t.is(res.status, 400);
  const body = (await res.json()) as { code: number; message: string; accepted: number; rejected: Record<string, number> };
  t.is(body.code, 400);
  t.regex(body.message, /2 entries refused, 1 stored/);
  t.deepEqual(body.rejected, { unknown_level: 1, invalid_timestamp: 1 });
  t.deepEqual(
    (await stored(d)).map((e) => e.message),
    ['y'],
  );
  const garbage = await post(d, '/loki/api/v1/push', Buffer.from([1, 2, 3, 4]), { 'content-type': 'application/x-protobuf' });
  t.is(garbage.status, 400);
  t.regex(((await garbage.json()) as { message: string }).message, /snappy|PushRequest/);
});

test('past the concurrency limit a push is refused at once with 429 and Retry-After, and nothing of it is stored', async (t) => {
  // A limit of 0 refuses every push: what the answer looks like, deterministically.
  const d = await daemon(t, { ingest: { maxConcurrent: 0 } });
  const res = await post(d, '/api/v1/ingest', JSON.stringify({ ts: (T0 - 1n).toString(), service: 'other', msg: 'refused' }));
  t.is(res.status, 429);
  t.is(res.headers.get('retry-after'), '1');
  t.is(((await res.json()) as { error: { code: string } }).error.code, 'E_OVERLOADED');
  t.is((await stored(d, '{service="other"}')).length, 0);
  t.is(d.ingestor.stats()['http-ndjson']!.overloaded, 1);
});
