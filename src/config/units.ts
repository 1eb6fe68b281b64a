import { z } from 'zod';

/**
 * Sizes and durations as people write them in a configuration file
 * ("512MiB", "7d", "250ms"), or as plain numbers (bytes, milliseconds).
 */

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/** "512MiB" -> 536870912; a plain number is bytes. Undefined when the text is not a size. */
export function parseBytes(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (!m) return undefined;
  const unit = BYTE_UNITS[(m[2] || 'b').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/** "1h30m" -> 5400000, "250ms" -> 250; a plain number is milliseconds. Undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = DURATION_PART.exec(s); m; m = DURATION_PART.exec(s)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = DURATION_PART.lastIndex;
  }
  return end === s.length && end > 0 ? Math.round(total) : undefined;
}

/** The shortest exact way to write `bytes` back ("512MiB"), for `config print`. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** The shortest exact way to write `ms` back ("7d", "1500ms"). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86400e3],
    ['h', 3600e3],
    ['m', 60e3],
    ['s', 1e3],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A size: a non-negative number of bytes or "64MiB", "1.5GB", "512KiB". */
export const bytes = () =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : parseBytes(v);
    if (n === undefined || !Number.isFinite(n) || n < 0 || !Number.isInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 512MiB, 64KiB, 1GB or a whole number of bytes, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });

/** A duration: a non-negative number of milliseconds or "250ms", "30s", "1h30m", "7d". */
export const duration = () =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : parseDuration(v);
    if (n === undefined || !Number.isFinite(n) || n < 0) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 250ms, 30s, 1h30m, 7d or a number of milliseconds, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });
