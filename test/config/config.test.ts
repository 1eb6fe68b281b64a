import test from 'ava';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { envOverrides, loadConfig, printConfig, resolveConfig } from '../../src/config/load.js';
import { daemonOptions } from '../../src/config/daemon-options.js';
import { formatBytes, formatDuration, parseBytes, parseDuration } from '../../src/config/units.js';
import { isTributaryError } from '../../src/errors.js';
import { tempDir } from '../helpers/system.js';

const rejection = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (isTributaryError(err, 'E_CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('accepted');
};

test('sizes and durations read as people write them, and print back to the same value', (t) => {
  t.is(parseBytes('512MiB'), 512 * 2 ** 20);
  t.is(parseBytes('1.5GB'), 1.5e9);
  t.is(parseBytes('64 kib'), 65536);
  t.is(parseBytes('12 bananas'), undefined);
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('250ms'), 250);
  t.is(parseDuration('7d'), 7 * 86_400_000);
  t.is(parseDuration('1h 30m'), undefined);
  t.is(parseDuration('soon'), undefined);
  fc.assert(fc.property(fc.nat({ max: 2 ** 45 }), (n) => parseBytes(formatBytes(n)) === n));
  fc.assert(fc.property(fc.nat({ max: 2 ** 40 }), (n) => parseDuration(formatDuration(n)) === n));
});

test('no file: every key has its documented default', (t) => {
  const c = resolveConfig(loadConfig(), 2);
  t.is(c.dataDir, './data');
  t.deepEqual([c.http.host, c.http.port, c.grpc.port, c.syslog.port], ['127.0.0.1', 3100, 9095, 1514]);
  t.deepEqual([c.workers, c.shards, c.replicas, c.anomaly.detectors], [2, 2, 1, 2]);
  t.deepEqual([c.anomaly.window, c.anomaly.threshold], [1000, 10]);
  t.is(c.memory, 512 * 2 ** 20);
  t.deepEqual(resolveConfig(loadConfig(), 1).replicas, 0);
});

test('a file is validated: every unknown key and bad value is named with its path and the reason', (t) => {
  const file = join(tempDir(t), 'tributary.yaml');
  writeFileSync(file, 'http:\n  prot: 3100\n  port: 70000\nanomaly:\n  window: 0\n  webhooks:\n    - url: ftp://x\nmemory: 12 bananas\nretention: 7d\n');
  const message = rejection(() => loadConfig({ file }));
  for (const key of [
    'http.prot: unknown key',
    'http.port:',
    'anomaly.window:',
    'anomaly.webhooks.0.url:',
    'memory: expected a size',
    'retention: unknown key',
  ]) {
    t.true(message.includes(`  ${key}`), `${key} in ${message}`);
  }
  t.true(message.includes(file));
});

test('a file that is not YAML, or not a mapping, or missing, is refused with its name', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.yaml'), 'http: [unclosed\n');
  writeFileSync(join(dir, 'list.json'), '[1, 2]');
  t.regex(
    rejection(() => loadConfig({ file: join(dir, 'bad.yaml') })),
    /bad\.yaml is not valid YAML/,
  );
  t.regex(
    rejection(() => loadConfig({ file: join(dir, 'list.json') })),
    /expected a mapping of keys at the top, got a list/,
  );
  t.regex(
    rejection(() => loadConfig({ file: join(dir, 'none.yaml') })),
    /none\.yaml cannot be read/,
  );
});

test('the environment overrides the file and flags override both; a bad override names where it came from', (t) => {
  const file = join(tempDir(t), 'c.json');
  writeFileSync(file, JSON.stringify({ http: { port: 4000 }, anomaly: { window: 200 }, dataDir: '/from/file' }));
  const env = {
    TRIBUTARY_HTTP__PORT: '4100',
    TRIBUTARY_DATA_DIR: '/from/env',
    TRIBUTARY_ANOMALY__DETECT_ON: 'commit',
    TRIBUTARY_CONFIG: 'ignored',
    PATH: '/bin',
  };
  const c = loadConfig({ file, env, overrides: [{ path: 'http.port', value: '4200', origin: '--http-port' }] });
  t.is(c.http.port, 4200);
  t.is(c.dataDir, '/from/env');
  t.is(c.anomaly.detectOn, 'commit');
  t.is(c.anomaly.window, 200);
  t.deepEqual(
    envOverrides(env).map((o) => o.path),
    ['anomaly.detectOn', 'dataDir', 'http.port'],
  );
  t.regex(
    rejection(() => loadConfig({ env: { TRIBUTARY_HTTP__PORT: 'abc' } })),
    /http\.port: .*\(env TRIBUTARY_HTTP__PORT\)/,
  );
  t.regex(
    rejection(() => loadConfig({ env: { TRIBUTARY_HTTP__PROT: '1' } })),
    /http\.prot: unknown key \(env TRIBUTARY_HTTP__PROT\)/,
  );
  t.regex(
    rejection(() => loadConfig({ overrides: [{ path: 'anomaly.threshold', value: '-1', origin: '--set anomaly.threshold' }] })),
    /--set anomaly\.threshold/,
  );
});

test('config print is the effective configuration in units, secrets hidden, and reads back to the same configuration', (t) => {
  const c = loadConfig({
    overrides: [
      { path: 'auth.tokens', value: '[secret-token-0123456789]', origin: 'flag' },
      { path: 'storage.retention.maxAge', value: '7d', origin: 'flag' },
      { path: 'anomaly.webhooks', value: '[{url: "http://hooks.example/x", headers: {authorization: "Bearer abc"}}]', origin: 'flag' },
    ],
  });
  const text = printConfig(resolveConfig(c, 2));
  t.false(text.includes('secret-token'));
  t.false(text.includes('Bearer abc'));
  t.regex(text, /maxAge: 7d/);
  t.regex(text, /memory: 512MiB/);
  const back = parseYaml(text) as Record<string, any>;
  back.auth.tokens = c.auth.tokens;
  back.anomaly.webhooks[0].headers = c.anomaly.webhooks[0]!.headers;
  const file = join(tempDir(t), 'printed.yaml');
  writeFileSync(file, JSON.stringify(back));
  t.deepEqual(resolveConfig(loadConfig({ file }), 2), resolveConfig(c, 2));
});

test('daemon options come from the configuration; a tokens file is read, and a missing one refused', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'tokens'), '# operators\nfirst-token-0123456789\n\nsecond-token-0123456789\n');
  const c = resolveConfig(
    loadConfig({
      overrides: [
        { path: 'auth.tokensFile', value: join(dir, 'tokens'), origin: 'flag' },
        { path: 'syslog.enabled', value: 'false', origin: 'flag' },
        { path: 'storage.retention.maxAge', value: '2d', origin: 'flag' },
        { path: 'anomaly.services', value: '{checkout: {window: 100, threshold: 3}}', origin: 'flag' },
      ],
    }),
    2,
  );
  const o = daemonOptions(c);
  t.deepEqual(o.auth?.tokens, ['first-token-0123456789', 'second-token-0123456789']);
  t.is(o.syslog, false);
  t.deepEqual(o.shard?.retention, { maxAgeMs: 2 * 86_400_000 });
  t.deepEqual(o.anomaly && o.anomaly.services?.checkout, { size: 100, threshold: 3, hysteresis: 0 });
  const missing = resolveConfig(loadConfig({ overrides: [{ path: 'auth.tokensFile', value: join(dir, 'nope'), origin: 'flag' }] }), 2);
  t.regex(
    rejection(() => daemonOptions(missing)),
    /auth\.tokensFile .*nope cannot be read/,
  );
  t.regex(
    rejection(() => loadConfig({ overrides: [{ path: 'auth.tokens', value: '[short]', origin: 'flag' }] })),
    /auth\.tokens\.0: a token needs at least 16 characters/,
  );
});
