import test from 'ava';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeBatch } from '../../src/batch/encode.js';
import { isTributaryError } from '../../src/errors.js';
import { FRAME_ROWS, NO_SET } from '../../src/index/block-format.js';
import { blockPages } from '../../src/index/block-reader.js';
import { nodeFs } from '../../src/index/fs.js';
import type { PageSelection, StreamFilter } from '../../src/index/page.js';
import { ShardStore } from '../../src/index/store.js';
import { encodeLabels } from '../../src/model/labels.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { planQuery } from '../../src/query/model.js';
import { queryView } from '../../src/query/scan.js';
import { countView } from '../../src/query/aggregate.js';
import { tempDir } from '../helpers/system.js';

const T0 = 1_767_225_600_000_000_000n;
const MS = 1_000_000n;

interface Row extends LogEntry {
  readonly source: string;
  readonly seq: number;
}

/** Rows from two sources, with coarse timestamps (many ties) over `spanMs`, `servers` servers, some with other labels and metadata. */
function rows(n: number, seed: number, servers: number, spanMs: number): Row[] {
  let x = seed >>> 0 || 1;
  const rnd = (k: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % k;
  };
  const perSource: Record<string, number> = { a: 0, b: 0 };
  return Array.from({ length: n }, (): Row => {
    const source = rnd(3) === 0 ? 'b' : 'a';
    const s = rnd(servers);
    const k = rnd(8);
    return {
      source,
      seq: perSource[source]!++,
      ts: T0 + BigInt(rnd(spanMs / 20)) * 20n * MS,
      level: rnd(4) as Level,
      service: `svc-${s % 7}`,
      server: `srv-${s}`,
      region: `r-${s % 5}`,
      message: `user u${rnd(50)} did ${['GET', 'PUT', 'DELETE'][rnd(3)]} /x/${rnd(1000)} in ${rnd(900)} ms`,
      ...(k < 3 ? { labels: { env: k === 0 ? 'prod' : 'dev' } } : {}),
      ...(k === 5 ? { metadata: { trace_id: `t${rnd(1e6)}` } } : {}),
    };
  });
}

async function storeOf(t: Parameters<typeof tempDir>[0], rs: readonly Row[]) {
  const { store } = ShardStore.open({ dir: tempDir(t), sealInBackground: false });
  for (const source of ['a', 'b']) {
    const mine = rs.filter((r) => r.source === source);
    // Batches of up to 1000, in seq order, so every entry keeps the seq it was given.
    for (let i = 0; i < mine.length; i += 1000) {
      const part = mine.slice(i, i + 1000).map(({ source: _s, seq: _q, ...e }) => e);
      store.append(encodeBatch(part, { sourceId: source, firstSeq: BigInt(i) }));
    }
  }
  const block = (await store.seal())!;
  return { store, block };
}

const position = (a: Row, b: Row) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.source < b.source ? -1 : a.source > b.source ? 1 : a.seq - b.seq);

test('pages of the stream layout select exactly the matching rows, in (ts, source, seq) order, in both directions (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 2 ** 31 }),
      fc.integer({ min: 200, max: 9000 }),
      fc.record({
        fromMs: fc.integer({ min: -10, max: 40_000 }),
        spanMs: fc.integer({ min: 1, max: 50_000 }),
        levelMask: fc.integer({ min: 1, max: 15 }),
        servers: fc.option(fc.array(fc.integer({ min: 0, max: 299 }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
        service: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
        env: fc.option(fc.constantFrom('prod', 'dev', ''), { nil: undefined }),
        backward: fc.boolean(),
      }),
      async (seed, n, sel) => {
        const rs = rows(n, seed, 300, 40_000);
        const { store, block } = await storeOf(t, rs);
        try {
          const view = store.readView();
          const ids = (names: string[]) => {
            const wanted = new Uint8Array(view.labelNames().length + 1);
            for (const name of names) {
              const id = view.labelId(name);
              if (id !== undefined) wanted[id] = 1;
            }
            return wanted;
          };
          const from = T0 + BigInt(sel.fromMs) * MS;
          const to = from + BigInt(sel.spanMs) * MS;
          const streams: StreamFilter = {
            service: sel.service === undefined ? null : ids([`svc-${sel.service}`]),
            server: sel.servers === undefined ? null : ids(sel.servers.map((s) => `srv-${s}`)),
            region: null,
            set:
              sel.env === undefined
                ? null
                : { ok: (id: number) => (sel.env === '' ? id === NO_SET : id !== NO_SET && view.labelName(id) === encodeLabels({ env: sel.env! })) },
          };
          const selection: PageSelection = { from, to, levelMask: sel.levelMask, streams, backward: sel.backward };
          const expected = rs
            .filter(
              (r) =>
                r.ts >= from &&
                r.ts < to &&
                (sel.levelMask & (1 << r.level)) !== 0 &&
                (sel.service === undefined || r.service === `svc-${sel.service}`) &&
                (sel.servers === undefined || sel.servers.some((s) => r.server === `srv-${s}`)) &&
                (sel.env === undefined || (r.labels?.env ?? '') === sel.env),
            )
            .sort(position);
          if (sel.backward) expected.reverse();
          const read = blockPages(nodeFs, block);
          const pages = block.pages.map((_, p) => read(p));
          if (sel.backward) pages.reverse();
          const got: string[] = [];
          for (const page of pages) {
            const { rows: picked } = page.select(selection);
            for (const i of picked) got.push(`${page.ts()[i]} ${page.sourceId(i)} ${page.seq(i)} ${page.message(i)} ${page.meta(i)}`);
          }
          const want = expected.map((r) => `${r.ts} ${r.source} ${r.seq} ${r.message} ${encodeLabels(r.metadata)}`);
          t.deepEqual(got, want);
        } finally {
          await store.close();
        }
      },
    ),
    { numRuns: 25 },
  );
  t.pass();
});

test('at 10,000 servers, a query for one server examines only its own rows and reads only the frames they are in', async (t) => {
  const rs = rows(60_000, 7, 10_000, 60_000);
  const { store, block } = await storeOf(t, rs);
  t.teardown(() => store.close());
  t.true(block.pages.length >= 5, `${block.pages.length} pages`);
  const mine = rs.filter((r) => r.server === 'srv-4242');
  const r = queryView(store.readView(), planQuery({ from: T0, to: T0 + 60_000n * MS, servers: ['srv-4242'], limit: 1000 }));
  t.deepEqual(
    r.entries.map((e) => e.message),
    [...mine].sort(position).map((e) => e.message),
  );
  t.is(r.stats.entriesExamined, mine.length, 'no other row is looked at');
  t.true(r.stats.framesRead <= mine.length, `${r.stats.framesRead} frames for ${mine.length} rows`);
  // A time-range-only query still reads each page's rows in time order.
  const all = queryView(store.readView(), planQuery({ from: T0 + 10_000n * MS, to: T0 + 20_000n * MS, limit: 100 }));
  t.deepEqual(
    all.entries.map((e) => e.message),
    rs
      .filter((x) => x.ts >= T0 + 10_000n * MS && x.ts < T0 + 20_000n * MS)
      .sort(position)
      .slice(0, 100)
      .map((e) => e.message),
  );
});

test('postings from labels to pages: a server or label set present in one page of six opens only that page, for entries and counts', async (t) => {
  // Six 10 s pages of 5,000 rows from 20 servers; srv-rare logs only in the first 5 s, pod=p9 only in the last 10 s.
  const rs: Row[] = Array.from({ length: 30_000 }, (_, i): Row => {
    const ts = T0 + BigInt(i) * 2n * MS;
    const rare = i % 100 === 0 && i < 2500;
    return {
      source: 'a',
      seq: i,
      ts,
      level: (i % 4) as Level,
      service: `svc-${i % 3}`,
      server: rare ? 'srv-rare' : `srv-${i % 20}`,
      region: 'r-1',
      message: `row ${i}`,
      ...(i >= 25_000 && i % 7 === 0 ? { labels: { pod: 'p9' } } : {}),
    };
  });
  const { store, block } = await storeOf(t, rs);
  t.teardown(() => store.close());
  t.is(block.pages.length, 6);
  const range = { from: T0, to: T0 + 60_000n * MS, limit: 1000 };
  const rare = queryView(store.readView(), planQuery({ ...range, servers: ['srv-rare'] }));
  t.is(rare.entries.length, 25);
  t.is(rare.stats.pagesScanned, 1, 'the other five pages are skipped by their postings');
  const pod = queryView(store.readView(), planQuery({ ...range, labels: [{ name: 'pod', op: '=', value: 'p9' }] }));
  t.deepEqual(
    pod.entries.map((e) => e.message),
    rs.filter((r) => r.labels?.pod === 'p9').map((r) => r.message),
  );
  t.is(pod.stats.pagesScanned, 1);
  // A filter that entries without labels pass cannot use the label-set postings: every page is opened.
  t.is(queryView(store.readView(), planQuery({ ...range, limit: 100_000, labels: [{ name: 'pod', op: '!=', value: 'p9' }] })).stats.pagesScanned, 6);
  // Counts skip the same pages, and count the same rows (30 s steps: no roll-up answers, every row is scanned).
  const counted = countView(store.readView(), planQuery({ ...range, servers: ['srv-rare'] }), 30_000n * MS, []);
  t.is(
    counted.series.reduce((a, s) => a + s.counts.reduce((x, y) => x + y, 0), 0),
    25,
  );
});

test('a damaged frame fails its read with E_BLOCK_CORRUPT naming page and frame; the other frames still read', async (t) => {
  const rs = rows(3000, 11, 50, 5_000);
  const { store, block } = await storeOf(t, rs);
  await store.close();
  const page = block.pages[0]!;
  const bytes = readFileSync(block.path);
  bytes[page.offset + page.head! + 10]! ^= 0xff; // inside the first frame
  writeFileSync(block.path, bytes);
  const p = blockPages(nodeFs, block)(0);
  const err = t.throws(() => p.message(0));
  t.true(isTributaryError(err, 'E_BLOCK_CORRUPT'));
  t.regex(err!.message, /page 0 frame 0 checksum mismatch/);
  t.notThrows(() => p.message(FRAME_ROWS), 'frame 1 is intact');
});
