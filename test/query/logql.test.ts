import test from 'ava';
import fc from 'fast-check';
import { Level } from '../../src/model/level.js';
import { parseLogQL, type CompiledQuery } from '../../src/query/logql.js';

const log = (q: CompiledQuery) => (q.type === 'log' ? q.query : null);
const metric = (q: CompiledQuery) => (q.type === 'metric' ? q.query : null);

test("the issue's log query example", (t) => {
  const q = log(parseLogQL('{service="api", region="eu-1"} |= "timeout" | level >= WARN'))!;
  t.deepEqual(q.labels, [
    { name: 'service', op: '=', value: 'api' },
    { name: 'region', op: '=', value: 'eu-1' },
  ]);
  t.deepEqual(q.lineFilters, [{ op: '|=', value: 'timeout' }]);
  t.deepEqual(q.levels, [Level.WARN, Level.ERROR]);
});

test("the issue's metric example, sum by and topk", (t) => {
  const m = metric(parseLogQL('count_over_time({service="api"}[1m]) by (level)'))!;
  t.is(m.range, 60_000_000_000n);
  t.deepEqual(m.by, ['level']);
  t.deepEqual(m.select.labels, [{ name: 'service', op: '=', value: 'api' }]);
  const s = metric(parseLogQL('sum by (service) (count_over_time({level="error"}[1h30m]))'))!;
  t.deepEqual(s.by, ['service']);
  t.deepEqual(s.select.levels, [Level.ERROR]);
  t.is(s.range, 5_400_000_000_000n);
  const k = metric(parseLogQL('topk(5, sum by (server) (count_over_time({level=~"warn|error"}[1h])))'))!;
  t.is(k.topk, 5);
  t.deepEqual(k.by, ['server']);
  t.deepEqual(k.select.levels, [Level.WARN, Level.ERROR]);
});

test('as in LogQL, a bare count_over_time is one series per stream, and sum() folds them into one', (t) => {
  t.deepEqual(metric(parseLogQL('count_over_time({service="api"}[1m])'))!.by, ['service', 'server', 'region', 'level']);
  t.deepEqual(metric(parseLogQL('sum(count_over_time({service="api"}[1m]))'))!.by, []);
});

test('aliases, regex matchers, negative filters, raw strings, the empty selector', (t) => {
  const q = log(parseLogQL('{app="checkout", host=~"web-[0-9]+", job!="x"} != "health" |~ `5\\d\\d` !~ "(?i)debug"'))!;
  t.deepEqual(q.labels, [
    { name: 'service', op: '=', value: 'checkout' },
    { name: 'server', op: '=~', value: 'web-[0-9]+' },
    { name: 'service', op: '!=', value: 'x' },
  ]);
  t.deepEqual(
    q.lineFilters!.map((f) => f.op),
    ['!=', '|~', '!~'],
  );
  t.is(q.lineFilters![1]!.value, '5\\d\\d');
  t.deepEqual(log(parseLogQL('{}'))!.labels, []);
});

test('(?i) at the start of a regex means case-insensitive, as in RE2', async (t) => {
  const { planQuery, matchesMessage } = await import('../../src/query/model.js');
  const q = log(parseLogQL('{} |~ "(?i)timeout"'))!;
  const planned = planQuery({ ...q, from: 0n, to: 1n });
  t.true(matchesMessage(planned, 'upstream TIMEOUT after 30s'));
  t.false(matchesMessage(planned, 'all fine'));
});

test('parse errors name the line, column, what was expected and what was found', (t) => {
  const cases: [string, RegExp][] = [
    ['{service=="api"}', /1:10: expected a string, found "="/],
    ['{service="api"', /1:15: expected "," or "}", found the end of the query/],
    ['{9foo="x"}', /1:2: expected a label name, found "9"/],
    ['{service="a"} | = "x"', /1:17: expected a label name after "\|"/],
    ['count_over_time({service="a"}[1x])', /1:31: expected a duration/],
    ['{service="a"} |~ "("', /1:15: expected a valid regular expression/],
    ['{service="a"} | level >= LOUD', /expected a level/],
    ['{service="a"}\n  |= 42', /2:6: expected a string, found "42"/],
    ['service="a"', /1:1: expected count_over_time, sum or topk, found "service"/],
  ];
  for (const [src, re] of cases) {
    const err = t.throws(() => parseLogQL(src), undefined, src);
    t.is((err as { code?: string }).code, 'E_QUERY_INVALID', src);
    t.regex(err!.message, re, src);
  }
});

// Round trip: a random query printed in LogQL parses back to what it says.
const labelName = fc.constantFrom('service', 'server', 'region', 'env', 'k8s_namespace_name');
const str = fc.string({ maxLength: 8 }).filter((s) => !s.includes('`'));
const regexStr = fc.constantFrom('a.*', 'web-[0-9]+', 'x|y');
const matcher = fc.oneof(
  fc.record({ name: labelName, op: fc.constantFrom('=', '!='), value: str }),
  fc.record({ name: labelName, op: fc.constantFrom('=~', '!~'), value: regexStr }),
);
const filter = fc.oneof(fc.record({ op: fc.constantFrom('|=', '!='), value: str }), fc.record({ op: fc.constantFrom('|~', '!~'), value: regexStr }));

test('printed queries parse back to the same query (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(matcher, { maxLength: 4 }),
      fc.array(filter, { maxLength: 3 }),
      fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      (ms, fs, minLevel) => {
        const text =
          `{${ms.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`).join(', ')}}` +
          fs.map((f) => ` ${f.op} ${JSON.stringify(f.value)}`).join('') +
          (minLevel === undefined ? '' : ` | level >= ${['DEBUG', 'INFO', 'WARN', 'ERROR'][minLevel]}`);
        const q = log(parseLogQL(text))!;
        return (
          JSON.stringify(q.labels) === JSON.stringify(ms) &&
          JSON.stringify(q.lineFilters) === JSON.stringify(fs) &&
          JSON.stringify(q.levels) === JSON.stringify(minLevel === undefined ? undefined : [0, 1, 2, 3].filter((l) => l >= minLevel))
        );
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
