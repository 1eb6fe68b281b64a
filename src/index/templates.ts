/**
 * Messages as templates plus variables (CLP's idea, OSDI 2021): the constant
 * text of a line goes once into its block's template list, and each row
 * keeps a template id and its variables. Deflate then sees the variables
 * side by side instead of re-matching the same constant text in every line
 * (measured on the bench fleet: 18.8 -> 9.5 B/entry for the messages).
 *
 * A message is cut into tokens at delimiters (DELIMITERS). A token without a
 * digit is constant text. A hex-like token (8+ of [0-9a-f-], a letter and a
 * digit among them, optionally 0x: hashes, uuids, request ids) is one
 * variable, so random ids do not become templates of their own. In any
 * other token, each run of decimal digits (with a minus sign before it, not
 * after a digit) is a variable and the rest stays in the template. So a
 * template's constant text holds no digit, nor a '-' before where one was.
 *
 * In a template, VAR_DIGITS and VAR_TOKEN stand for a variable. Variables are
 * stored as their text, each followed by a space (no variable holds one):
 * random decimal digits cost deflate about 3.4 bits each as text, less than
 * as binary integers (measured: 13.5 vs 13.1 B/entry). Id RAW (0) is a
 * message kept whole: one holding a placeholder byte, or a long one, or a
 * new shape once a block has MAX_TEMPLATES or MAX_TEMPLATE_LIST_BYTES.
 */

export const VAR_DIGITS = 0x11;
export const VAR_TOKEN = 0x12;
export const VAR_END = 0x20;
export const RAW = 0;
/** Templates per block; later new shapes are stored raw. */
export const MAX_TEMPLATES = 65_535;
/** Messages longer than this are stored raw. */
export const MAX_TEMPLATED_BYTES = 16 * 1024;
/** Bytes of templates per block (they are held in memory to read it); later new shapes are stored raw. */
export const MAX_TEMPLATE_LIST_BYTES = 4 * 1024 * 1024;

// Space, tab, CR, LF and , ; : = ( ) [ ] { } " ' < > |
const DELIMITER = new Uint8Array(256);
for (const c of ' \t\r\n,;:=()[]{}"\'<>|') DELIMITER[c.charCodeAt(0)] = 1;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHexLetter = (c: number) => (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** A growable byte buffer. */
export class ByteSink {
  bytes = new Uint8Array(1 << 16);
  length = 0;

  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  push(src: Uint8Array, from: number, to: number): void {
    this.reserve(to - from);
    this.bytes.set(src.subarray(from, to), this.length);
    this.length += to - from;
  }

  byte(b: number): void {
    this.reserve(1);
    this.bytes[this.length++] = b;
  }
}

/** Builds one block's template list while its messages are cut (seal side). */
export class TemplateWriter {
  private readonly ids = new Map<string, number>();
  readonly list: Uint8Array[] = [];
  private listBytes = 0;
  private tpl = new Uint8Array(256);

  /** Appends the variables of `msg` to `vars` and returns its template id (RAW: nothing appended, keep it whole). */
  add(msg: Uint8Array, vars: ByteSink): number {
    const n = msg.length;
    if (n > MAX_TEMPLATED_BYTES) return RAW;
    if (this.tpl.length < n) this.tpl = new Uint8Array(Math.max(n, this.tpl.length * 2));
    const tpl = this.tpl;
    const mark = vars.length;
    let t = 0;
    let i = 0;
    while (i < n) {
      const c = msg[i]!;
      if (DELIMITER[c] === 1) {
        tpl[t++] = c;
        i++;
        continue;
      }
      const s = i;
      let digit = false;
      let letter = false;
      let hex = true;
      const body = n - s > 2 && c === 0x30 && (msg[s + 1] === 0x78 || msg[s + 1] === 0x58) ? s + 2 : s; // 0x
      for (; i < n && DELIMITER[msg[i]!] !== 1; i++) {
        const d = msg[i]!;
        if (d === VAR_DIGITS || d === VAR_TOKEN) {
          vars.length = mark;
          return RAW;
        }
        if (isDigit(d)) digit = true;
        else if (isHexLetter(d)) letter = true;
        else if (d !== 0x2d && i >= body) hex = false; // '-' and the 0x prefix aside
      }
      if (!digit) {
        tpl.set(msg.subarray(s, i), t);
        t += i - s;
      } else if (hex && letter && i - body >= 8) {
        tpl[t++] = VAR_TOKEN;
        vars.push(msg, s, i);
        vars.byte(VAR_END);
      } else {
        for (let k = s; k < i;) {
          // A minus sign not after a digit belongs to the number (blk_-160 and blk_751 share a template; 2024-01 does not move).
          const sign = msg[k] === 0x2d && k + 1 < i && isDigit(msg[k + 1]!) && (k === s || !isDigit(msg[k - 1]!));
          if (!sign && !isDigit(msg[k]!)) {
            tpl[t++] = msg[k++]!;
            continue;
          }
          const d0 = k;
          if (sign) k++;
          while (k < i && isDigit(msg[k]!)) k++;
          tpl[t++] = VAR_DIGITS;
          vars.push(msg, d0, k);
          vars.byte(VAR_END);
        }
      }
    }
    const key = latin1(tpl, t);
    let id = this.ids.get(key);
    if (id === undefined) {
      if (this.list.length >= MAX_TEMPLATES || this.listBytes + t > MAX_TEMPLATE_LIST_BYTES) {
        vars.length = mark;
        return RAW;
      }
      this.list.push(tpl.slice(0, t));
      this.listBytes += t;
      id = this.list.length;
      this.ids.set(key, id);
    }
    return id;
  }
}

function latin1(b: Uint8Array, n: number): string {
  return Buffer.from(b.buffer, b.byteOffset, n).toString('latin1');
}

/** The template list as stored (before deflate): u32 count, u32 x count lengths, the templates. */
export function encodeTemplateList(list: readonly Uint8Array[]): Uint8Array {
  let size = 4 + 4 * list.length;
  for (const t of list) size += t.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, list.length, true);
  let at = 4 + 4 * list.length;
  list.forEach((t, k) => {
    v.setUint32(4 + 4 * k, t.length, true);
    out.set(t, at);
    at += t.length;
  });
  return out;
}

/**
 * A block's templates (read side): renders rows, and says per template
 * whether a message of it can contain a needle, without rendering any.
 * Kept lean (one buffer, offsets; a template's text pieces made when it is
 * first rendered): measured at 4 MB of heap per block of 2,700 templates
 * when every template was parsed into buffers and strings up front.
 */
export class Templates {
  private readonly verdicts = new Map<string, Uint8Array>();
  /** Per template, its constant text pieces as byte ranges and as strings, made on first render. */
  private readonly ranges: (Uint32Array | undefined)[];
  private readonly texts: (string[] | undefined)[];
  private textBytes = 0;

  private constructor(
    private readonly raw: Buffer,
    /** Template id k's bytes: raw[start[k - 1] .. start[k]). */
    private readonly start: Uint32Array,
    /** Per template id: how many variables (index 0: RAW). */
    private readonly counts: Uint16Array,
    /** Per template id: 1 if it has a hex-like token. */
    private readonly hasToken: Uint8Array,
  ) {
    this.texts = new Array(counts.length);
    this.ranges = new Array(counts.length);
  }

  /** Parses the stored list; null if its framing does not add up. */
  static parse(stored: Uint8Array): Templates | null {
    if (stored.length < 4) return null;
    const v = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
    const n = v.getUint32(0, true);
    if (n > MAX_TEMPLATES || 4 + 4 * n > stored.length) return null;
    const raw = Buffer.from(stored.buffer, stored.byteOffset + 4 + 4 * n, stored.byteLength - 4 - 4 * n);
    const start = new Uint32Array(n + 1);
    const counts = new Uint16Array(n + 1);
    const hasToken = new Uint8Array(n + 1);
    for (let k = 0; k < n; k++) {
      start[k + 1] = start[k]! + v.getUint32(4 + 4 * k, true);
      if (start[k + 1]! > raw.length) return null;
      for (let i = start[k]!; i < start[k + 1]!; i++) {
        const c = raw[i]!;
        if (c === VAR_DIGITS || c === VAR_TOKEN) counts[k + 1]!++;
        if (c === VAR_TOKEN) hasToken[k + 1] = 1;
      }
    }
    return start[n] === raw.length ? new Templates(raw, start, counts, hasToken) : null;
  }

  get size(): number {
    return this.start.length - 1;
  }

  /** What it holds in memory: its bytes and tables, and the text pieces made so far (as strings, about twice their bytes). */
  get bytes(): number {
    return this.raw.length + 8 * this.start.length + this.textBytes;
  }

  /** Variables of template `id` (a RAW row has none); undefined for an id the block does not have. */
  variables(id: number): number | undefined {
    return id < this.counts.length ? this.counts[id] : undefined;
  }

  /** The constant pieces of template `id` as byte ranges of raw: [from0, to0, from1, to1, ...] (kept: every rendered row asks). */
  private pieces(id: number): Uint32Array {
    let out = this.ranges[id];
    if (out === undefined) {
      out = new Uint32Array(2 * this.counts[id]! + 2);
      let s = this.start[id - 1]!;
      let k = 0;
      const end = this.start[id]!;
      for (let i = s; i < end; i++) {
        const c = this.raw[i]!;
        if (c !== VAR_DIGITS && c !== VAR_TOKEN) continue;
        out[k++] = s;
        out[k++] = i;
        s = i + 1;
      }
      out[k++] = s;
      out[k] = end;
      this.ranges[id] = out;
      this.textBytes += out.byteLength + 64;
    }
    return out;
  }

  private textsOf(id: number): string[] {
    let t = this.texts[id];
    if (t === undefined) {
      const p = this.pieces(id);
      t = [];
      for (let k = 0; k < p.length; k += 2) t.push(this.raw.toString('utf8', p[k], p[k + 1]));
      this.texts[id] = t;
      this.textBytes += 2 * (this.start[id]! - this.start[id - 1]!) + 32 * t.length;
    }
    return t;
  }

  /** Row text of template `id` with its variables, which start at vars[at] (each ends with VAR_END). */
  render(id: number, vars: Buffer, at: number): string {
    const t = this.textsOf(id);
    let s = t[0]!;
    for (let k = 1; k < t.length; k++) {
      const end = vars.indexOf(VAR_END, at);
      s += vars.toString('latin1', at, end) + t[k]!;
      at = end + 1;
    }
    return s;
  }

  /** The same, as UTF-8 bytes. */
  renderBytes(id: number, vars: Buffer, at: number, varsEnd: number): Uint8Array {
    const p = this.pieces(id);
    const k = this.counts[id]!;
    const out = new Uint8Array(this.start[id]! - this.start[id - 1]! - k + (varsEnd - at) - k);
    let o = 0;
    for (let j = 0; j < p.length; j += 2) {
      if (j > 0) {
        const end = vars.indexOf(VAR_END, at);
        out.set(vars.subarray(at, end), o);
        o += end - at;
        at = end + 1;
      }
      out.set(this.raw.subarray(p[j], p[j + 1]), o);
      o += p[j + 1]! - p[j]!;
    }
    return out;
  }

  /**
   * Per template id (index 0: RAW), whether a message of it contains
   * `needle`: NO, YES, or MAYBE (render it and look). A stretch of the needle
   * of characters no variable can hold must lie inside one stretch of the
   * template's constant text (variables are never empty). Exact (YES or NO)
   * for a needle without digits in a template without hex-like tokens.
   */
  verdict(needle: Uint8Array): Uint8Array {
    const key = latin1(needle, needle.length);
    let out = this.verdicts.get(key);
    if (out !== undefined) return out;
    const pieces = constantPieces(needle, isDigit);
    // A needle ending in '-' may end inside a number's sign: only its other pieces must be constant text.
    const digits = pieces.length !== 1 || pieces[0]!.length !== needle.length || needle[needle.length - 1] === 0x2d;
    const plain = this.holding(pieces);
    const hex = this.holding(constantPieces(needle, isTokenChar));
    out = new Uint8Array(this.start.length);
    out[RAW] = MAYBE;
    for (let id = 1; id < this.start.length; id++) {
      if (this.hasToken[id] === 1) out[id] = hex[id] === 1 ? MAYBE : NO;
      else out[id] = plain[id] === 1 ? (digits ? MAYBE : YES) : NO;
    }
    if (this.verdicts.size >= 64) this.verdicts.delete(this.verdicts.keys().next().value!);
    this.verdicts.set(key, out);
    return out;
  }

  /**
   * Per template id, 1 where every piece lies inside its constant text:
   * found by searching the whole list once per piece, not each template
   * (pieces hold no placeholder byte, so an occurrence inside a template's
   * bytes is inside one of its stretches of constant text).
   */
  private holding(pieces: readonly Buffer[]): Uint8Array {
    const n = this.start.length;
    const hits = new Uint16Array(n);
    const out = new Uint8Array(n);
    if (pieces.length === 0) return out.fill(1);
    if (pieces.some((p) => p.includes(VAR_DIGITS) || p.includes(VAR_TOKEN))) return out; // no constant text holds one
    pieces.forEach((p, k) => {
      for (let at = this.raw.indexOf(p); at >= 0; at = this.raw.indexOf(p, at + 1)) {
        const id = this.templateAt(at);
        if (at + p.length > this.start[id]!) continue; // runs into the next template
        if (hits[id] === k) hits[id] = k + 1; // each piece counted once per template, in turn
      }
    });
    for (let id = 1; id < n; id++) if (hits[id] === pieces.length) out[id] = 1;
    return out;
  }

  /** The template id whose bytes hold raw[at]. */
  private templateAt(at: number): number {
    let lo = 1;
    let hi = this.start.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.start[mid]! <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether a templated row of the block can contain `needle` (RAW rows are the caller's to count). */
  mayContain(needle: Uint8Array): boolean {
    const v = this.verdict(needle);
    for (let k = 1; k < v.length; k++) if (v[k] !== NO) return true;
    return false;
  }
}

export const NO = 0;
export const MAYBE = 1;
export const YES = 2;

/** A character a hex-like token can hold: hex digits, '-', and the x of 0x. */
const isTokenChar = (c: number) => isDigit(c) || isHexLetter(c) || c === 0x2d || c === 0x78 || c === 0x58;

/**
 * The needle's runs of characters for which `variable` is false: what a
 * template's constant text must hold. Less a '-' before a variable's
 * character (it may be a number's sign).
 */
function constantPieces(needle: Uint8Array, variable: (c: number) => boolean): Buffer[] {
  const b = Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength);
  const out: Buffer[] = [];
  let s = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i < b.length && !variable(b[i]!)) continue;
    const end = i > s && b[i - 1] === 0x2d ? i - 1 : i;
    if (end > s) out.push(b.subarray(s, end));
    s = i + 1;
  }
  return out;
}
