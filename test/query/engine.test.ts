import test from 'ava';
import fc from 'fast-check';
import { join } from 'node:path';
import { encodeBatch } from '../../src/batch/encode.js';
import { ShardStore } from '../../src/index/store.js';
import type { IdentifiedEntry, LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { comparePositions, planQuery, type LabelMatcher, type LogQuery } from '../../src/query/model.js';
import { queryView } from '../../src/query/scan.js';
import { tempDir } from '../helpers/system.js';

const SERVICES = ['api', 'db', 'auth'];
const SERVERS = ['s1', 's2', 's3', 's4'];
const REGIONS = ['eu', 'us'];
const WORDS = ['timeout', 'Timeout', 'ok', 'retry', 'disk full', 'GET /x'];

const entryArb = fc
  .record({
    ts: fc.integer({ min: 0, max: 2000 }).map((n) => BigInt(n) * 1000n),
    level: fc.integer({ min: 0, max: 3 }).map((l) => l as Level),
    service: fc.constantFrom(...SERVICES),
    server: fc.constantFrom(...SERVERS),
    region: fc.constantFrom(...REGIONS),
    message: fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')),
    // Other stream labels and structured metadata, often absent (as v1 data and most senders).
    labels: fc.option(fc.record({ env: fc.constantFrom('prod', 'dev'), team: fc.constantFrom('core', 'web') }, { requiredKeys: [] }), { nil: undefined }),
    metadata: fc.option(fc.record({ trace_id: fc.constantFrom('t1', 't2', 't3'), user: fc.constantFrom('ann', 'bo') }, { requiredKeys: [] }), {
      nil: undefined,
    }),
  })
  .map(({ labels, metadata, ...e }): LogEntry => ({
    ...e,
    ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
    ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
  }));

const queryArb: fc.Arbitrary<LogQuery> = fc
  .record({
    from: fc.integer({ min: 0, max: 2000 }),
    span: fc.integer({ min: 1, max: 2200 }),
    levels: fc.option(fc.subarray([0, 1, 2, 3] as Level[], { minLength: 1 }), { nil: undefined }),
    services: fc.option(fc.subarray([...SERVICES, 'nope'], { minLength: 1 }), { nil: undefined }),
    servers: fc.option(fc.subarray([...SERVERS, 'ghost'], { minLength: 1 }), { nil: undefined }),
    regions: fc.option(fc.subarray(REGIONS, { minLength: 1 }), { nil: undefined }),
    contains: fc.option(fc.record({ text: fc.constantFrom('timeout', 'disk', 'GET'), caseSensitive: fc.boolean() }), { nil: undefined }),
    regex: fc.option(fc.constantFrom('^ok', 'retry$', 't.me'), { nil: undefined }),
    direction: fc.constantFrom('forward', 'backward') as fc.Arbitrary<'forward' | 'backward'>,
    limit: fc.integer({ min: 1, max: 50 }),
    labels: fc.option(
      fc.array(
        fc.record({
          name: fc.constantFrom('service', 'server', 'region', 'env', 'team'),
          op: fc.constantFrom('=', '!=', '=~', '!~') as fc.Arbitrary<'=' | '!=' | '=~' | '!~'>,
          value: fc.constantFrom('api', 's1', 'eu', 's[12]', 'a.*', 'db|auth', 'us', 'prod', 'dev', '', 'c.*'),
        }),
        { maxLength: 2 },
      ),
      { nil: undefined },
    ),
    metadata: fc.option(
      fc.array(
        fc.record({
          name: fc.constantFrom('trace_id', 'user'),
          op: fc.constantFrom('=', '!=', '=~', '!~') as fc.Arbitrary<'=' | '!=' | '=~' | '!~'>,
          value: fc.constantFrom('t1', 't[23]', 'ann', ''),
        }),
        { maxLength: 2 },
      ),
      { nil: undefined },
    ),
    lineFilters: fc.option(
      fc.array(
        fc.record({
          op: fc.constantFrom('|=', '!=', '|~', '!~') as fc.Arbitrary<'|=' | '!=' | '|~' | '!~'>,
          value: fc.constantFrom('timeout', 'ok', 'disk', 't.me', '^GET'),
          caseInsensitive: fc.boolean(),
        }),
        { maxLength: 2 },
      ),
      { nil: undefined },
    ),
  })
  .map((r) => ({ ...r, from: BigInt(r.from) * 1000n, to: BigInt(r.from + r.span) * 1000n }));

function holds(m: LabelMatcher, v: string): boolean {
  const re = new RegExp(`^(?:${m.value})$`);
  return m.op === '=' ? v === m.value : m.op === '!=' ? v !== m.value : m.op === '=~' ? re.test(v) : !re.test(v);
}

/** The reference: filter everything, sort in the total order. */
function reference(all: IdentifiedEntry[], q: LogQuery): IdentifiedEntry[] {
  const ci = q.contains && q.contains.caseSensitive === false;
  const out = all.filter(
    (e) =>
      e.ts >= q.from &&
      e.ts < q.to &&
      (!q.levels || q.levels.includes(e.level)) &&
      (!q.services || q.services.includes(e.service)) &&
      (!q.servers || q.servers.includes(e.server)) &&
      (!q.regions || q.regions.includes(e.region)) &&
      (!q.contains || (ci ? e.message.toLowerCase().includes(q.contains.text.toLowerCase()) : e.message.includes(q.contains.text))) &&
      (!q.regex || new RegExp(q.regex).test(e.message)) &&
      (q.labels ?? []).every((m) => {
        const v = m.name === 'service' || m.name === 'server' || m.name === 'region' ? e[m.name] : (e.labels?.[m.name] ?? '');
        return holds(m, v);
      }) &&
      (q.metadata ?? []).every((m) => holds(m, e.metadata?.[m.name] ?? '')) &&
      (q.lineFilters ?? []).every((f) => {
        if (f.op === '|~') return new RegExp(f.value).test(e.message);
        if (f.op === '!~') return !new RegExp(f.value).test(e.message);
        const has = f.caseInsensitive ? e.message.toLowerCase().includes(f.value.toLowerCase()) : e.message.includes(f.value);
        return f.op === '|=' ? has : !has;
      }),
  );
  out.sort(q.direction === 'backward' ? (a, b) => comparePositions(b, a) : comparePositions);
  return out;
}

const key = (e: IdentifiedEntry) =>
  `${e.source}/${e.seq}/${e.ts}/${e.level}/${e.service}/${e.server}/${e.region}/${e.message}/${JSON.stringify(e.labels ?? {})}/${JSON.stringify(e.metadata ?? {})}`;

async function storeWith(dir: string, batches: LogEntry[][], sealAfter: Set<number>) {
  const { store } = ShardStore.open({ dir, sealInBackground: false });
  const all: IdentifiedEntry[] = [];
  for (const [b, es] of batches.entries()) {
    const source = `src-${b % 3}`;
    const first = all.filter((e) => e.source === source).length;
    store.append(encodeBatch(es, { sourceId: source, firstSeq: BigInt(first) }));
    es.forEach((e, i) => all.push({ ...e, source, seq: BigInt(first + i) }));
    if (sealAfter.has(b)) await store.seal();
  }
  return { store, all };
}

test('random queries over blocks and memtable equal the brute-force reference (property)', async (t) => {
  const base = tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(entryArb, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(8)),
      fc.array(queryArb, { minLength: 1, maxLength: 5 }),
      async (batches, seals, queries) => {
        const { store, all } = await storeWith(join(base, `r${run++}`), batches, new Set(seals));
        try {
          for (const q of queries) {
            const got = queryView(store.readView(), planQuery(q)).entries.map(key);
            const want = reference(all, q).slice(0, q.limit).map(key);
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              t.log({ q, got, want });
              return false;
            }
          }
          return true;
        } finally {
          await store.close();
        }
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

test('paging with cursors returns every matching entry exactly once, in order, in both directions', async (t) => {
  const dir = tempDir(t);
  const batches: LogEntry[][] = Array.from({ length: 12 }, (_, b) =>
    Array.from({ length: 200 }, (_, i) => ({
      // Many equal timestamps across sources: ties must page correctly.
      ts: BigInt(((b * 200 + i) * 7) % 500) * 1000n,
      level: (i % 4) as Level,
      service: SERVICES[i % 3]!,
      server: SERVERS[b % 4]!,
      region: REGIONS[i % 2]!,
      message: `entry ${b}-${i}`,
    })),
  );
  const { store, all } = await storeWith(dir, batches, new Set([2, 5, 9]));
  for (const direction of ['forward', 'backward'] as const) {
    const q: LogQuery = { from: 0n, to: 1_000_000n, levels: [1, 2, 3], direction, limit: 97 };
    const pages: IdentifiedEntry[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const r = queryView(store.readView(), planQuery({ ...q, cursor }));
      pages.push(...r.entries);
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    t.deepEqual(pages.map(key), reference(all, q).map(key), direction);
  }
  await store.close();
});

test('a limited query reads only the pages it needs', async (t) => {
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir, sealInBackground: false });
  for (let b = 0; b < 10; b++) {
    const es: LogEntry[] = Array.from({ length: 20_000 }, (_, i) => ({
      ts: BigInt(b * 20_000 + i),
      level: 1 as Level,
      service: 'svc',
      server: 'srv',
      region: 'eu',
      message: `m${i}`,
    }));
    store.append(encodeBatch(es, { sourceId: 'src', firstSeq: BigInt(b * 20_000) }));
    await store.seal();
  }
  const r = queryView(store.readView(), planQuery({ from: 0n, to: 1_000_000n, limit: 10 }));
  t.is(r.entries.length, 10);
  t.is(r.stats.pagesScanned, 1, 'one page of the first block');
  const pruned = queryView(store.readView(), planQuery({ from: 150_000n, to: 150_010n }));
  t.is(pruned.entries.length, 10);
  t.is(pruned.stats.blocksScanned, 1, 'the time range prunes the other blocks');
  const none = queryView(store.readView(), planQuery({ from: 0n, to: 1_000_000n, services: ['nope'] }));
  t.is(none.stats.blocksScanned, 0, 'an unknown service prunes every block');
  await store.close();
});

test('bad queries are rejected with E_QUERY_INVALID and the field', (t) => {
  for (const [q, field] of [
    [{ from: 10n, to: 10n }, 'to'],
    [{ from: 0n, to: 10n, limit: 0 }, 'limit'],
    [{ from: 0n, to: 10n, regex: '(' }, 'regex'],
    [{ from: 0n, to: 10n, cursor: 'not a cursor' }, 'cursor'],
    [{ from: 0n, to: 10n, levels: [7 as Level] }, 'levels'],
  ] as const) {
    const err = t.throws(() => planQuery(q as LogQuery));
    t.is((err as { code?: string }).code, 'E_QUERY_INVALID');
    t.is((err as { context?: { field?: string } }).context?.field, field);
  }
});

test('a query stopped by its memory bound or its deadline says so, and what it returns is a correct prefix', async (t) => {
  const dir = tempDir(t);
  const batches: LogEntry[][] = Array.from({ length: 5 }, (_, b) =>
    Array.from({ length: 400 }, (_, i) => ({
      ts: BigInt(b * 400 + i),
      level: 1 as Level,
      service: 'api',
      server: 's1',
      region: 'eu',
      message: 'x'.repeat(100),
    })),
  );
  const { store, all } = await storeWith(dir, batches, new Set([1, 3]));
  const q: LogQuery = { from: 0n, to: 1_000_000n, limit: 2000 };
  const full = reference(all, q).map(key);
  const mem = queryView(store.readView(), planQuery(q), { deadline: Infinity, maxBytes: 50 * 164 });
  t.regex(mem.partial!.reasons[0]!, /^memory/);
  t.true(mem.entries.length > 0 && mem.entries.length < full.length);
  t.deepEqual(mem.entries.map(key), full.slice(0, mem.entries.length), 'a correct prefix');
  t.truthy(mem.nextCursor, 'and a cursor to go on from it');
  const late = queryView(store.readView(), planQuery(q), { deadline: performance.now() - 1, maxBytes: Infinity });
  t.regex(late.partial!.reasons[0]!, /^timeout/);
  t.is(late.entries.length, 0);
  await store.close();
});

test('queries during compaction and after retention answer exactly as the reference over what is kept', async (t) => {
  const dir = tempDir(t);
  const batches: LogEntry[][] = Array.from({ length: 8 }, (_, b) =>
    Array.from({ length: 300 }, (_, i) => ({
      ts: BigInt(((b * 300 + i) * 13) % 2400) * 1000n,
      level: (i % 4) as Level,
      service: SERVICES[i % 3]!,
      server: SERVERS[b % 4]!,
      region: REGIONS[i % 2]!,
      message: `m ${b} ${i} ${WORDS[i % WORDS.length]}`,
      // Compaction carries other labels and metadata along.
      ...(i % 3 === 0 ? { labels: { env: i % 2 === 0 ? 'prod' : 'dev' } } : {}),
      ...(i % 5 === 0 ? { metadata: { trace_id: `t${i}` } } : {}),
    })),
  );
  const { store, all } = await storeWith(dir, batches, new Set([0, 1, 2, 3, 4, 5, 6]));
  const q: LogQuery = { from: 0n, to: 10_000_000n, levels: [1, 3], limit: 5000 };
  const want = reference(all, q).map(key);
  const compaction = store.compact({ smallBytes: 1 << 30, targetBytes: 1 << 30 });
  // Interleave queries with the merge in flight (it runs inline here: each await lets it progress).
  for (let i = 0; i < 5; i++) {
    t.deepEqual(queryView(store.readView(), planQuery(q)).entries.map(key), want, `during compaction, query ${i}`);
    await Promise.resolve();
  }
  await compaction;
  t.true(store.blocks.length < 7, 'blocks were merged');
  t.deepEqual(queryView(store.readView(), planQuery(q)).entries.map(key), want, 'after compaction');
  // Retention by size: whole blocks go; queries then see exactly what remains.
  store.enforceRetention({ maxBytes: 0 });
  const kept = [...store.entries()].map((e) => e.source + '/' + e.seq);
  const keptSet = new Set(kept);
  const wantKept = reference(
    all.filter((e) => keptSet.has(e.source + '/' + e.seq)),
    q,
  ).map(key);
  t.deepEqual(queryView(store.readView(), planQuery(q)).entries.map(key), wantKept, 'after retention');
  await store.close();
});

test('count_over_time by any labels equals a brute-force count (property)', async (t) => {
  const { countView } = await import('../../src/query/aggregate.js');
  const base = tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(entryArb, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(6)),
      queryArb,
      fc.subarray(['service', 'server', 'region', 'level'] as const),
      fc.integer({ min: 1, max: 700 }),
      async (batches, seals, q, by, stepUs) => {
        const { store, all } = await storeWith(join(base, `c${run++}`), batches, new Set(seals));
        try {
          const step = BigInt(stepUs) * 1000n;
          const got = countView(store.readView(), planQuery(q), step, by);
          const match = reference(all, { ...q, limit: undefined, direction: 'forward' });
          const want = new Map<string, number[]>();
          for (const e of match) {
            const key = by.map((l) => (l === 'level' ? ['DEBUG', 'INFO', 'WARN', 'ERROR'][e.level] : e[l])).join('|');
            if (!want.has(key)) want.set(key, new Array<number>(got.buckets).fill(0));
            want.get(key)![Number((e.ts - q.from) / step)]!++;
          }
          const gotMap = new Map(got.series.map((s) => [by.map((l) => s.labels[l]).join('|'), s.counts]));
          return JSON.stringify([...gotMap].sort()) === JSON.stringify([...want].sort());
        } finally {
          await store.close();
        }
      },
    ),
    { numRuns: 100 },
  );
  t.pass();
});

test('counts from per-minute roll-ups (plus scanned edges) equal a brute-force count (property)', async (t) => {
  const { countView } = await import('../../src/query/aggregate.js');
  const MIN = 60_000_000_000n;
  const dir = tempDir(t);
  const { store } = ShardStore.open({ dir, sealInBackground: false });
  const all: IdentifiedEntry[] = [];
  // 10 minutes of entries, sealed into several blocks (some minutes span blocks), the last part unsealed.
  for (let b = 0; b < 6; b++) {
    const es: LogEntry[] = Array.from({ length: 500 }, (_, i) => {
      const n = b * 500 + i;
      return {
        ts: BigInt(n) * 200_000_000n + BigInt(n % 7),
        level: (n % 4) as Level,
        service: SERVICES[n % 3]!,
        server: SERVERS[n % 4]!,
        region: REGIONS[n % 2]!,
        message: `m${n}`,
      };
    });
    store.append(encodeBatch(es, { sourceId: 'src', firstSeq: BigInt(b * 500) }));
    es.forEach((e, i) => all.push({ ...e, source: 'src', seq: BigInt(b * 500 + i) }));
    if (b < 5) await store.seal();
  }
  t.true(
    store.blocks.every((bl) => bl.rollup !== undefined),
    'blocks carry roll-ups',
  );
  const whole = countView(store.readView(), planQuery({ from: 0n, to: 10n * MIN }), MIN, ['level']);
  t.true(whole.stats!.rollupRows > 0, 'aligned minute buckets are answered from roll-ups');
  t.is(whole.stats!.entriesScanned, 500, 'only the unsealed batch is scanned');
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 8 }),
      fc.integer({ min: 1, max: 11 * 60 }),
      fc.integer({ min: 1, max: 3 }),
      fc.subarray(['service', 'server', 'region', 'level'] as const),
      fc.option(fc.subarray(SERVICES, { minLength: 1 }), { nil: undefined }),
      fc.option(fc.subarray([0, 1, 2, 3] as Level[], { minLength: 1 }), { nil: undefined }),
      async (fromMin, spanS, stepMin, by, services, levels) => {
        const from = BigInt(fromMin) * MIN;
        const to = from + BigInt(spanS) * 1_000_000_000n;
        const step = BigInt(stepMin) * MIN;
        const q: LogQuery = { from, to, services, levels };
        const got = countView(store.readView(), planQuery(q), step, by);
        const want = new Map<string, number[]>();
        for (const e of reference(all, { ...q, direction: 'forward' })) {
          const key = by.map((l) => (l === 'level' ? ['DEBUG', 'INFO', 'WARN', 'ERROR'][e.level] : e[l])).join('|');
          if (!want.has(key)) want.set(key, new Array<number>(got.buckets).fill(0));
          want.get(key)![Number((e.ts - from) / step)]!++;
        }
        const gotMap = new Map(got.series.map((s) => [by.map((l) => s.labels[l]).join('|'), s.counts]));
        return JSON.stringify([...gotMap].sort()) === JSON.stringify([...want].sort());
      },
    ),
    { numRuns: 200 },
  );
  await store.close();
});
