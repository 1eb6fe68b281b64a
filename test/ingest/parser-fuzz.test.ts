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
  const formats: IngestFormat[] = ['ndjson', 'loki-json', 'loki-protobuf'];
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
