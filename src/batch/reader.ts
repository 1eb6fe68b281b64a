import { TributaryError } from '../errors.js';
import type { IdentifiedEntry } from '../model/entry.js';
import { pairsObject } from '../model/labels.js';
import { MAX_LEVEL, type Level } from '../model/level.js';
import { crc32 } from './crc32.js';
import {
  BATCH_MAGIC,
  BATCH_MIN_VERSION,
  BATCH_VERSION,
  H_COUNT,
  H_DICT_BYTES,
  H_DICT_COUNT,
  H_FIRST_SEQ,
  H_HEADER_BYTES,
  H_HEADER_CRC,
  H_MAGIC,
  H_MSG_BYTES,
  H_SECTION_CRCS,
  H_SOURCE,
  H_SOURCE_LEN,
  H_TOTAL_BYTES,
  H_VERSION,
  HEADER_BYTES,
  MAX_BATCH_BYTES,
  MAX_ENTRIES,
  NO_ID,
  SECTION_COUNT,
  SECTION_COUNT_V1,
  SOURCE_BYTES,
  Section,
  SECTION_NAMES,
  computeLayout,
  sectionRange,
  type BatchLayout,
} from './layout.js';

export interface BatchReaderOptions {
  /**
   * Check section CRCs on first access (default true). Only turn this off for
   * bytes that never left this process's memory since a BatchBuilder wrote
   * them; structural checks (bounds, ids, offsets) always run, so even then a
   * malformed batch raises an error rather than reading out of bounds.
   */
  readonly verify?: boolean;
}

const SOURCE_ID_CHAR = /^[A-Za-z0-9_-]+$/;

/**
 * Read access to one LogBatch. Opening checks the header only (magic,
 * version, header CRC, sizes); each column is checked the first time it is
 * read and then exposed as a zero-copy typed-array view. Nothing is decoded
 * into objects unless `entry()` or `message()` is called.
 */
export class BatchReader {
  readonly count: number;
  readonly firstSeq: bigint;
  readonly sourceId: string;
  /** Length of the batch in bytes (what it occupies in a ring, file or frame). */
  readonly byteLength: number;
  readonly dictionarySize: number;
  /** The format version (1 has no labels or meta columns). */
  readonly version: number;
  private readonly bytes: Uint8Array;
  private readonly buf: Buffer;
  private readonly layout: BatchLayout;
  private readonly msgByteCount: number;
  private readonly dictByteCount: number;
  private readonly verify: boolean;
  private readonly checked = new Uint8Array(SECTION_COUNT);
  private tsView?: BigInt64Array;
  private levelView?: Uint8Array;
  private idViews: (Uint32Array | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  private msgOffView?: Uint32Array;
  private labelCache?: string[];
  private range?: { readonly min: bigint; readonly max: bigint };

  private constructor(bytes: Uint8Array, options: BatchReaderOptions) {
    this.verify = options.verify ?? true;
    if (bytes.byteLength < 8) throw truncated(bytes.byteLength, 8, 'header');
    // Views need 8-byte alignment; bytes read from a file or socket may not have it.
    // A copy (new Uint8Array, not slice: Buffer.slice is a view and would stay unaligned).
    if (bytes.byteOffset % 8 !== 0) bytes = new Uint8Array(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = view.getUint32(H_MAGIC, true);
    if (magic !== BATCH_MAGIC) throw corrupt(H_MAGIC, `bad magic 0x${magic.toString(16).padStart(8, '0')}, not a LogBatch`);
    const version = view.getUint16(H_VERSION, true);
    if (version < BATCH_MIN_VERSION || version > BATCH_VERSION) {
      throw new TributaryError(
        'E_BATCH_VERSION',
        `unsupported LogBatch version ${version} (this build reads versions ${BATCH_MIN_VERSION} to ${BATCH_VERSION})`,
        {
          offset: H_VERSION,
          version,
        },
      );
    }
    const headerBytes = view.getUint16(H_HEADER_BYTES, true);
    if (headerBytes !== HEADER_BYTES) throw corrupt(H_HEADER_BYTES, `header size ${headerBytes}, expected ${HEADER_BYTES}`);
    if (bytes.byteLength < HEADER_BYTES) throw truncated(bytes.byteLength, HEADER_BYTES, 'header');
    const headerCrc = crc32(bytes.subarray(0, H_HEADER_CRC));
    if (headerCrc !== view.getUint32(H_HEADER_CRC, true)) throw corrupt(0, 'header checksum mismatch');

    const total = view.getUint32(H_TOTAL_BYTES, true);
    const count = view.getUint32(H_COUNT, true);
    const dictCount = view.getUint32(H_DICT_COUNT, true);
    const dictBytes = view.getUint32(H_DICT_BYTES, true);
    const msgBytes = view.getUint32(H_MSG_BYTES, true);
    const sourceLen = view.getUint8(H_SOURCE_LEN);
    // A correct header CRC does not prove a correct writer: check every field against the limits.
    if (count > MAX_ENTRIES) throw corrupt(H_COUNT, `entry count ${count} exceeds the limit ${MAX_ENTRIES}`);
    const idColumns = version >= 2 ? 5 : 3;
    if (dictCount > count * idColumns) throw corrupt(H_DICT_COUNT, `dictionary of ${dictCount} labels for ${count} entries`);
    if (total > MAX_BATCH_BYTES || msgBytes > MAX_BATCH_BYTES || dictBytes > MAX_BATCH_BYTES) {
      throw corrupt(H_TOTAL_BYTES, `sizes exceed the ${MAX_BATCH_BYTES}-byte batch limit`);
    }
    if (sourceLen < 1 || sourceLen > SOURCE_BYTES) throw corrupt(H_SOURCE_LEN, `source id length ${sourceLen}`);
    const layout = computeLayout(count, msgBytes, dictCount, dictBytes, version);
    if (layout.total !== total) throw corrupt(H_TOTAL_BYTES, `total ${total} bytes does not match the ${layout.total} bytes its sections need`);
    for (let i = H_SOURCE_LEN + 1; i < H_SOURCE; i++) if (bytes[i] !== 0) throw corrupt(i, 'reserved header byte is not zero');
    for (let i = H_SOURCE + sourceLen; i < H_SECTION_CRCS; i++) if (bytes[i] !== 0) throw corrupt(i, 'source id padding is not zero');
    const sections = version >= 2 ? SECTION_COUNT : SECTION_COUNT_V1;
    for (let i = H_SECTION_CRCS + 4 * sections; i < H_HEADER_CRC; i++) if (bytes[i] !== 0) throw corrupt(i, 'reserved header byte is not zero');
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const sourceId = buf.toString('latin1', H_SOURCE, H_SOURCE + sourceLen);
    if (!SOURCE_ID_CHAR.test(sourceId)) throw corrupt(H_SOURCE, 'source id has characters outside [A-Za-z0-9_-]');

    this.count = count;
    this.firstSeq = view.getBigUint64(H_FIRST_SEQ, true);
    this.sourceId = sourceId;
    this.byteLength = total;
    this.dictionarySize = dictCount;
    this.version = version;
    this.layout = layout;
    this.msgByteCount = msgBytes;
    this.dictByteCount = dictBytes;
    if (bytes.byteLength < total) throw truncated(bytes.byteLength, total, 'body');
    this.bytes = bytes.subarray(0, total);
    this.buf = buf.subarray(0, total);
    this.checkPadding();
  }

  /** Opens a batch, checking its header. Throws E_BATCH_TRUNCATED, E_BATCH_CORRUPT or E_BATCH_VERSION. */
  static open(bytes: Uint8Array, options: BatchReaderOptions = {}): BatchReader {
    return new BatchReader(bytes, options);
  }

  /** The raw bytes of the batch, exactly byteLength long: what a WAL appends and a ring carries. */
  get raw(): Uint8Array {
    return this.bytes;
  }

  seq(i: number): bigint {
    return this.firstSeq + BigInt(i);
  }

  timestamps(): BigInt64Array {
    if (this.tsView === undefined) {
      this.checkSection(Section.TS);
      this.tsView = new BigInt64Array(this.bytes.buffer, this.bytes.byteOffset + this.layout.ts, this.count);
    }
    return this.tsView;
  }

  /**
   * The smallest and largest timestamp (computed once, then kept): a query
   * skips a whole batch whose range misses its own. An empty batch has
   * min > max.
   */
  timeRange(): { readonly min: bigint; readonly max: bigint } {
    if (!this.range) {
      const ts = this.timestamps();
      let min = (1n << 63n) - 1n; // int64 max: any timestamp is smaller
      let max = -(1n << 63n);
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i]!;
        if (t < min) min = t;
        if (t > max) max = t;
      }
      this.range = { min, max };
    }
    return this.range;
  }

  levels(): Uint8Array {
    if (this.levelView === undefined) {
      this.checkSection(Section.LEVEL);
      const v = this.bytes.subarray(this.layout.level, this.layout.level + this.count);
      for (let i = 0; i < v.length; i++) {
        if (v[i]! > MAX_LEVEL) throw corrupt(this.layout.level + i, `level ${v[i]} of entry ${i} is not 0-${MAX_LEVEL}`);
      }
      this.levelView = v;
    }
    return this.levelView;
  }

  serviceIds(): Uint32Array {
    return this.ids(0, Section.SERVICE, this.layout.service);
  }

  serverIds(): Uint32Array {
    return this.ids(1, Section.SERVER, this.layout.server);
  }

  regionIds(): Uint32Array {
    return this.ids(2, Section.REGION, this.layout.region);
  }

  /** Per entry, the dictionary id of its stream's other labels (NO_ID: none); null for a version-1 batch, which has none. */
  labelSetIds(): Uint32Array | null {
    return this.version >= 2 ? this.ids(3, Section.LABELS, this.layout.labels) : null;
  }

  /** Per entry, the dictionary id of its structured metadata (NO_ID: none); null for a version-1 batch. */
  metaIds(): Uint32Array | null {
    return this.version >= 2 ? this.ids(4, Section.META, this.layout.meta) : null;
  }

  /** Entry i's other stream labels, encoded (model/labels.ts); '' for none. */
  labelSet(i: number): string {
    const ids = this.labelSetIds();
    const id = ids === null ? NO_ID : ids[i]!;
    return id === NO_ID ? '' : this.labels()[id]!;
  }

  /** Entry i's structured metadata, encoded; '' for none. */
  meta(i: number): string {
    const ids = this.metaIds();
    const id = ids === null ? NO_ID : ids[i]!;
    return id === NO_ID ? '' : this.labels()[id]!;
  }

  /** Message byte offsets: message i is msgBytes[off[i], off[i+1]). */
  messageOffsets(): Uint32Array {
    if (this.msgOffView === undefined) {
      this.checkSection(Section.MSG_OFFSETS);
      const off = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + this.layout.msgOffsets, this.count + 1);
      checkOffsets(off, this.msgByteCount, this.layout.msgOffsets, 'message');
      this.msgOffView = off;
    }
    return this.msgOffView;
  }

  /** All message bytes, concatenated (for substring scans that never build strings). */
  messageBytes(): Uint8Array {
    this.messageOffsets();
    this.checkSection(Section.MSG_BYTES);
    return this.bytes.subarray(this.layout.msgBytes, this.layout.msgBytes + this.msgByteCount);
  }

  message(i: number): string {
    this.checkIndex(i);
    const off = this.messageOffsets();
    this.checkSection(Section.MSG_BYTES);
    const base = this.layout.msgBytes;
    return this.buf.toString('utf8', base + off[i]!, base + off[i + 1]!);
  }

  /** The dictionary's labels, decoded once. */
  labels(): readonly string[] {
    if (this.labelCache === undefined) {
      this.checkSection(Section.DICT);
      const n = this.dictionarySize;
      const off = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + this.layout.dictOffsets, n + 1);
      checkOffsets(off, this.dictByteCount, this.layout.dictOffsets, 'dictionary');
      const base = this.layout.dictBytes;
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = this.buf.toString('utf8', base + off[i]!, base + off[i + 1]!);
      this.labelCache = out;
    }
    return this.labelCache;
  }

  label(id: number): string {
    const labels = this.labels();
    if (id >= labels.length) throw new TributaryError('E_INVALID_ARGUMENT', `label id ${id} out of range`, { id, size: labels.length });
    return labels[id]!;
  }

  entry(i: number): IdentifiedEntry {
    this.checkIndex(i);
    const labels = this.labels();
    const set = this.labelSet(i);
    const meta = this.meta(i);
    return {
      ts: this.timestamps()[i]!,
      level: this.levels()[i] as Level,
      service: labels[this.serviceIds()[i]!]!,
      server: labels[this.serverIds()[i]!]!,
      region: labels[this.regionIds()[i]!]!,
      message: this.message(i),
      source: this.sourceId,
      seq: this.seq(i),
      ...(set === '' ? {} : { labels: pairsObject(set) }),
      ...(meta === '' ? {} : { metadata: pairsObject(meta) }),
    };
  }

  *entries(): IterableIterator<IdentifiedEntry> {
    for (let i = 0; i < this.count; i++) yield this.entry(i);
  }

  /** Reads and checks every section; throws on the first problem. */
  validate(): void {
    this.timestamps();
    this.levels();
    this.serviceIds();
    this.serverIds();
    this.regionIds();
    this.labelSetIds();
    this.metaIds();
    this.messageBytes();
    this.labels();
  }

  private ids(which: 0 | 1 | 2 | 3 | 4, section: Section, offset: number): Uint32Array {
    let v = this.idViews[which];
    if (v === undefined) {
      this.checkSection(section);
      v = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset + offset, this.count);
      const limit = this.dictionarySize;
      const optional = which >= 3;
      for (let i = 0; i < v.length; i++) {
        if (v[i]! >= limit && !(optional && v[i] === NO_ID))
          throw corrupt(offset + i * 4, `${SECTION_NAMES[section]} id ${v[i]} of entry ${i} is outside the ${limit}-label dictionary`);
      }
      this.idViews[which] = v;
    }
    return v;
  }

  private checkSection(section: Section): void {
    if (this.checked[section] === 1) return;
    if (this.verify) {
      const [start, end] = sectionRange(this.layout, section, this.count, this.msgByteCount, this.dictionarySize, this.dictByteCount);
      const stored = new DataView(this.bytes.buffer, this.bytes.byteOffset).getUint32(H_SECTION_CRCS + section * 4, true);
      if (crc32(this.bytes.subarray(start, end)) !== stored) throw corrupt(start, `${SECTION_NAMES[section]} section checksum mismatch`);
    }
    this.checked[section] = 1;
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new TributaryError('E_INVALID_ARGUMENT', `entry index ${i} out of range 0..${this.count - 1}`, { index: i, count: this.count });
    }
  }

  /** Alignment gaps between sections carry no data but must be zero, so no flipped bit goes unnoticed. */
  private checkPadding(): void {
    const L = this.layout;
    const n = this.count;
    const gaps: [number, number][] = [
      [L.ts + n * 8, L.service],
      [L.service + n * 4, L.server],
      [L.server + n * 4, L.region],
      [L.region + n * 4, L.labels],
      [L.labels + (L.meta > L.labels ? n * 4 : 0), L.meta],
      [L.meta + (L.meta > L.labels ? n * 4 : 0), L.msgOffsets],
      [L.msgOffsets + (n + 1) * 4, L.level],
      [L.level + n, L.msgBytes],
      [L.msgBytes + this.msgByteCount, L.dictOffsets],
      [L.dictBytes + this.dictByteCount, L.total],
    ];
    const b = this.bytes;
    for (const [from, to] of gaps) {
      for (let i = from; i < to; i++) if (b[i] !== 0) throw corrupt(i, 'alignment padding is not zero');
    }
  }
}

function checkOffsets(off: Uint32Array, byteCount: number, sectionStart: number, what: string): void {
  if (off[0] !== 0) throw corrupt(sectionStart, `first ${what} offset is ${off[0]}, expected 0`);
  let prev = 0;
  for (let i = 1; i < off.length; i++) {
    const o = off[i]!;
    if (o < prev || o > byteCount) throw corrupt(sectionStart + i * 4, `${what} offset ${o} at index ${i} is out of order or past ${byteCount} bytes`);
    prev = o;
  }
  if (prev !== byteCount) throw corrupt(sectionStart + (off.length - 1) * 4, `last ${what} offset ${prev} does not end the ${byteCount}-byte section`);
}

function corrupt(offset: number, reason: string): TributaryError {
  return new TributaryError('E_BATCH_CORRUPT', `corrupt LogBatch at byte ${offset}: ${reason}`, { offset, reason });
}

function truncated(have: number, need: number, part: string): TributaryError {
  return new TributaryError('E_BATCH_TRUNCATED', `truncated LogBatch: ${part} needs ${need} bytes, got ${have}`, {
    offset: have,
    needed: need,
    reason: `${part} truncated`,
  });
}
