import test from 'ava';
import fc from 'fast-check';
import { BatchReader } from '../../src/batch/reader.js';
import { parseJsonExact, parseJsonLineExact } from '../../src/ingest/formats/exact-json.js';
import { parseBody, type IngestFormat } from '../../src/ingest/parse-task.js';
import { post, startDaemon, storedEntries } from '../helpers/daemon.js';

const shards = ['a', 'b'];
// The accepted window: 1990 to a day ahead of now.
const MIN_NS = BigInt(Date.UTC(1990, 0, 1)) * 1_000_000n;
const MAX_NS = BigInt(Date.now()) * 1_000_000n;

function storedTimestamps(format: IngestFormat, body: string): bigint[] {
  const r = parseBody({ format, body: Buffer.from(body), shards });
  const out: bigint[] = [];
  for (const b of r.batches) out.push(...BatchReader.open(b.bytes).timestamps());
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Each JSON door, with the timestamp written as a bare JSON number (digits as they are). */
const doors: Record<string, { format: IngestFormat; body: (ts: string) => string; scale: bigint }> = {
  'NDJSON ts in ns': { format: 'ndjson', body: (ts) => `{"ts":${ts},"service":"api","msg":"m"}`, scale: 1n },
  'NDJSON timestamp in µs': { format: 'ndjson', body: (ts) => `{"timestamp":${ts},"msg":"m"}`, scale: 1000n },
  'Loki push JSON': { format: 'loki-json', body: (ts) => `{"streams":[{"stream":{"app":"x"},"values":[[${ts},"line"]]}]}`, scale: 1n },
  'OTLP JSON': {
    format: 'otlp-json',
    body: (ts) => `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":${ts},"body":{"stringValue":"b"}}]}]}]}`,
    scale: 1n,
  },
};

for (const [name, door] of Object.entries(doors)) {
  test(`${name}: an integer timestamp keeps every digit (property)`, (t) => {
    fc.assert(
      fc.property(fc.bigInt({ min: MIN_NS / door.scale + 1n, max: MAX_NS / door.scale }), (units) => {
        const got = storedTimestamps(door.format, door.body(units.toString()));
        t.deepEqual(got, [units * door.scale]);
      }),
      { numRuns: 200 },
    );
  });
}

test('digits inside strings, fractions and exponents are left as they are', (t) => {
  const doc = parseJsonExact('{"a":"x 12345678901234567890 y","b":1234567890123456.5,"c":1.5e17,"d":[-12345678901234567],"e":0.12345678901234567}');
  t.deepEqual(doc, { a: 'x 12345678901234567890 y', b: 1234567890123456.5, c: 1.5e17, d: ['-12345678901234567'], e: 0.12345678901234567 });
  t.deepEqual(parseJsonExact('{"s":"esc \\" 1234567890123456789 \\\\","n":1234567890123456789}'), {
    s: 'esc " 1234567890123456789 \\',
    n: '1234567890123456789',
  });
  t.throws(() => parseJsonExact('{"ts":12345678901234567890'));
});

test('through the daemon: an int64 ts sent as a JSON number is stored to the nanosecond', async (t) => {
  const d = await startDaemon(t);
  const ts = 1_767_225_600_444_512_375n;
  const now = BigInt(Date.now()) * 1_000_000n;
  const live = now - 1_000_000_123n; // inside the accepted window whatever today's date
  const res = await post(d, '/api/v1/ingest', `{"ts":${live},"service":"api","msg":"exact"}\n{"ts":${ts},"service":"api","msg":"fixed"}`, {
    'content-type': 'application/x-ndjson',
  });
  t.is(res.status, 200);
  const got = await storedEntries(d, '{service="api"}', ts - 10n, now + 10n);
  t.deepEqual(
    got.map((e) => e.ts),
    [ts.toString(), live.toString()],
  );
});

test('parsing as is first gives exactly what rewriting every long integer gives, on any JSON with long digit runs (property)', (t) => {
  // The reference: the whole-text rewrite applied always, as it was before the as-is parse came first.
  const reference = (text: string): unknown =>
    JSON.parse(text.replace(/"[^"\\]*(?:\\.[^"\\]*)*"|(?<![\d.eE+\-])-?\d{16,}(?![\d.eE])/g, (m) => (m.charCodeAt(0) === 0x22 ? m : `"${m}"`)));
  // 15 to 21 digits, the first not zero: each length equally likely, either side of the 16 digits the rewrite quotes.
  const longDigits = fc
    .tuple(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 14, maxLength: 20 }))
    .map(([first, rest]) => `${first}${rest.join('')}`);
  const leaf = fc.oneof(
    longDigits.map((d) => ({ raw: d })), // a bare number
    longDigits.map((d) => `ts ${d}`), // digits inside a string
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string(),
    fc.boolean(),
  );
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('tree'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 4 }), tie('tree'), { maxKeys: 4 }),
    ),
  }));
  const write = (v: unknown): string =>
    v !== null && typeof v === 'object' && 'raw' in v
      ? (v as { raw: string }).raw
      : Array.isArray(v)
        ? `[${v.map(write).join(',')}]`
        : v !== null && typeof v === 'object'
          ? `{${Object.entries(v)
              .map(([k, x]) => `${JSON.stringify(k)}:${write(x)}`)
              .join(',')}}`
          : JSON.stringify(v);
  fc.assert(
    fc.property(tree, (v) => {
      const text = `{"pad":"1234567890123456","v":${write(v)}}`; // always takes the long-digits path
      t.deepEqual(parseJsonExact(text), reference(text));
    }),
    { numRuns: 500 },
  );
});

test('an NDJSON line: a top-level time field is read from its digits; the key written twice takes the whole-text path', (t) => {
  const F = ['ts', 'time'];
  t.deepEqual(parseJsonLineExact('{"ts":1767225600444512375,"msg":"m"}', F), { ts: 1767225600444512375n, msg: 'm' });
  // An escaped "ts" inside a string is not the key; the key itself written twice takes the whole-text path.
  t.deepEqual(parseJsonLineExact('{"msg":"\\"ts\\":1","ts":1767225600444512375}', F), { msg: '"ts":1', ts: 1767225600444512375n });
  t.deepEqual(parseJsonLineExact('{"a":{"ts":1},"ts":1767225600444512375}', F), { a: { ts: 1 }, ts: '1767225600444512375' });
  t.deepEqual(parseJsonLineExact('{"time":1767225600444,"n":1.5}', F), { time: 1767225600444, n: 1.5 });
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), fc.string({ maxLength: 20 }), (n, s) => {
      const v = parseJsonLineExact(`{"a":${JSON.stringify(s)},"ts":${n}}`, F) as { ts: unknown };
      t.is(String(v.ts), n.toString());
    }),
  );
});
