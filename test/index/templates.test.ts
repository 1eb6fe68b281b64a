import test from 'ava';
import fc from 'fast-check';
import { encodeBatch } from '../../src/batch/encode.js';
import { ShardStore } from '../../src/index/store.js';
import { ByteSink, MAX_TEMPLATES, NO, RAW, TemplateWriter, Templates, YES, encodeTemplateList } from '../../src/index/templates.js';
import { TemplatedText } from '../../src/index/frame-text.js';
import { planQuery } from '../../src/query/model.js';
import { queryView } from '../../src/query/scan.js';
import { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

const enc = new TextEncoder();

/** Cuts `messages` as a seal does, and reads them back as a frame would. */
function roundTrip(messages: readonly string[]): { text: TemplatedText; templates: Templates; ids: Uint32Array } {
  const w = new TemplateWriter();
  const vars = new ByteSink();
  const raws: Uint8Array[] = [];
  const ids = new Uint32Array(messages.length);
  const rawLengths = new Uint32Array(messages.length);
  messages.forEach((m, j) => {
    const b = enc.encode(m);
    ids[j] = w.add(b, vars);
    if (ids[j] === RAW) {
      raws.push(b);
      rawLengths[j] = b.length;
    }
  });
  const templates = Templates.parse(encodeTemplateList(w.list))!;
  const text = TemplatedText.of(() => templates, ids, Buffer.from(vars.bytes.subarray(0, vars.length)), Buffer.concat(raws), rawLengths);
  if (text === null) throw new Error('frame does not fit its templates');
  return { text, templates, ids };
}

// Log-like tokens: words, integers, leading zeros, hex ids, uuids, IPs, paths, punctuation, placeholder bytes, non-ASCII.
const token = fc.oneof(
  fc.constantFrom('Receiving', 'block', 'blk_', 'src:', 'dest:', 'user=', 'took', 'ms', '/10.0.', 'ERROR', 'é', '日本', '\x11', '\x12', '0x'),
  fc.nat().map(String),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
  fc.stringMatching(/^0[0-9]{1,5}$/),
  fc.stringMatching(/^[0-9a-f]{8,32}$/),
  fc.uuid(),
  fc.string({ maxLength: 6 }),
);
const message = fc
  .array(fc.tuple(token, fc.constantFrom(' ', '', ',', ':', '=', '.', '[', ']', '"', '\t')), { maxLength: 12 })
  .map((ps) => ps.map(([a, b]) => a + b).join(''));

test('any message comes back exactly from its template and variables, as text and as bytes (property)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.oneof(message, fc.string({ unit: 'binary', maxLength: 40 })), { minLength: 1, maxLength: 40 }), (messages) => {
      const { text } = roundTrip(messages);
      messages.forEach((m, j) => {
        if (text.message(j) !== m) throw new Error(`row ${j}: ${JSON.stringify(text.message(j))} != ${JSON.stringify(m)}`);
        if (Buffer.compare(Buffer.from(text.bytes(j)), Buffer.from(enc.encode(m))) !== 0) throw new Error(`row ${j}: bytes differ`);
      });
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a template says no only where the message lacks the needle, and yes only where it has it (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(message, { minLength: 1, maxLength: 30 }),
      fc.oneof(token, message, fc.string({ maxLength: 4 })),
      fc.nat(),
      (messages, extra, pick) => {
        const { text, templates, ids } = roundTrip(messages);
        // A needle from inside one of the messages as often as not.
        const from = messages[pick % messages.length]!;
        const a = pick % (from.length + 1);
        const needles = [extra, from.slice(a, a + 1 + (pick % 9))].filter((s) => s !== '');
        for (const s of needles) {
          const n = enc.encode(s);
          const v = templates.verdict(n);
          messages.forEach((m, j) => {
            const has = Buffer.from(enc.encode(m)).indexOf(n) >= 0;
            if (v[ids[j]!] === NO && has) throw new Error(`template of ${JSON.stringify(m)} said no to ${JSON.stringify(s)}`);
            if (v[ids[j]!] === YES && !has) throw new Error(`template of ${JSON.stringify(m)} said yes to ${JSON.stringify(s)}`);
            if ((text.contains(j, n) === YES) !== has) throw new Error(`row ${j} answered wrongly for ${JSON.stringify(s)}`);
          });
        }
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('lines that differ only in their numbers and ids share one template; the list is bounded, the rest kept whole', (t) => {
  const { templates, ids } = roundTrip([
    'Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106',
    'Receiving block blk_7503483334202473044 src: /10.251.215.16:55695',
    'req 3f2a9c1e-77b4-4c1a-9d2e-0a1b2c3d4e5f done in 12 ms',
    'req 550e8400-e29b-41d4-a716-446655440000 done in 7 ms',
  ]);
  t.is(templates.size, 2);
  t.is(ids[0], ids[1]);
  t.is(ids[2], ids[3]);
  // Past MAX_TEMPLATES shapes, a block stores the new ones whole, and still renders every one.
  const w = new TemplateWriter();
  const sink = new ByteSink();
  let raw = 0;
  for (let i = 0; i < MAX_TEMPLATES + 100; i++)
    if (w.add(enc.encode(`shape ${i.toString(26).replace(/[0-9]/g, (d) => 'qrstuvwxyz'[+d]!)} x`), sink) === RAW) raw++;
  t.is(w.list.length, MAX_TEMPLATES);
  t.is(raw, 100);
});

test('a needle in no template of a block skips the block without reading a page; one that is there finds its rows', async (t) => {
  const { store } = ShardStore.open({ dir: tempDir(t), sealInBackground: false });
  const T0 = 1_767_225_600_000_000_000n;
  const entries = Array.from({ length: 5000 }, (_, i) => ({
    ts: T0 + BigInt(i) * 1_000_000n,
    level: Level.INFO,
    service: `svc-${i % 3}`,
    server: `srv-${i % 50}`,
    region: 'r',
    message: i % 1000 === 7 ? `disk quota exceeded on volume ${i}` : `Receiving block blk_${i * 7919} src: /10.0.${i % 256}.${i % 7}:${50_000 + i}`,
  }));
  store.append(encodeBatch(entries, { sourceId: 'src', firstSeq: 0n }));
  await store.seal();
  t.teardown(() => store.close());
  const ask = (text: string) => queryView(store.readView(), planQuery({ from: T0, to: T0 + 10_000_000_000n, limit: 100, contains: { text } }));
  const miss = ask('connection refused');
  t.is(miss.entries.length, 0);
  t.is(miss.stats.blocksScanned, 0, 'pruned by the templates');
  t.is(miss.stats.pagesScanned, 0);
  const hit = ask('quota exceeded');
  t.deepEqual(
    hit.entries.map((e) => e.message),
    [7, 1007, 2007, 3007, 4007].map((i) => `disk quota exceeded on volume ${i}`),
  );
  // Digits in a needle come from the variables: the templates can only say maybe, and the rows decide.
  t.deepEqual(
    ask('blk_39595 ').entries.map((e) => e.message),
    [`Receiving block blk_39595 src: /10.0.5.5:50005`],
  );
});
