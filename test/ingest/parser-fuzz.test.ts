import test from 'ava';
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import snappy from 'snappy';
import { BatchReader } from '../../src/batch/reader.js';
import { parseBody, type IngestFormat } from '../../src/ingest/parse-task.js';
import type { ParseResult } from '../../src/ingest/sink.js';

const T0 = 1_763_758_800_000_000_000n;
const shards = ['a', 'b'];
const otlpRequest = protobuf
  .loadSync(fileURLToPath(new URL('../../../proto/otlp/logs.proto', import.meta.url)))
  .lookupType('otlp.logs.ExportLogsServiceRequest');
const pushProto = protobuf.loadSync(fileURLToPath(new URL('../../../proto/loki/push.proto', import.meta.url))).lookupType('logproto.PushRequest');

/** Whatever went in, what came out is well-formed: valid batches whose counts add up to `accepted`. */
function checkResult(t: { is: (a: unknown, b: unknown) => void }, r: ParseResult): void {
  let n = 0;
  for (const b of r.batches) {
    const reader = BatchReader.open(b.bytes);
    reader.validate();
    t.is(reader.count, b.count);
    n += b.count;
  }
  t.is(n, r.accepted);
}

const validLine = fc
  .record({
    i: fc.nat(1_000_000),
    service: fc.string({ maxLength: 8 }),
    level: fc.constantFrom('info', 'WARN', 'error', 30, 50),
    msg: fc.string({ maxLength: 40 }),
  })
  .map(({ i, service, level, msg }) => JSON.stringify({ ts: (T0 + BigInt(i)).toString(), service, level, msg }));

/** A body mutated the way a network or a buggy client mangles one: bytes flipped, cut, or spliced. */
function mutate(bytes: Uint8Array, edits: { at: number; byte: number; kind: number }[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const e of edits) {
    if (out.length === 0) break;
    const at = e.at % out.length;
    if (e.kind === 0) out[at] = e.byte;
    else if (e.kind === 1) out = out.subarray(0, at);
    else out = Uint8Array.from([...out.subarray(0, at), e.byte, ...out.subarray(at)]);
  }
  return out;
}
const edits = fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255), kind: fc.nat(2) }), { maxLength: 6 });

test('every parser takes random bytes without a crash: only clean rejections (property)', (t) => {
  const formats: IngestFormat[] = ['ndjson', 'loki-json', 'loki-protobuf', 'otlp-json', 'otlp-protobuf', 'syslog', 'tributary-push'];
  fc.assert(
    fc.property(fc.constantFrom(...formats), fc.uint8Array({ maxLength: 512 }), (format, body) => {
      checkResult(t, parseBody({ format, body, shards }));
    }),
    { numRuns: 300 },
  );
});

test('NDJSON, mutated: every non-blank line is either stored or rejected with a reason (property)', (t) => {
  fc.assert(
    fc.property(fc.array(validLine, { minLength: 1, maxLength: 30 }), edits, (lines, e) => {
      const body = mutate(Buffer.from(lines.join('\n')), e);
      const r = parseBody({ format: 'ndjson', body, shards });
      checkResult(t, r);
      const text = Buffer.from(body).toString('utf8');
      const nonBlank = text.split('\n').filter((l) => l.replace(/\r$/, '').length > 0).length;
      const rejected = Object.values(r.rejected).reduce((a, b) => a + (b ?? 0), 0);
      t.is(r.accepted + rejected, nonBlank);
    }),
    { numRuns: 300 },
  );
});

test('Loki JSON and protobuf, mutated: no crash, and an intact body is stored whole (property)', (t) => {
  const stream = fc.record({
    labels: fc.dictionary(fc.constantFrom('service', 'app', 'host', 'region', 'level', 'env'), fc.constantFrom('api', 'web-1', 'eu', 'warn', 'prod', 'x"y')),
    lines: fc.array(fc.tuple(fc.nat(1_000_000), fc.string({ maxLength: 30 })), { minLength: 1, maxLength: 10 }),
  });
  fc.assert(
    fc.property(fc.array(stream, { minLength: 1, maxLength: 4 }), edits, (streams, e) => {
      const json = Buffer.from(
        JSON.stringify({ streams: streams.map((s) => ({ stream: s.labels, values: s.lines.map(([i, l]) => [(T0 + BigInt(i)).toString(), l]) })) }),
      );
      const proto = snappy.compressSync(
        Buffer.from(
          pushProto
            .encode(
              pushProto.create({
                streams: streams.map((s) => ({
                  labels: `{${Object.entries(s.labels)
                    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
                    .join(', ')}}`,
                  entries: s.lines.map(([i, l]) => ({ timestamp: { seconds: Number(T0 / 1_000_000_000n), nanos: i }, line: l })),
                })),
              }),
            )
            .finish(),
        ),
      );
      const total = streams.reduce((a, s) => a + s.lines.length, 0);
      for (const [format, body] of [
        ['loki-json', json],
        ['loki-protobuf', proto],
      ] as const) {
        const intact = parseBody({ format, body, shards });
        checkResult(t, intact);
        // Only a level label naming no level refuses entries of an intact body.
        const refused = streams.filter((s) => s.labels.level !== undefined && s.labels.level !== 'warn').reduce((a, s) => a + s.lines.length, 0);
        t.is(intact.accepted, total - refused);
        t.deepEqual(intact.rejected, refused > 0 ? { unknown_level: refused } : {});
        checkResult(t, parseBody({ format, body: mutate(body, e), shards }));
      }
    }),
    { numRuns: 150 },
  );
});

test('OTLP JSON and protobuf, mutated: no crash, and an intact request is stored whole (property)', (t) => {
  const record = fc.record({
    i: fc.nat(1_000_000),
    sev: fc.integer({ min: 1, max: 24 }),
    body: fc.string({ maxLength: 30 }),
    attr: fc.option(fc.string({ maxLength: 10 })),
  });
  const resource = fc.record({ service: fc.string({ minLength: 1, maxLength: 8 }), records: fc.array(record, { minLength: 1, maxLength: 8 }) });
  fc.assert(
    fc.property(fc.array(resource, { minLength: 1, maxLength: 3 }), edits, (resources, e) => {
      const request = {
        resourceLogs: resources.map((r) => ({
          resource: { attributes: [{ key: 'service.name', value: { stringValue: r.service } }] },
          scopeLogs: [
            {
              logRecords: r.records.map((x) => ({
                timeUnixNano: (T0 + BigInt(x.i)).toString(),
                severityNumber: x.sev,
                body: { stringValue: x.body },
                attributes: x.attr === null ? [] : [{ key: 'k', value: { stringValue: x.attr } }],
              })),
            },
          ],
        })),
      };
      const total = resources.reduce((a, r) => a + r.records.length, 0);
      for (const [format, body] of [
        ['otlp-json', Buffer.from(JSON.stringify(request))],
        ['otlp-protobuf', otlpRequest.encode(otlpRequest.fromObject(request)).finish()],
      ] as const) {
        const intact = parseBody({ format, body, shards });
        checkResult(t, intact);
        t.is(intact.accepted, total);
        checkResult(t, parseBody({ format, body: mutate(body, e), shards }));
      }
    }),
    { numRuns: 150 },
  );
});

test('syslog, mutated: every frame is stored or refused with a reason, whichever framing (property)', (t) => {
  const message = fc
    .record({
      pri: fc.nat(191),
      host: fc.stringMatching(/^[a-z0-9-]{1,10}$/),
      app: fc.stringMatching(/^[a-z]{1,8}$/),
      msg: fc.string({ maxLength: 40 }),
      rfc: fc.boolean(),
    })
    .map(({ pri, host, app, msg, rfc }) =>
      rfc ? `<${pri}>1 2025-11-21T21:00:00.5Z ${host} ${app} - - - ${msg}` : `<${pri}>Nov 21 21:00:00 ${host} ${app}: ${msg}`,
    );
  fc.assert(
    fc.property(fc.array(fc.tuple(message, fc.boolean()), { minLength: 1, maxLength: 20 }), edits, (messages, e) => {
      // Octet counting keeps any message whole; newline framing splits a message at its own newlines.
      const body = Buffer.from(messages.map(([m, octet]) => (octet ? `${Buffer.byteLength(m)} ${m}` : `${m.replace(/[\r\n]/g, ' ')}\n`)).join(''));
      const intact = parseBody({ format: 'syslog', body, shards });
      checkResult(t, intact);
      t.is(intact.accepted, messages.length);
      checkResult(t, parseBody({ format: 'syslog', body: mutate(body, e), shards }));
    }),
    { numRuns: 200 },
  );
});

test('a deeply nested OTLP body is stored with its nesting cut, not a thread lost to the stack', (t) => {
  const depth = 20_000;
  const value = `${'{"arrayValue":{"values":['.repeat(depth)}{"stringValue":"bottom"}${']}}'.repeat(depth)}`;
  const body = Buffer.from(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"${T0}","severityNumber":9,"body":${value}}]}]}]}`);
  const r = parseBody({ format: 'otlp-json', body, shards });
  checkResult(t, r);
  t.is(r.accepted, 1);
});
