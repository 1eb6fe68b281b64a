import test from 'ava';
import fc from 'fast-check';
import { isTributaryError } from '../../src/errors.js';
import { evaluateConstant } from '../../src/query/logql/constant.js';
import { parseLogQLTree } from '../../src/query/logql/parse.js';
import { formatLogQL } from '../../src/query/logql/format.js';
import type { Expr } from '../../src/query/logql/ast.js';

// Queries as Loki's documentation writes them (query_examples, log_queries, metric_queries, template_functions).
const CORPUS = [
  '{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt | duration > 10s and throughput_mb < 500',
  '{job="mysql"} |= "error" != "timeout"',
  '{app="foo"} |= "bar" or "baz"',
  '{job="loki-ops/consul"} |= ip("10.0.0.0/8")',
  '{job="varlogs"} | json first_server="servers[0]", ua="request.headers[\\"User-Agent\\"]"',
  '{job="mysql"} | logfmt --strict --keep-empty',
  '{job="nginx"} | pattern `<ip> - - <_> "<method> <uri> <_>" <status> <size> <_> "<agent>" <_>`',
  '{job="x"} | regexp "(?P<method>\\\\w+) (?P<path>[\\\\w|/]+) \\\\((?P<status>\\\\d+?)\\\\) (?P<duration>.*)"',
  '{job="x"} | unpack | line_format "{{.message}}"',
  '{app="foo"} | logfmt | label_format foo=bar, status="{{.status_code}}"',
  '{app="foo"} | drop __error__, __error_details__ | keep level, method="GET"',
  '{app="foo"} | decolorize',
  '{job="x"} | logfmt | level="error" or (duration >= 1m and size > 20KB)',
  'count_over_time({job="mysql"}[5m])',
  'sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))',
  'topk(10,sum(rate({region="us-east1"}[5m])) by (name))',
  'avg(rate(({job="nginx"} |= "GET")[10s])) by (region)',
  'quantile_over_time(0.99, {cluster="ops-tools1",container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)',
  'sum by (org_id) (sum_over_time({cluster="ops-tools1",container="loki-dev"} |= "metrics.go" | logfmt | unwrap bytes_processed [1m]))',
  'sum without (app) (count_over_time({app="foo"}[1m])) > bool 10',
  'sum(rate({app="foo"}[1m])) / on (cluster) group_left (team) sum(rate({app="bar"}[1m]))',
  'label_replace(rate({job="api-server",service="a:c"} |= "err" [5m]), "foo", "$1", "service", "(.*):.*")',
  'sum(count_over_time({job="x"}[5m] offset 1h))',
  'rate({job="x"} | unwrap duration_seconds(latency) | latency > 1 [5m])',
  'sort_desc(sum by (app) (bytes_rate({cluster="x"}[1m])))',
  'absent_over_time({job="x"}[1h])',
  'sum by (level, detected_level) (count_over_time({service_name="x"} | drop __error__ [1m]))',
  'vector(1)+vector(1)',
  'bottomk(3, sum by (a) (count_over_time({a=~".+"}[1m])))',
];

test("the queries of Loki's documentation parse, each to the kind it is", (t) => {
  for (const q of CORPUS) {
    const e = parseLogQLTree(q);
    t.is(e.kind === 'log', q.startsWith('{'), q);
  }
});

test('a parsed tree keeps what was written: operators, values, ranges, modifiers, positions', (t) => {
  const e = parseLogQLTree('sum by (host) (rate({job="mysql"} |= "error" or "fatal" | json x="a.b" | duration > 10s [1m] offset 5m))') as Extract<
    Expr,
    { kind: 'vector' }
  >;
  t.is(e.op, 'sum');
  t.deepEqual(e.grouping, { without: false, labels: ['host'] });
  const inner = e.inner as Extract<Expr, { kind: 'range' }>;
  t.is(inner.op, 'rate');
  t.is(inner.range, 60_000_000_000n);
  t.is(inner.offset, 300_000_000_000n);
  t.deepEqual(
    inner.log.selector.matchers.map((m) => [m.name, m.op, m.value]),
    [['job', '=', 'mysql']],
  );
  const [line, json, filter] = inner.log.pipeline;
  t.like(line, {
    kind: 'line',
    op: '|=',
    values: [
      { value: 'error', ip: false },
      { value: 'fatal', ip: false },
    ],
  });
  t.is(line!.from, 'sum by (host) (rate({job="mysql"} '.length, 'spans point into the text');
  t.like(json, { kind: 'json', extract: [{ label: 'x', expression: 'a.b' }] });
  t.like(filter, { kind: 'labelFilter', filter: { kind: 'duration', name: 'duration', op: '>', seconds: 10 } });
});

test('a syntax error says where, as line:column, with E_QUERY_INVALID', (t) => {
  for (const [q, where] of [
    ['{job="x"', '1:9'],
    ['sum(rate({job="x"}[1m])', '1:24'],
    ['{job="x"}\n| json |', '2:9'],
    ['', '1:1'],
  ] as const) {
    const err = t.throws(() => parseLogQLTree(q));
    t.true(isTributaryError(err, 'E_QUERY_INVALID'), q);
    t.true(err!.message.startsWith(`logql ${where}:`), `${JSON.stringify(q)}: ${err!.message}`);
  }
});

test('no input crashes the parser: every string parses or is E_QUERY_INVALID (property)', (t) => {
  const pieces = fc.constantFrom(
    '{',
    '}',
    '(',
    ')',
    '[',
    ']',
    '"',
    '`',
    '|',
    '|=',
    '!=',
    '=~',
    ',',
    ' ',
    '1m',
    '10',
    'sum',
    'by',
    'rate',
    'json',
    'x',
    '=',
    '>',
    'bool',
    'on',
    'unwrap',
    'offset',
    'vector',
    '\n',
    '#',
    '\\',
  );
  const mutated = fc.tuple(fc.constantFrom(...CORPUS), fc.nat(), fc.nat(), fc.string({ maxLength: 4 })).map(([q, a, b, ins]) => {
    const i = a % (q.length + 1);
    return q.slice(0, i) + ins + q.slice(i + (b % 4));
  });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.array(pieces, { maxLength: 25 }).map((p) => p.join('')),
        mutated,
      ),
      (q) => {
        try {
          parseLogQLTree(q);
        } catch (err) {
          if (!isTributaryError(err, 'E_QUERY_INVALID')) throw err;
        }
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

test("operators bind as in PromQL, whatever the grammar groups: random arithmetic equals JavaScript's (property)", (t) => {
  const leaf = fc.integer({ min: 1, max: 9 }).map(String);
  const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '^'), tie('e')).map(([a, o, b]) => `${a} ${o} ${b}`),
      tie('e').map((x) => `(${x})`),
    ),
  })).e as fc.Arbitrary<string>;
  fc.assert(
    fc.property(expr, (q) => {
      const got = evaluateConstant(parseLogQLTree(q));
      const want = Function(`return ${q.replaceAll('^', '**')}`)() as number;
      if (got === null || got.type !== 'scalar' || !(Object.is(got.value, want) || Math.abs(got.value - want) <= 1e-9 * Math.abs(want)))
        throw new Error(`${q}: ${JSON.stringify(got)} != ${want}`);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

/** The tree without spans (a formatted query puts things elsewhere, not otherwise). */
function shape(e: Expr): unknown {
  return JSON.parse(JSON.stringify(e, (k, v) => (k === 'from' || k === 'to' ? undefined : typeof v === 'bigint' ? `${v}n` : v)));
}

test("a formatted query parses back to the same tree: the documentation's queries, and their mutations that still parse (property)", (t) => {
  for (const q of CORPUS) {
    const e = parseLogQLTree(q);
    const text = formatLogQL(e);
    t.deepEqual(shape(parseLogQLTree(text)), shape(e), `${q}\n  -> ${text}`);
  }
  t.is(formatLogQL(parseLogQLTree('sum   by(host)(rate( {job="mysql"}|="error"  [1m] ))')), 'sum by (host) (rate({job="mysql"} |= "error" [1m]))');
  t.is(formatLogQL(parseLogQLTree('(1 + 2) * 3 - 4 ^ (1 ^ 2)')), '(1 + 2) * 3 - 4 ^ 1 ^ 2', '^ binds to the right: those parentheses say nothing');
  t.is(formatLogQL(parseLogQLTree('(4 ^ 1) ^ 2 - (3 - 1)')), '(4 ^ 1) ^ 2 - (3 - 1)');
  const mutated = fc
    .tuple(fc.constantFrom(...CORPUS), fc.nat(), fc.nat(), fc.constantFrom('', ' ', '(', ')', '1', 'x', ',', ' or ', ' and ', '"a"', ' + 2', ' * vector(3)'))
    .map(([q, a, b, ins]) => {
      const i = a % (q.length + 1);
      return q.slice(0, i) + ins + q.slice(i + (b % 3));
    });
  fc.assert(
    fc.property(mutated, (q) => {
      let e: Expr;
      try {
        e = parseLogQLTree(q);
      } catch {
        return;
      }
      const text = formatLogQL(e);
      const again = JSON.stringify(shape(parseLogQLTree(text)));
      if (again !== JSON.stringify(shape(e))) throw new Error(`${q}\n  -> ${text}`);
    }),
    { numRuns: 2000 },
  );
});

test('constant expressions evaluate as PromQL does', (t) => {
  const value = (q: string) => evaluateConstant(parseLogQLTree(q));
  t.deepEqual(value('vector(1)+vector(1)'), { type: 'vector', sample: { labels: {}, value: 2 } });
  t.deepEqual(value('2 ^ 3 % 5'), { type: 'scalar', value: 3 });
  t.deepEqual(value('2 > bool 1'), { type: 'scalar', value: 1 });
  t.deepEqual(value('vector(5) > 2'), { type: 'vector', sample: { labels: {}, value: 5 } });
  t.deepEqual(value('vector(1) > 2'), { type: 'vector', sample: null });
  t.deepEqual(value('count(vector(7))'), { type: 'vector', sample: { labels: {}, value: 1 } });
  t.deepEqual(value('vector(1) unless vector(2)'), { type: 'vector', sample: null });
  t.deepEqual(value('label_replace(vector(1), "a", "x$1", "b", "(.*)")'), { type: 'vector', sample: { labels: { a: 'x' }, value: 1 } });
  t.is((value('vector(1) / 0') as { sample: { value: number } }).sample.value, Infinity);
  t.is(value('count_over_time({a="b"}[1m]) + 1'), null, 'reads logs: not a constant');
  t.true(
    isTributaryError(
      t.throws(() => value('1 > 2')),
      'E_QUERY_INVALID',
    ),
    'a scalar comparison needs bool',
  );
});
