import { levelFromSyslogSeverity } from '../../model/level.js';
import type { ShardSink } from '../sink.js';
import { timestampNs } from '../timestamp.js';
import { UNKNOWN_REGION, UNKNOWN_SERVER, UNKNOWN_SERVICE } from './fields.js';

/**
 * Syslog over TCP frames messages one of two ways (RFC 6587): octet
 * counting, `<length> <message>`, which allows newlines inside a message,
 * and non-transparent framing, one message per line. Each frame says which
 * by its first byte (a digit, or `<`), so both can share a connection.
 */
export interface Frame {
  readonly start: number;
  readonly end: number;
}

export type FrameScan =
  | { readonly kind: 'frame'; readonly frame: Frame; readonly next: number }
  | { readonly kind: 'incomplete' }
  /** An octet count over the limit: the stream cannot be resynchronised, so the connection ends. */
  | { readonly kind: 'oversized'; readonly length: number };

const LF = 10;
const SP = 32;

/** The frame starting at `at` in `buf[..end]`. Newline frames over `maxFrame` are cut at `maxFrame` (the parser rejects them). */
export function scanFrame(buf: Uint8Array, at: number, end: number, maxFrame: number): FrameScan {
  // Octet counting: 1-9 digits, a space, then exactly that many bytes.
  let i = at;
  let length = 0;
  while (i < end && i - at < 10 && buf[i]! >= 48 && buf[i]! <= 57) length = length * 10 + (buf[i++]! - 48);
  if (i > at && i < end && buf[i] === SP && buf[at] !== 48) {
    if (length > maxFrame) return { kind: 'oversized', length };
    const start = i + 1;
    if (end - start < length) return { kind: 'incomplete' };
    return { kind: 'frame', frame: { start, end: start + length }, next: start + length };
  }
  if (i > at && i === end) return { kind: 'incomplete' }; // digits so far: the space may be coming
  // Non-transparent framing: up to the next LF.
  const lf = buf.indexOf(LF, at);
  if (lf < 0 || lf >= end) {
    if (end - at > maxFrame) return { kind: 'frame', frame: { start: at, end: at + maxFrame + 1 }, next: at + maxFrame + 1 };
    return { kind: 'incomplete' };
  }
  let stop = lf;
  if (stop > at && buf[stop - 1] === 13) stop--;
  return { kind: 'frame', frame: { start: at, end: stop }, next: lf + 1 };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RFC3164_TIME = /^([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? /;
const RFC3339_PREFIX = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) /;
const TAG = /^([\w./-]{1,48})(?:\[[^\]\s]{1,32}\])?:\s?/;
const DAY_MS = 86_400_000;

/**
 * An RFC 3164 time has no year and no zone: the sender's year is taken as
 * the receiver's (the previous year when that would put it more than a day
 * ahead, as in a log sent just after New Year), and the zone as UTC.
 */
function bsdTime(m: RegExpExecArray, nowMs: number): bigint | undefined {
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return undefined;
  const year = new Date(nowMs).getUTCFullYear();
  const parts = [Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5])] as const;
  let ms = Date.UTC(year, month, ...parts);
  if (ms > nowMs + DAY_MS) ms = Date.UTC(year - 1, month, ...parts);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[6] ?? '').padEnd(9, '0'));
}

const SD_PARAM = /\s+([^\s="\]]{1,32})="((?:[^"\\]|\\.)*)"/y;

/**
 * `[id name="value" ...][...]`: where the structured data ends, its pairs
 * (named `<id>_<name>`, sanitized as labels are: `[origin@32473 ip="..."]`
 * gives `origin_32473_ip`) and its `region` parameter if any.
 */
function structuredData(text: string, at: number): { end: number; region?: string; pairs: [string, string][] } | undefined {
  if (text[at] === '-') return { end: at + 1, pairs: [] };
  let i = at;
  let region: string | undefined;
  const pairs: [string, string][] = [];
  while (text[i] === '[') {
    const close = sdElementEnd(text, i);
    if (close < 0) return undefined;
    const element = text.slice(i + 1, close);
    const id = /^[^\s="\]]{1,32}/.exec(element);
    if (!id) return undefined;
    SD_PARAM.lastIndex = id[0].length;
    for (let m = SD_PARAM.exec(element); m; m = SD_PARAM.exec(element)) {
      const value = m[2]!.replace(/\\(["\\\]])/g, '$1');
      if (m[1] === 'region' && region === undefined) region = value;
      pairs.push([`${id[0]}_${m[1]!}`, value]);
    }
    i = close + 1;
  }
  return i === at ? undefined : { end: i, region, pairs };
}

function sdElementEnd(text: string, at: number): number {
  let quoted = false;
  for (let i = at + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ']' && !quoted) return i;
  }
  return -1;
}

const nil = (v: string | undefined): string | undefined => (v === undefined || v === '-' || v === '' ? undefined : v);

/**
 * One syslog message into the sink. RFC 5424 (`<PRI>1 TIMESTAMP HOST APP
 * PROCID MSGID SD MSG`) and RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`)
 * and the common variant of 3164 with an RFC 3339 time (rsyslog's
 * forwarding format). The level is the PRI's severity; service the
 * APP-NAME or TAG; server the HOSTNAME (else the peer's address); region a
 * `region` structured-data parameter.
 */
export function addSyslogMessage(sink: ShardSink, n: number, text: string, nowMs: number, peer?: string): void {
  // rsyslog and syslog-ng end an octet-counted frame with a newline too: it is framing, not message.
  if (text.endsWith('\n')) text = text.slice(0, text.endsWith('\r\n') ? -2 : -1);
  const pri = /^<(\d{1,3})>/.exec(text);
  if (!pri || Number(pri[1]) > 191) {
    sink.reject(n, 'malformed_syslog', `message ${n} does not start with <PRI> (0-191): ${JSON.stringify(text.slice(0, 40))}`);
    return;
  }
  const level = levelFromSyslogSeverity(Number(pri[1]) % 8);
  let rest = text.slice(pri[0].length);
  const server = (host: string | undefined) => nil(host) ?? peer ?? UNKNOWN_SERVER;

  if (rest.startsWith('1 ')) {
    // RFC 5424: five space-separated header fields, structured data, then the message.
    const head = /^1 (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(rest);
    const sd = head ? structuredData(rest, head[0].length) : undefined;
    if (!head || !sd) {
      sink.reject(n, 'malformed_syslog', `message ${n} is not RFC 5424: expected VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA`);
      return;
    }
    const ts = head[1] === '-' ? BigInt(nowMs) * 1_000_000n : timestampNs(head[1]);
    if (ts === undefined) {
      sink.reject(n, 'invalid_timestamp', `message ${n}: ${JSON.stringify(head[1]).slice(0, 40)} is not an RFC 3339 time`);
      return;
    }
    let msg = rest.slice(sd.end).replace(/^ /, '');
    if (msg.startsWith('\uFEFF')) msg = msg.slice(1); // the BOM RFC 5424 puts before a UTF-8 message
    // Structured data, the PROCID and the MSGID are the entry's metadata, not text glued onto its message.
    const pairs = sd.pairs;
    if (nil(head[4]) !== undefined) pairs.push(['proc_id', head[4]!]);
    if (nil(head[5]) !== undefined) pairs.push(['msg_id', head[5]!]);
    const meta = pairs.length > 0 ? sink.checkPairs('metadata', pairs) : '';
    if (typeof meta !== 'string') {
      sink.reject(n, meta.reason, `message ${n}: ${meta.message}`);
      return;
    }
    sink.add(n, ts, level, nil(head[3]) ?? UNKNOWN_SERVICE, server(head[2]), sd.region ?? UNKNOWN_REGION, msg, '', meta);
    return;
  }

  let ts: bigint | undefined;
  const bsd = RFC3164_TIME.exec(rest);
  const iso = bsd ? null : RFC3339_PREFIX.exec(rest);
  if (bsd) ts = bsdTime(bsd, nowMs);
  else if (iso) ts = timestampNs(iso[1]!);
  else ts = BigInt(nowMs) * 1_000_000n; // no header: a bare "<PRI>message", as some devices send
  if (ts === undefined) {
    sink.reject(n, 'invalid_timestamp', `message ${n}: ${JSON.stringify(rest.slice(0, 20))} is not a syslog time`);
    return;
  }
  let host: string | undefined;
  if (bsd || iso) {
    rest = rest.slice((bsd ?? iso)![0].length);
    const sp = rest.indexOf(' ');
    // A HOSTNAME is one word without a colon (a "tag:" right after the time means the host was left out).
    const word = sp < 0 ? rest : rest.slice(0, sp);
    if (!word.endsWith(':') && !word.includes('[')) {
      host = word;
      rest = sp < 0 ? '' : rest.slice(sp + 1);
    }
  }
  const tag = TAG.exec(rest);
  const service = tag ? tag[1]! : UNKNOWN_SERVICE;
  if (tag) rest = rest.slice(tag[0].length);
  sink.add(n, ts, level, service, server(host), UNKNOWN_REGION, rest);
}

/** A body of framed syslog messages (as the syslog listener hands them over, whole frames only). */
export function parseSyslog(sink: ShardSink, body: Uint8Array, peer?: string): void {
  const nowMs = Date.now();
  const maxFrame = sink.maxLineBytes + 2048;
  let at = 0;
  let n = 0;
  while (at < body.byteLength) {
    const scan = scanFrame(body, at, body.byteLength, maxFrame);
    if (scan.kind !== 'frame') {
      // The listener sends whole frames; a partial one at the end is a truncated body.
      sink.reject(
        ++n,
        'malformed_syslog',
        scan.kind === 'oversized' ? `frame of ${scan.length} bytes is over the limit` : 'truncated frame at the end of the body',
      );
      return;
    }
    at = scan.next;
    const { start, end } = scan.frame;
    if (end === start) continue; // an empty line between frames
    n++;
    if (end - start > maxFrame) {
      sink.reject(n, 'line_too_long', `message ${n} is over ${maxFrame} bytes`);
      continue;
    }
    addSyslogMessage(sink, n, Buffer.from(body.buffer, body.byteOffset + start, end - start).toString('utf8'), nowMs, peer);
  }
}
