import { TributaryError } from '../errors.js';

/**
 * Severity levels, ordered so that `a >= b` compares severity. The numeric
 * values are the on-wire values of the batch level column (one byte).
 */
export const Level = {
  DEBUG: 0,
  INFO: 1,
  WARN: 2,
  ERROR: 3,
} as const;
export type Level = (typeof Level)[keyof typeof Level];

export const LEVEL_NAMES: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
export const MAX_LEVEL: Level = Level.ERROR;

export function levelName(level: Level): string {
  return LEVEL_NAMES[level]!;
}

// Spellings seen from real shippers: syslog keywords (RFC 5424 table 2 and
// their short forms), pino/bunyan names, log4j/python names, OTLP severity text.
const SPELLINGS: ReadonlyMap<string, Level> = new Map<string, Level>([
  ['trace', Level.DEBUG],
  ['debug', Level.DEBUG],
  ['dbg', Level.DEBUG],
  ['verbose', Level.DEBUG],
  ['fine', Level.DEBUG],
  ['finer', Level.DEBUG],
  ['finest', Level.DEBUG],
  ['info', Level.INFO],
  ['inf', Level.INFO],
  ['information', Level.INFO],
  ['informational', Level.INFO],
  ['notice', Level.INFO],
  ['log', Level.INFO],
  ['warn', Level.WARN],
  ['warning', Level.WARN],
  ['wrn', Level.WARN],
  ['err', Level.ERROR],
  ['error', Level.ERROR],
  ['eror', Level.ERROR],
  ['fatal', Level.ERROR],
  ['severe', Level.ERROR],
  ['crit', Level.ERROR],
  ['critical', Level.ERROR],
  ['alert', Level.ERROR],
  ['emerg', Level.ERROR],
  ['emergency', Level.ERROR],
  ['panic', Level.ERROR],
]);

/** Syslog severity 0 (emergency) .. 7 (debug), RFC 5424 section 6.2.1. */
export function levelFromSyslogSeverity(severity: number): Level {
  if (!Number.isInteger(severity) || severity < 0 || severity > 7) {
    throw new TributaryError('E_LEVEL_UNKNOWN', `syslog severity must be an integer 0-7, got ${severity}`, { severity });
  }
  if (severity <= 3) return Level.ERROR;
  if (severity === 4) return Level.WARN;
  if (severity <= 6) return Level.INFO;
  return Level.DEBUG;
}

/** pino's numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal (custom levels fall between). */
export function levelFromPinoNumber(value: number): Level {
  if (!Number.isFinite(value) || value < 10 || value > 100) {
    throw new TributaryError('E_LEVEL_UNKNOWN', `pino level must be a number 10-100, got ${value}`, { value });
  }
  if (value < 30) return Level.DEBUG;
  if (value < 40) return Level.INFO;
  if (value < 50) return Level.WARN;
  return Level.ERROR;
}

/**
 * Parses a level from any common spelling. Numbers 0-7 are syslog severities
 * and 10-100 are pino levels: the two ranges do not overlap, so a bare number
 * is never ambiguous. Returns undefined for an unknown spelling; see
 * {@link parseLevel} for the throwing form.
 */
export function tryParseLevel(value: string | number): Level | undefined {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 7) return levelFromSyslogSeverity(value);
    if (Number.isFinite(value) && value >= 10 && value <= 100) return levelFromPinoNumber(value);
    return undefined;
  }
  const exact = SPELLINGS.get(value);
  if (exact !== undefined) return exact;
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > 16) return undefined;
  const lower = trimmed.toLowerCase();
  const named = SPELLINGS.get(lower);
  if (named !== undefined) return named;
  if (/^\d{1,3}$/.test(lower)) return tryParseLevel(Number(lower));
  return undefined;
}

export function parseLevel(value: string | number): Level {
  const level = tryParseLevel(value);
  if (level === undefined) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value);
    throw new TributaryError('E_LEVEL_UNKNOWN', `unknown level ${shown}`, { value: String(value).slice(0, 40) });
  }
  return level;
}
