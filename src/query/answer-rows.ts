import type { IdentifiedEntry } from '../model/entry.js';
import { encodeLabels, PairsCache } from '../model/labels.js';
import type { Level } from '../model/level.js';
import type { Position } from './model.js';

/**
 * A shard's answer rows as one binary buffer, so an answer crosses from the
 * shard's thread to the main thread as bytes (transferred, not cloned), and
 * the main thread reads the timestamp column to merge shards and decodes
 * only the rows it returns. A structured clone of entry objects cost the
 * main thread a whole decode of every shard's rows, most of which a limited
 * query then drops.
 *
 * Layout (little-endian, columns 8-aligned):
 *   u32 magic, u32 rows n, u32 dictionary count d, u32 message bytes m,
 *   u32 dictionary bytes b, u32 0,
 *   i64 ts[n], u64 seq[n],
 *   u32 source[n], service[n], server[n], region[n], labels[n], meta[n] (dictionary ids; NONE for none),
 *   u32 message offsets[n + 1], u32 dictionary offsets[d + 1], u8 level[n],
 *   message bytes[m], dictionary bytes[b] (UTF-8).
 */
const MAGIC = 0x41515254; // "TRQA"
const HEADER = 24;
const NONE = 0xffffffff;
const U32_COLUMNS = 6;

export function encodeRows(entries: readonly IdentifiedEntry[]): Uint8Array {
  const n = entries.length;
  const dict = new Map<string, number>();
  const words: string[] = [];
  const id = (s: string): number => {
    let k = dict.get(s);
    if (k === undefined) {
      k = words.length;
      dict.set(s, k);
      words.push(s);
    }
    return k;
  };
  const ids = new Uint32Array(U32_COLUMNS * n);
  let msgBytes = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    ids[i] = id(e.source);
    ids[n + i] = id(e.service);
    ids[2 * n + i] = id(e.server);
    ids[3 * n + i] = id(e.region);
    ids[4 * n + i] = e.labels === undefined ? NONE : id(encodeLabels(e.labels));
    ids[5 * n + i] = e.metadata === undefined ? NONE : id(encodeLabels(e.metadata));
    msgBytes += Buffer.byteLength(e.message);
  }
  let dictBytes = 0;
  for (const w of words) dictBytes += Buffer.byteLength(w);
  const d = words.length;
  const fixed = HEADER + 16 * n + 4 * U32_COLUMNS * n + 4 * (n + 1) + 4 * (d + 1) + n;
  const out = Buffer.alloc(align8(fixed + msgBytes + dictBytes));
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, n, true);
  v.setUint32(8, d, true);
  v.setUint32(12, msgBytes, true);
  v.setUint32(16, dictBytes, true);
  const ts = new BigInt64Array(out.buffer, out.byteOffset + HEADER, n);
  const seq = new BigUint64Array(out.buffer, out.byteOffset + HEADER + 8 * n, n);
  new Uint32Array(out.buffer, out.byteOffset + HEADER + 16 * n, U32_COLUMNS * n).set(ids);
  const msgOff = new Uint32Array(out.buffer, out.byteOffset + HEADER + 16 * n + 4 * U32_COLUMNS * n, n + 1);
  const dictOff = new Uint32Array(out.buffer, msgOff.byteOffset + 4 * (n + 1), d + 1);
  const levelAt = dictOff.byteOffset - out.byteOffset + 4 * (d + 1);
  let at = levelAt + n;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    ts[i] = e.ts;
    seq[i] = e.seq;
    out[levelAt + i] = e.level;
    msgOff[i] = at - (levelAt + n);
    at += out.write(e.message, at, 'utf8');
  }
  msgOff[n] = at - (levelAt + n);
  const dictStart = at;
  for (let k = 0; k < d; k++) {
    dictOff[k] = at - dictStart;
    at += out.write(words[k]!, at, 'utf8');
  }
  dictOff[d] = at - dictStart;
  // An owned, exact buffer: it is transferred to the main thread whole.
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Rows decoded on demand from {@link encodeRows}' bytes. */
export class AnswerRows {
  readonly count: number;
  private readonly ts: BigInt64Array;
  private readonly seqs: BigUint64Array;
  private readonly ids: Uint32Array;
  private readonly msgOff: Uint32Array;
  private readonly dictOff: Uint32Array;
  private readonly buf: Buffer;
  private readonly levelAt: number;
  private readonly msgAt: number;
  private readonly dictAt: number;
  private readonly words: (string | undefined)[];
  private readonly pairs = new PairsCache();

  private constructor(bytes: Uint8Array) {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < HEADER || v.getUint32(0, true) !== MAGIC) throw new Error('not an answer-rows buffer');
    const n = v.getUint32(4, true);
    const d = v.getUint32(8, true);
    const m = v.getUint32(12, true);
    const b = bytes.byteOffset;
    this.count = n;
    this.ts = new BigInt64Array(bytes.buffer, b + HEADER, n);
    this.seqs = new BigUint64Array(bytes.buffer, b + HEADER + 8 * n, n);
    this.ids = new Uint32Array(bytes.buffer, b + HEADER + 16 * n, U32_COLUMNS * n);
    this.msgOff = new Uint32Array(bytes.buffer, this.ids.byteOffset + 4 * U32_COLUMNS * n, n + 1);
    this.dictOff = new Uint32Array(bytes.buffer, this.msgOff.byteOffset + 4 * (n + 1), d + 1);
    this.buf = Buffer.from(bytes.buffer, b, bytes.byteLength);
    this.levelAt = this.dictOff.byteOffset - b + 4 * (d + 1);
    this.msgAt = this.levelAt + n;
    this.dictAt = this.msgAt + m;
    this.words = new Array(d);
  }

  static open(bytes: Uint8Array): AnswerRows {
    return new AnswerRows(bytes);
  }

  /** Row i's timestamp, read from its column: what a merge compares first. */
  tsOf(i: number): bigint {
    return this.ts[i]!;
  }

  sourceOf(i: number): string {
    return this.word(this.ids[i]!);
  }

  seqOf(i: number): bigint {
    return this.seqs[i]!;
  }

  position(i: number): Position {
    return { ts: this.ts[i]!, source: this.sourceOf(i), seq: this.seqs[i]! };
  }

  entry(i: number): IdentifiedEntry {
    const n = this.count;
    const ids = this.ids;
    const labels = ids[4 * n + i]!;
    const meta = ids[5 * n + i]!;
    return {
      ts: this.ts[i]!,
      source: this.word(ids[i]!),
      seq: this.seqs[i]!,
      level: this.buf[this.levelAt + i]! as Level,
      service: this.word(ids[n + i]!),
      server: this.word(ids[2 * n + i]!),
      region: this.word(ids[3 * n + i]!),
      message: this.buf.toString('utf8', this.msgAt + this.msgOff[i]!, this.msgAt + this.msgOff[i + 1]!),
      ...(labels === NONE ? {} : { labels: this.pairs.get(this.word(labels)) }),
      ...(meta === NONE ? {} : { metadata: this.pairs.get(this.word(meta)) }),
    };
  }

  /** Every row, decoded (tests, and answers small enough to take whole). */
  entries(): IdentifiedEntry[] {
    return Array.from({ length: this.count }, (_, i) => this.entry(i));
  }

  private word(k: number): string {
    let w = this.words[k];
    if (w === undefined) this.words[k] = w = this.buf.toString('utf8', this.dictAt + this.dictOff[k]!, this.dictAt + this.dictOff[k + 1]!);
    return w;
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
