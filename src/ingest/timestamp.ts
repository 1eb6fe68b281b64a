/**
 * Timestamps as shippers send them, to nanoseconds since the epoch, or
 * undefined when the value is not a time. Numbers are read by magnitude, as
 * Vector and Fluent Bit do: up to 1e11 seconds, up to 1e14 milliseconds
 * (pino's `time`), up to 1e17 microseconds, beyond that nanoseconds. Digit
 * strings follow the same rule exactly (BigInt: no precision lost), and
 * RFC 3339 strings keep up to nine fraction digits.
 */
export function timestampNs(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') {
    if (value < 0n) return undefined;
    if (value < 100_000_000_000n) return value * 1_000_000_000n;
    if (value < 100_000_000_000_000n) return value * 1_000_000n;
    if (value < 100_000_000_000_000_000n) return value * 1_000n;
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    if (value < 1e11) return BigInt(Math.round(value * 1e6)) * 1000n;
    if (value < 1e14) return BigInt(Math.round(value * 1000)) * 1000n;
    if (value < 1e17) return BigInt(Math.round(value)) * 1000n;
    return BigInt(Math.round(value));
  }
  if (typeof value !== 'string') return undefined;
  if (/^\d{1,19}$/.test(value)) {
    const n = BigInt(value);
    if (n < 100_000_000_000n) return n * 1_000_000_000n;
    if (n < 100_000_000_000_000n) return n * 1_000_000n;
    if (n < 100_000_000_000_000_000n) return n * 1_000n;
    return n;
  }
  const secs = /^(\d{1,11})\.(\d{1,9})$/.exec(value);
  if (secs) return BigInt(secs[1]!) * 1_000_000_000n + BigInt(secs[2]!.padEnd(9, '0'));
  const iso = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (iso) {
    const zone = iso[3] === undefined ? 'Z' : iso[3] === 'z' ? 'Z' : iso[3].length === 5 ? `${iso[3].slice(0, 3)}:${iso[3].slice(3)}` : iso[3];
    const ms = Date.parse(`${iso[1]!.replace(' ', 'T')}${zone}`);
    if (Number.isNaN(ms)) return undefined;
    return BigInt(ms) * 1_000_000n + BigInt((iso[2] ?? '').padEnd(9, '0'));
  }
  return undefined;
}
