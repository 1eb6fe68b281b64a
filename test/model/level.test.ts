import test from 'ava';
import fc from 'fast-check';
import { isTributaryError } from '../../src/errors.js';
import { Level, levelFromPinoNumber, levelFromSyslogSeverity, levelName, parseLevel, tryParseLevel } from '../../src/model/level.js';

test('levels are ordered by severity', (t) => {
  t.true(Level.DEBUG < Level.INFO && Level.INFO < Level.WARN && Level.WARN < Level.ERROR);
  t.deepEqual(
    [0, 1, 2, 3].map((l) => levelName(l as Level)),
    ['DEBUG', 'INFO', 'WARN', 'ERROR'],
  );
});

test('common spellings, any case and surrounding space', (t) => {
  const cases: [string, Level][] = [
    ['warn', Level.WARN],
    ['WARNING', Level.WARN],
    ['  Warning ', Level.WARN],
    ['err', Level.ERROR],
    ['ERROR', Level.ERROR],
    ['fatal', Level.ERROR],
    ['critical', Level.ERROR],
    ['info', Level.INFO],
    ['notice', Level.INFO],
    ['debug', Level.DEBUG],
    ['trace', Level.DEBUG],
  ];
  for (const [text, level] of cases) t.is(parseLevel(text), level, text);
});

test('pino numeric levels 10-60', (t) => {
  t.deepEqual(
    [10, 20, 30, 40, 50, 60].map((n) => parseLevel(n)),
    [Level.DEBUG, Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR, Level.ERROR],
  );
  t.is(parseLevel('30'), Level.INFO);
  t.is(levelFromPinoNumber(35), Level.INFO);
});

test('syslog severities 0-7', (t) => {
  t.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7].map((n) => levelFromSyslogSeverity(n)),
    [Level.ERROR, Level.ERROR, Level.ERROR, Level.ERROR, Level.WARN, Level.INFO, Level.INFO, Level.DEBUG],
  );
  t.is(parseLevel(4), Level.WARN);
});

test('unknown levels raise E_LEVEL_UNKNOWN and tryParseLevel returns undefined', (t) => {
  for (const bad of ['', 'loud', 'warnx', '8', 9, -1, 101, 3.5, 'x'.repeat(100)]) {
    t.is(tryParseLevel(bad), undefined, String(bad));
    const err = t.throws(() => parseLevel(bad));
    t.true(isTributaryError(err, 'E_LEVEL_UNKNOWN'));
  }
});

test('parsing never throws anything but a TributaryError (property)', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.integer(), fc.double()), (v) => {
      try {
        const l = parseLevel(v);
        return l >= Level.DEBUG && l <= Level.ERROR;
      } catch (err) {
        return isTributaryError(err, 'E_LEVEL_UNKNOWN');
      }
    }),
  );
  t.pass();
});
