import test from 'ava';
import fc from 'fast-check';
import { isTributaryError } from '../../src/errors.js';
import { compilePattern, matchPattern, parseLogfmt, patternTest } from '../../src/query/logql/parsers.js';
import { compileTemplate } from '../../src/query/logql/template.js';
import { patternOf } from '../../src/query/patterns.js';

/**
 * logfmt as go-logfmt reads it, one character at a time: a key runs to `=`,
 * a space or a quote; a value is bare (up to a space; `=` or `"` in it is an
 * error) or quoted with escapes. Without strict, a bad pair is skipped to the
 * next space. The reference the parser's fast path must agree with.
 */
function referenceLogfmt(line: string, strict: boolean, keepEmpty: boolean): { pairs: [string, string][]; error: boolean } {
  const pairs: [string, string][] = [];
  const n = line.length;
  let i = 0;
  const space = (k: number) => line.charCodeAt(k) <= 32;
  while (i < n) {
    while (i < n && space(i)) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && !space(i) && line[i] !== '=' && line[i] !== '"') i++;
    const key = line.slice(start, i);
    let bad = key === '' || line[i] === '"';
    let value = '';
    if (!bad && line[i] === '=') {
      i++;
      if (line[i] === '"') {
        let j = i + 1;
        while (j < n && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
        if (j >= n) bad = true;
        else {
          try {
            value = JSON.parse(
              line.slice(i, j + 1).replace(/\\([abfnrtv\\"'])/g, (m, c: string) => (c === 'a' ? '\\u0007' : c === 'v' ? '\\u000b' : c === "'" ? "'" : m)),
            );
          } catch {
            bad = true;
          }
          i = j + 1;
        }
      } else {
        const vs = i;
        while (i < n && !space(i)) {
          if (line[i] === '=' || line[i] === '"') {
            bad = true;
            break;
          }
          i++;
        }
        value = line.slice(vs, i);
      }
    }
    if (bad) {
      if (strict) return { pairs, error: true };
      while (i < n && !space(i)) i++;
      continue;
    }
    if (value !== '' || keepEmpty) pairs.push([key.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^(\d)/, '_$1'), value]);
  }
  return { pairs, error: false };
}

test('logfmt reads exactly the pairs a character-by-character reading does, errors and --strict and --keep-empty included (property)', (t) => {
  const piece = fc.constantFrom('a', 'key', 'x1', '=', '"', '\\', ' ', '  ', '\t', 'v', 'va lue', '\\"', 'é', '9', '==');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 16 }), fc.boolean(), fc.boolean(), (parts, strict, keepEmpty) => {
      const line = parts.join('');
      const got: [string, string][] = [];
      const error = parseLogfmt(line, (k, v) => got.push([k, v]), strict, keepEmpty);
      const want = referenceLogfmt(line, strict, keepEmpty);
      t.deepEqual(got, want.pairs, JSON.stringify(line));
      t.is(error !== null, want.error, JSON.stringify(line));
    }),
    { numRuns: 3000 },
  );
});

test('templates: fields, pipelines, printf, if / else if / else, trimming, and functions in Go argument order', (t) => {
  const data = (labels: Record<string, string>) => ({ label: (n: string) => labels[n] ?? '', line: 'the line', ts: 1_700_000_000_123_000_000n });
  const run = (src: string, labels: Record<string, string> = {}) => compileTemplate(src)(data(labels));
  t.is(run('{{.a}}-{{ .b | upper }}', { a: 'x', b: 'y' }), 'x-Y');
  t.is(run('{{ printf "%05d|%-4s|%.2f" .n .s .f }}', { n: '42', s: 'ab', f: '3.14159' }), '00042|ab  |3.14');
  t.is(run('{{ if eq .status "500" }}bad{{ else if eq .status "404" }}missing{{ else }}ok{{ end }}', { status: '404' }), 'missing');
  t.is(run('a  {{- .x -}}  b', { x: 'X' }), 'aXb');
  t.is(run('{{ .path | trimPrefix "/api" | replace "/" "." }}', { path: '/api/v1/x' }), '.v1.x');
  t.is(run('{{ __line__ | len }} {{ __timestamp__ | unixEpochMillis }}'), '8 1700000000123');
  t.is(run('{{ .missing | default "none" }}'), 'none');
  t.is(run('{{ regexReplaceAll "(\\\\d+)" .s "<$1>" }}', { s: 'a12b3' }), 'a<12>b<3>');
  t.is(run('{{ __timestamp__ | date "2006-01-02T15:04:05.000Z07:00" }}'), '2023-11-14T22:13:20.123Z');
  t.is(run('{{/* a comment */}}{{ add 1 2 3 }} {{ divf 1 4 }}'), '6 0.25');
  for (const bad of ['{{ .a | nosuch }}', '{{ range .x }}{{ end }}', '{{ if .a }}open', '{{ .a ', '{{ $x := 1 }}']) {
    const err = t.throws(() => compileTemplate(bad));
    t.true(isTributaryError(err, 'E_QUERY_INVALID'), bad);
  }
});

test("patterns: Loki's matcher (a leading literal anchors, a missing literal ends the match) and the line filter", (t) => {
  const got = (expr: string, line: string) => {
    const out: Record<string, string> = {};
    matchPattern(compilePattern(expr), line, (k, v) => (out[k] = v));
    return out;
  };
  t.deepEqual(got('<ip> - - [<ts>] "<method> <path> <_>" <status> <_>', '10.0.0.1 - - [01/Jan/2024] "GET /a HTTP/1.1" 200 512'), {
    ip: '10.0.0.1',
    ts: '01/Jan/2024',
    method: 'GET',
    path: '/a',
    status: '200',
  });
  t.deepEqual(got('GET <path>', 'POST /x'), {}, 'a leading literal must start the line');
  t.deepEqual(got('<a> to <b> via <c>', 'x to y'), { a: 'x', b: 'y' }, 'the capture before a missing literal takes the rest');
  t.throws(() => compilePattern('<a><b>'));
  t.throws(() => compilePattern('no captures'));
  const filter = compilePattern('<_> error <_>', true);
  t.true(patternTest(filter, 'a error b'));
  t.false(patternTest(filter, 'a warning b'));
  t.is(patternOf('GET /item/1234 took 15ms status=200 user=alice'), 'GET <_> took <_> status=<_> user=alice');
});
