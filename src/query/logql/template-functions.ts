import { TributaryError } from '../../errors.js';
import { decodeSeconds } from './tokens.js';

/**
 * The functions Loki's templates offer (Go's strings package names and
 * sprig's), with Go's argument order: in a pipeline the piped value is the
 * last argument, so `{{ .name | replace "a" "b" }}` is replace("a", "b", name).
 */

/** A time, as __timestamp__, now, toDate and unixToTime give it. */
export class TimeValue {
  constructor(readonly ns: bigint) {}
  toString(): string {
    return formatGoTime(this.ns, '2006-01-02 15:04:05.999999999 -0700 MST');
  }
}

export type Value = string | number | boolean | null | TimeValue;

interface Context {
  readonly line: string;
  readonly ts: bigint;
}

type Fn = (args: Value[], ctx: Context) => Value;

function str(v: Value | undefined): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? v.toString() : String(v);
}

function num(v: Value | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const n = Number(str(v));
  return Number.isFinite(n) ? n : 0;
}

/** sprig's int: a string or number truncated toward zero (0 when not a number). */
const int = (v: Value | undefined): number => Math.trunc(num(v));

function time(v: Value | undefined): TimeValue {
  if (v instanceof TimeValue) return v;
  return new TimeValue(BigInt(Math.trunc(num(v))) * 1_000_000_000n);
}

function cutset(set: string): (c: string) => boolean {
  return (c) => set.includes(c);
}

function trimWith(s: string, set: string, left: boolean, right: boolean): string {
  const inSet = cutset(set);
  let a = 0;
  let b = s.length;
  if (left) while (a < b && inSet(s[a]!)) a++;
  if (right) while (b > a && inSet(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function regex(pattern: Value, where: string): RegExp {
  try {
    return new RegExp(str(pattern).replace(/\(\?P</g, '(?<'), 'g');
  } catch (err) {
    throw new TributaryError('E_QUERY_INVALID', `${where}: bad regular expression ${JSON.stringify(str(pattern))}: ${(err as Error).message}`, {
      field: 'query',
    });
  }
}

/** Go's replacement syntax ($1, ${1}, ${name}) in JavaScript's ($1, $<name>). */
const goReplacement = (r: string) => r.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n: string) => (/^\d+$/.test(n) ? `$${n}` : `$<${n}>`));

function compare(args: Value[], test: (c: number) => boolean): boolean {
  const [a, b] = args;
  if (typeof a === 'number' || typeof b === 'number') return test(num(a) - num(b));
  const x = str(a);
  const y = str(b);
  return test(x < y ? -1 : x > y ? 1 : 0);
}

/** Go's printf verbs: %s %d %f (with precision) %v %q %x %%, enough for formatting a line. */
function printf(format: string, args: Value[]): string {
  let k = 0;
  return format.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([sdfgvqxXte%])/g, (m, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    const a = args[k++];
    let s: string;
    switch (verb) {
      case 'd':
        s = String(int(a));
        break;
      case 'f':
        s = num(a).toFixed(prec === undefined ? 6 : Number(prec));
        break;
      case 'e':
        s = num(a).toExponential(prec === undefined ? 6 : Number(prec));
        break;
      case 'g':
        s = String(num(a));
        break;
      case 'q':
        s = JSON.stringify(str(a));
        break;
      case 'x':
      case 'X':
        s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(str(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 't':
        s = String(a === true);
        break;
      default:
        s = str(a);
        if (prec !== undefined) s = s.slice(0, Number(prec));
    }
    if (width !== undefined && s.length < Number(width))
      s = flags.includes('-') ? s.padEnd(Number(width)) : s.padStart(Number(width), flags.includes('0') ? '0' : ' ');
    return m === '' ? '' : s;
  });
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Go's reference-time layouts (2006-01-02T15:04:05Z07:00 and its parts), in UTC. */
function formatGoTime(ns: bigint, layout: string): string {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const frac = (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  const p2 = (n: number) => String(n).padStart(2, '0');
  const tokens: [string, () => string][] = [
    ['2006', () => String(d.getUTCFullYear())],
    ['January', () => MONTHS[d.getUTCMonth()]!],
    ['Jan', () => MONTHS[d.getUTCMonth()]!.slice(0, 3)],
    ['Monday', () => DAYS[d.getUTCDay()]!],
    ['Mon', () => DAYS[d.getUTCDay()]!.slice(0, 3)],
    ['MST', () => 'UTC'],
    ['Z07:00', () => 'Z'],
    ['-07:00', () => '+00:00'],
    ['-0700', () => '+0000'],
    ['01', () => p2(d.getUTCMonth() + 1)],
    ['02', () => p2(d.getUTCDate())],
    ['06', () => p2(d.getUTCFullYear() % 100)],
    ['15', () => p2(d.getUTCHours())],
    ['03', () => p2(d.getUTCHours() % 12 || 12)],
    ['04', () => p2(d.getUTCMinutes())],
    ['05', () => p2(d.getUTCSeconds())],
    ['PM', () => (d.getUTCHours() < 12 ? 'AM' : 'PM')],
    ['.000000000', () => `.${frac}`],
    ['.000000', () => `.${frac.slice(0, 6)}`],
    ['.000', () => `.${frac.slice(0, 3)}`],
    ['.999999999', () => (/[1-9]/.test(frac) ? `.${frac.replace(/0+$/, '')}` : '')],
    ['.999999', () => (/[1-9]/.test(frac.slice(0, 6)) ? `.${frac.slice(0, 6).replace(/0+$/, '')}` : '')],
    ['.999', () => (/[1-9]/.test(frac.slice(0, 3)) ? `.${frac.slice(0, 3).replace(/0+$/, '')}` : '')],
  ];
  let out = '';
  let i = 0;
  outer: while (i < layout.length) {
    for (const [t, f] of tokens) {
      if (layout.startsWith(t, i)) {
        out += f();
        i += t.length;
        continue outer;
      }
    }
    out += layout[i++];
  }
  return out;
}

const FUNCTIONS: Record<string, Fn> = {
  __line__: (_a, ctx) => ctx.line,
  __timestamp__: (_a, ctx) => new TimeValue(ctx.ts),
  now: () => new TimeValue(BigInt(Date.now()) * 1_000_000n),
  ToLower: (a) => str(a[0]).toLowerCase(),
  ToUpper: (a) => str(a[0]).toUpperCase(),
  lower: (a) => str(a[0]).toLowerCase(),
  upper: (a) => str(a[0]).toUpperCase(),
  title: (a) => str(a[0]).replace(/\b\w/g, (c) => c.toUpperCase()),
  Title: (a) => str(a[0]).replace(/\b\w/g, (c) => c.toUpperCase()),
  Replace: (a) => {
    const [s, from, to, n] = [str(a[0]), str(a[1]), str(a[2]), int(a[3])];
    if (n < 0) return s.split(from).join(to);
    let out = s;
    let at = 0;
    for (let k = 0; k < n; k++) {
      const i = out.indexOf(from, at);
      if (i < 0) break;
      out = out.slice(0, i) + to + out.slice(i + from.length);
      at = i + to.length;
    }
    return out;
  },
  replace: (a) => str(a[2]).split(str(a[0])).join(str(a[1])),
  Trim: (a) => trimWith(str(a[0]), str(a[1]), true, true),
  TrimLeft: (a) => trimWith(str(a[0]), str(a[1]), true, false),
  TrimRight: (a) => trimWith(str(a[0]), str(a[1]), false, true),
  TrimSpace: (a) => str(a[0]).trim(),
  TrimPrefix: (a) => (str(a[0]).startsWith(str(a[1])) ? str(a[0]).slice(str(a[1]).length) : str(a[0])),
  TrimSuffix: (a) => (str(a[1]) !== '' && str(a[0]).endsWith(str(a[1])) ? str(a[0]).slice(0, -str(a[1]).length) : str(a[0])),
  trim: (a) => str(a[0]).trim(),
  trimAll: (a) => trimWith(str(a[1]), str(a[0]), true, true),
  trimPrefix: (a) => (str(a[1]).startsWith(str(a[0])) ? str(a[1]).slice(str(a[0]).length) : str(a[1])),
  trimSuffix: (a) => (str(a[0]) !== '' && str(a[1]).endsWith(str(a[0])) ? str(a[1]).slice(0, -str(a[0]).length) : str(a[1])),
  trunc: (a) => {
    const n = int(a[0]);
    const s = str(a[1]);
    return n >= 0 ? s.slice(0, n) : s.slice(Math.max(0, s.length + n));
  },
  substr: (a) => {
    const s = str(a[2]);
    const start = int(a[0]);
    const end = int(a[1]);
    if (start < 0) return s.slice(0, end < 0 ? s.length : end);
    return end < 0 || end > s.length ? s.slice(start) : start > end ? '' : s.slice(start, end);
  },
  contains: (a) => str(a[1]).includes(str(a[0])),
  hasPrefix: (a) => str(a[1]).startsWith(str(a[0])),
  hasSuffix: (a) => str(a[1]).endsWith(str(a[0])),
  indent: (a) => str(a[1]).replace(/^/gm, ' '.repeat(Math.max(0, int(a[0])))),
  nindent: (a) => `\n${str(a[1]).replace(/^/gm, ' '.repeat(Math.max(0, int(a[0]))))}`,
  repeat: (a) => str(a[1]).repeat(Math.max(0, Math.min(10_000, int(a[0])))),
  regexReplaceAll: (a) => str(a[1]).replace(regex(a[0], 'regexReplaceAll'), goReplacement(str(a[2]))),
  regexReplaceAllLiteral: (a) => str(a[1]).replace(regex(a[0], 'regexReplaceAllLiteral'), () => str(a[2])),
  urlencode: (a) => encodeURIComponent(str(a[0])),
  urldecode: (a) => {
    try {
      return decodeURIComponent(str(a[0]));
    } catch {
      return '';
    }
  },
  b64enc: (a) => Buffer.from(str(a[0])).toString('base64'),
  b64dec: (a) => Buffer.from(str(a[0]), 'base64').toString('utf8'),
  default: (a) => (a.length < 2 || a[1] === '' || a[1] === null || a[1] === 0 || a[1] === false ? a[0]! : a[1]!),
  count: (a) => (str(a[0]) === '' ? 0 : str(a[1]).split(str(a[0])).length - 1),
  len: (a) => str(a[0]).length,
  int: (a) => int(a[0]),
  float64: (a) => num(a[0]),
  add: (a) => a.reduce<number>((s, v) => s + int(v), 0),
  sub: (a) => int(a[0]) - int(a[1]),
  mul: (a) => a.reduce<number>((s, v) => s * int(v), 1),
  div: (a) => (int(a[1]) === 0 ? 0 : Math.trunc(int(a[0]) / int(a[1]))),
  mod: (a) => (int(a[1]) === 0 ? 0 : int(a[0]) % int(a[1])),
  addf: (a) => a.reduce<number>((s, v) => s + num(v), 0),
  subf: (a) => a.slice(1).reduce<number>((s, v) => s - num(v), num(a[0])),
  mulf: (a) => a.reduce<number>((s, v) => s * num(v), 1),
  divf: (a) => a.slice(1).reduce<number>((s, v) => s / num(v), num(a[0])),
  max: (a) => Math.max(...a.map(int)),
  min: (a) => Math.min(...a.map(int)),
  maxf: (a) => Math.max(...a.map(num)),
  minf: (a) => Math.min(...a.map(num)),
  ceil: (a) => Math.ceil(num(a[0])),
  floor: (a) => Math.floor(num(a[0])),
  round: (a) => {
    const p = 10 ** int(a[1]);
    return Math.round(num(a[0]) * p) / p;
  },
  unixEpoch: (a) => Number(time(a[0]).ns / 1_000_000_000n),
  unixEpochMillis: (a) => Number(time(a[0]).ns / 1_000_000n),
  unixEpochNanos: (a) => Number(time(a[0]).ns),
  unixToTime: (a) => {
    const s = str(a[0]);
    const digits = s.length;
    const n = BigInt(/^-?\d+$/.test(s) ? s : '0');
    // Seconds, milliseconds, microseconds or nanoseconds, told apart by length, as Loki does.
    return new TimeValue(digits <= 10 ? n * 1_000_000_000n : digits <= 13 ? n * 1_000_000n : digits <= 16 ? n * 1000n : n);
  },
  toDate: (a) => {
    const ms = Date.parse(str(a[1]));
    return Number.isFinite(ms) ? new TimeValue(BigInt(ms) * 1_000_000n) : new TimeValue(0n);
  },
  date: (a) => formatGoTime(time(a[1]).ns, str(a[0])),
  duration: (a) => {
    const s = decodeSeconds(str(a[0]));
    return s === null ? 0 : s;
  },
  alignLeft: (a) => {
    const n = int(a[0]);
    const s = str(a[1]);
    return s.length >= n ? s.slice(0, n) : s.padEnd(n);
  },
  alignRight: (a) => {
    const n = int(a[0]);
    const s = str(a[1]);
    return s.length >= n ? s.slice(s.length - n) : s.padStart(n);
  },
  printf: (a) => printf(str(a[0]), a.slice(1)),
  eq: (a) => a.slice(1).some((b) => compare([a[0]!, b], (c) => c === 0)),
  ne: (a) => compare(a, (c) => c !== 0),
  lt: (a) => compare(a, (c) => c < 0),
  le: (a) => compare(a, (c) => c <= 0),
  gt: (a) => compare(a, (c) => c > 0),
  ge: (a) => compare(a, (c) => c >= 0),
  and: (a) => a.find((v) => v === false || v === 0 || v === '' || v === null) ?? a.at(-1) ?? null,
  or: (a) => a.find((v) => !(v === false || v === 0 || v === '' || v === null)) ?? a.at(-1) ?? null,
  not: (a) => a[0] === false || a[0] === 0 || a[0] === '' || a[0] === null,
};

export function isTemplateFunction(name: string): boolean {
  return Object.hasOwn(FUNCTIONS, name);
}

export function callTemplateFunction(name: string, args: Value[], ctx: Context): Value {
  return FUNCTIONS[name]!(args, ctx);
}
