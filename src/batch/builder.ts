import { TributaryError } from '../errors.js';
import type { LogEntry } from '../model/entry.js';
import { encodeLabels } from '../model/labels.js';
import { MAX_LEVEL, type Level } from '../model/level.js';
import { assertSourceId } from '../model/source.js';
import { crc32 } from './crc32.js';
import {
  BATCH_MAGIC,
  BATCH_VERSION,
  FIXED_BYTES_PER_ENTRY,
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
  MAX_ENTRIES,
  MAX_LABEL_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_PAIRS_BYTES,
  NO_ID,
  SECTION_COUNT,
  computeLayout,
  sectionRange,
  type BatchLayout,
  type Section,
} from './layout.js';

export interface BatchBuilderOptions {
  /** Who encodes these entries: a nanoid from newSourceId(). */
  readonly sourceId: string;
  /** Sequence number of the first entry; entry i gets firstSeq + i. */
  readonly firstSeq: bigint;
  /**
   * Most entries this batch may hold. Fixed-width columns are laid out for this
   * many entries while building, so a generous value costs space that finish()
   * reclaims with one copyWithin. Default: sized for 64-byte messages.
   */
  readonly maxEntries?: number;
}

interface LabelSlot {
  /** UTF-8 length. */
  readonly bytes: number;
  /** The batch (builder epoch) in which `id` is valid. */
  epoch: number;
  id: number;
}

/** Distinct labels a builder remembers across batches before it starts over. */
const LABEL_CACHE_LIMIT = 65_536;

/** Typical message size the default capacity is planned for. */
const PLANNED_MESSAGE_BYTES = 64;
/** Slack for the up-to-7 alignment bytes before each of the two trailing dictionary sections and the end. */
export const DICT_ALIGN_SLACK = 24;

/**
 * Writes a LogBatch straight into a caller-given buffer, typically a region
 * reserved in a SharedArrayBuffer ring: columns and message bytes land in
 * place, with no intermediate copy and no JSON.
 *
 * `add` returns false when the entry does not fit (nothing is written); the
 * caller then calls `finish` and starts the next batch. An entry that cannot
 * fit even in an empty batch throws, so that loop always terminates.
 */
export class BatchBuilder {
  private target!: Uint8Array;
  private buf!: Buffer;
  private view!: DataView;
  private capacity = 0;
  private cap!: BatchLayout;
  private tsCol!: BigInt64Array;
  private serviceCol!: Uint32Array;
  private serverCol!: Uint32Array;
  private regionCol!: Uint32Array;
  private labelsCol!: Uint32Array;
  private metaCol!: Uint32Array;
  private msgOffCol!: Uint32Array;
  private levelCol!: Uint8Array;
  /** End of the encoded message bytes. Pending (deferred) messages follow it once flushed. */
  private msgCursor = 0;
  private pending = '';
  private pendingChars = 0;
  private readonly pendingMessages: string[] = [];
  /** Entry index of the first pending message. */
  private pendingFirst = 0;
  private msgLimit = 0;
  private n = 0;
  private sourceId = '';
  private firstSeq = 0n;
  private finished = false;

  /**
   * Labels seen by this builder, kept across batches: a label's UTF-8 length
   * is measured once, and `epoch` says whether it already has an id in the
   * current batch. One Map lookup per label per entry, where a per-batch
   * dictionary paid a lookup, a native byteLength call and an insert for
   * every label in every batch (530 labels per batch made encoding 3x slower).
   */
  private readonly labelCache = new Map<string, LabelSlot>();
  private epoch = 0;
  private readonly labels: string[] = [];
  private labelBytes = 0;
  /** Bytes finish() will need after the messages: dictionary offsets (count + 1) and label bytes. */
  private dictReserve = 4;
  // One-entry caches: consecutive entries usually share their labels.
  private lastService = '';
  private lastServiceSlot: LabelSlot | undefined;
  private lastServer = '';
  private lastServerSlot: LabelSlot | undefined;
  private lastRegion = '';
  private lastRegionSlot: LabelSlot | undefined;
  private lastLabels = '';
  private lastLabelsSlot: LabelSlot | undefined;
  /** Metadata sets of the current batch (see metaSlot). */
  private readonly metaSlots = new Map<string, LabelSlot>();

  constructor(target: Uint8Array, options: BatchBuilderOptions) {
    this.reset(target, options);
  }

  /** Starts a new batch in `target`, reusing this builder's allocations. */
  reset(target: Uint8Array, options: BatchBuilderOptions): void {
    if (target.byteOffset % 8 !== 0) {
      throw new TributaryError('E_INVALID_ARGUMENT', 'batch target must start on an 8-byte boundary', { byteOffset: target.byteOffset });
    }
    assertSourceId(options.sourceId);
    const room = target.byteLength - HEADER_BYTES - DICT_ALIGN_SLACK - 8;
    const planned = Math.floor(room / (FIXED_BYTES_PER_ENTRY + PLANNED_MESSAGE_BYTES));
    const capacity = Math.min(MAX_ENTRIES, options.maxEntries ?? planned);
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new TributaryError('E_BATCH_FULL', `batch target of ${target.byteLength} bytes cannot hold one entry`, {
        targetBytes: target.byteLength,
        maxEntries: options.maxEntries,
      });
    }
    this.cap = computeLayout(capacity, 0, 0, 0);
    if (this.cap.msgBytes + DICT_ALIGN_SLACK + 8 > target.byteLength) {
      throw new TributaryError('E_BATCH_FULL', `batch target of ${target.byteLength} bytes is too small for ${capacity} entries`, {
        targetBytes: target.byteLength,
        maxEntries: capacity,
      });
    }
    this.target = target;
    this.buf = Buffer.from(target.buffer, target.byteOffset, target.byteLength);
    this.view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    this.capacity = capacity;
    const base = target.byteOffset;
    const ab = target.buffer;
    this.tsCol = new BigInt64Array(ab, base + this.cap.ts, capacity);
    this.serviceCol = new Uint32Array(ab, base + this.cap.service, capacity);
    this.serverCol = new Uint32Array(ab, base + this.cap.server, capacity);
    this.regionCol = new Uint32Array(ab, base + this.cap.region, capacity);
    this.labelsCol = new Uint32Array(ab, base + this.cap.labels, capacity);
    this.metaCol = new Uint32Array(ab, base + this.cap.meta, capacity);
    this.msgOffCol = new Uint32Array(ab, base + this.cap.msgOffsets, capacity + 1);
    this.levelCol = new Uint8Array(ab, base + this.cap.level, capacity);
    this.msgOffCol[0] = 0;
    this.msgCursor = this.cap.msgBytes;
    this.pending = '';
    this.pendingChars = 0;
    this.pendingMessages.length = 0;
    this.msgLimit = target.byteLength - DICT_ALIGN_SLACK;
    this.n = 0;
    this.sourceId = options.sourceId;
    this.firstSeq = options.firstSeq;
    this.finished = false;
    this.epoch++;
    if (this.labelCache.size > LABEL_CACHE_LIMIT) {
      this.labelCache.clear();
      this.lastServiceSlot = this.lastServerSlot = this.lastRegionSlot = this.lastLabelsSlot = undefined;
    }
    this.labels.length = 0;
    this.labelBytes = 0;
    this.metaSlots.clear();
    this.dictReserve = 4;
  }

  get count(): number {
    return this.n;
  }

  get maxEntries(): number {
    return this.capacity;
  }

  /** Sequence number the next added entry will get. */
  get nextSeq(): bigint {
    return this.firstSeq + BigInt(this.n);
  }

  /**
   * Appends one entry. Returns false, writing nothing, when it does not fit.
   * `labels` and `meta` are encoded sets (model/labels.ts), '' for none.
   */
  add(ts: bigint, level: Level, service: string, server: string, region: string, message: string, labels = '', meta = ''): boolean {
    if (this.finished) throw new TributaryError('E_INVALID_ARGUMENT', 'add after finish: call reset first');
    if (this.n === this.capacity) return this.rejectIfEmpty('entry limit reached', 0);
    if (!(level >>> 0 <= MAX_LEVEL) || level !== (level | 0)) {
      throw new TributaryError('E_ENTRY_INVALID', `level must be an integer 0-${MAX_LEVEL}, got ${level}`, { level });
    }
    // Resolve labels without giving them ids yet, so a rejected entry leaves no trace.
    const svc = service === this.lastService && this.lastServiceSlot ? this.lastServiceSlot : this.slot(service);
    const srv = server === this.lastServer && this.lastServerSlot ? this.lastServerSlot : this.slot(server);
    const reg = region === this.lastRegion && this.lastRegionSlot ? this.lastRegionSlot : this.slot(region);
    const lab = labels === '' ? undefined : labels === this.lastLabels && this.lastLabelsSlot ? this.lastLabelsSlot : this.slot(labels, MAX_PAIRS_BYTES);
    const met = meta === '' ? undefined : this.metaSlot(meta);
    const epoch = this.epoch;
    // Dictionary bytes the new labels would add at finish (offset slot + UTF-8).
    let grow = 0;
    if (svc.epoch !== epoch) grow += 4 + svc.bytes;
    if (srv.epoch !== epoch && srv !== svc) grow += 4 + srv.bytes;
    if (reg.epoch !== epoch && reg !== svc && reg !== srv) grow += 4 + reg.bytes;
    if (lab !== undefined && lab.epoch !== epoch) grow += 4 + lab.bytes;
    if (met !== undefined && met.epoch !== epoch && met !== lab) grow += 4 + met.bytes;
    const limit = this.msgLimit - this.dictReserve - grow;
    let msgEnd: number;
    if (this.msgCursor + 3 * (this.pendingChars + message.length) <= limit && message.length <= MAX_MESSAGE_BYTES / 3) {
      // Fast path: even the worst-case UTF-8 expansion of everything pending
      // fits, so defer the encoding and do it for many messages in one call.
      this.pending += message;
      this.pendingMessages.push(message);
      this.pendingChars += message.length;
      msgEnd = this.msgCursor + this.pendingChars; // exact if ASCII; fixed up by flushMessages otherwise
    } else {
      this.flushMessages();
      const needed = Buffer.byteLength(message, 'utf8');
      if (needed > MAX_MESSAGE_BYTES) {
        throw new TributaryError('E_ENTRY_INVALID', `message of ${needed} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`, {
          messageBytes: needed,
          limit: MAX_MESSAGE_BYTES,
        });
      }
      if (this.msgCursor + needed > limit) return this.rejectIfEmpty('entry larger than the batch buffer', needed);
      if (needed > 0) utf8Write(this.buf, message, this.msgCursor);
      this.msgCursor += needed;
      msgEnd = this.msgCursor;
    }
    if (svc.epoch !== epoch) this.intern(svc, service);
    if (srv.epoch !== epoch) this.intern(srv, server);
    if (reg.epoch !== epoch) this.intern(reg, region);
    if (lab !== undefined && lab.epoch !== epoch) this.intern(lab, labels);
    if (met !== undefined && met.epoch !== epoch) this.intern(met, meta);
    const i = this.n;
    this.labelsCol[i] = lab === undefined ? NO_ID : lab.id;
    this.metaCol[i] = met === undefined ? NO_ID : met.id;
    if (lab !== undefined) {
      this.lastLabels = labels;
      this.lastLabelsSlot = lab;
    }
    this.serviceCol[i] = svc.id;
    this.serverCol[i] = srv.id;
    this.regionCol[i] = reg.id;
    this.lastService = service;
    this.lastServiceSlot = svc;
    this.lastServer = server;
    this.lastServerSlot = srv;
    this.lastRegion = region;
    this.lastRegionSlot = reg;
    this.tsCol[i] = ts;
    this.levelCol[i] = level;
    if (this.pendingMessages.length === 1) this.pendingFirst = i;
    this.msgOffCol[i + 1] = msgEnd - this.cap.msgBytes;
    this.n = i + 1;
    return true;
  }

  /**
   * Encodes the pending messages with one native call. A UTF-8 encoding has
   * exactly one byte per UTF-16 unit only when every unit is ASCII, in which
   * case the provisional offsets (in units) are already the byte offsets.
   * Otherwise each message is encoded on its own, so the bytes are exactly
   * those of per-message encoding (a join could fuse surrogate halves of two
   * neighbouring messages into one pair).
   */
  private flushMessages(): void {
    if (this.pendingMessages.length === 0) return;
    const written = utf8Write(this.buf, this.pending, this.msgCursor);
    if (written === this.pendingChars) {
      this.msgCursor += written;
    } else {
      let cursor = this.msgCursor;
      const base = this.cap.msgBytes;
      const first = this.pendingFirst;
      const msgs = this.pendingMessages;
      for (let k = 0; k < msgs.length; k++) {
        cursor += utf8Write(this.buf, msgs[k]!, cursor);
        this.msgOffCol[first + k + 1] = cursor - base;
      }
      this.msgCursor = cursor;
    }
    this.pending = '';
    this.pendingChars = 0;
    this.pendingMessages.length = 0;
  }

  addEntry(entry: LogEntry): boolean {
    return this.add(entry.ts, entry.level, entry.service, entry.server, entry.region, entry.message, encodeLabels(entry.labels), encodeLabels(entry.metadata));
  }

  /**
   * Seals the batch: compacts the columns to the dense layout, writes the
   * dictionary, header and checksums. Returns the batch's length in bytes
   * (a multiple of 8), which is what a ring commit should publish.
   */
  finish(): number {
    if (this.finished) throw new TributaryError('E_INVALID_ARGUMENT', 'finish called twice');
    this.flushMessages();
    this.finished = true;
    const n = this.n;
    const msgBytes = this.msgCursor - this.cap.msgBytes;
    const dictCount = this.labels.length;
    const dictBytes = this.labelBytes;
    const out = computeLayout(n, msgBytes, dictCount, dictBytes);
    const t = this.target;
    if (n < this.capacity) {
      // Destinations never pass their sources (dense offsets <= capacity offsets),
      // and sections move in ascending order, so no move overwrites unmoved data.
      t.copyWithin(out.service, this.cap.service, this.cap.service + n * 4);
      t.copyWithin(out.server, this.cap.server, this.cap.server + n * 4);
      t.copyWithin(out.region, this.cap.region, this.cap.region + n * 4);
      t.copyWithin(out.labels, this.cap.labels, this.cap.labels + n * 4);
      t.copyWithin(out.meta, this.cap.meta, this.cap.meta + n * 4);
      t.copyWithin(out.msgOffsets, this.cap.msgOffsets, this.cap.msgOffsets + (n + 1) * 4);
      t.copyWithin(out.level, this.cap.level, this.cap.level + n);
      t.copyWithin(out.msgBytes, this.cap.msgBytes, this.msgCursor);
    }
    // Zero every alignment gap so that the bytes of a batch are a pure function of its content.
    zeroGap(t, out.ts + n * 8, out.service);
    zeroGap(t, out.service + n * 4, out.server);
    zeroGap(t, out.server + n * 4, out.region);
    zeroGap(t, out.region + n * 4, out.labels);
    zeroGap(t, out.labels + n * 4, out.meta);
    zeroGap(t, out.meta + n * 4, out.msgOffsets);
    zeroGap(t, out.msgOffsets + (n + 1) * 4, out.level);
    zeroGap(t, out.level + n, out.msgBytes);
    zeroGap(t, out.msgBytes + msgBytes, out.dictOffsets);
    // Dictionary: offsets then UTF-8 bytes.
    const v = this.view;
    let cursor = out.dictBytes;
    v.setUint32(out.dictOffsets, 0, true);
    for (let i = 0; i < dictCount; i++) {
      cursor += utf8Write(this.buf, this.labels[i]!, cursor);
      v.setUint32(out.dictOffsets + (i + 1) * 4, cursor - out.dictBytes, true);
    }
    zeroGap(t, out.dictOffsets + (dictCount + 1) * 4, out.dictBytes);
    zeroGap(t, out.dictBytes + dictBytes, out.total);
    // Header.
    t.fill(0, 0, HEADER_BYTES);
    v.setUint32(H_MAGIC, BATCH_MAGIC, true);
    v.setUint16(H_VERSION, BATCH_VERSION, true);
    v.setUint16(H_HEADER_BYTES, HEADER_BYTES, true);
    v.setUint32(H_TOTAL_BYTES, out.total, true);
    v.setUint32(H_COUNT, n, true);
    v.setBigUint64(H_FIRST_SEQ, this.firstSeq, true);
    v.setUint32(H_DICT_COUNT, dictCount, true);
    v.setUint32(H_DICT_BYTES, dictBytes, true);
    v.setUint32(H_MSG_BYTES, msgBytes, true);
    v.setUint8(H_SOURCE_LEN, this.sourceId.length);
    this.buf.write(this.sourceId, H_SOURCE, 'latin1');
    for (let s = 0; s < SECTION_COUNT; s++) {
      const [start, end] = sectionRange(out, s as Section, n, msgBytes, dictCount, dictBytes);
      v.setUint32(H_SECTION_CRCS + s * 4, crc32(t.subarray(start, end)), true);
    }
    v.setUint32(H_HEADER_CRC, crc32(t.subarray(0, H_HEADER_CRC)), true);
    return out.total;
  }

  /**
   * Metadata's slot in this batch only. Metadata is mostly unique per entry
   * (trace ids), so it stays out of the label cache kept across batches:
   * there it would only fill the cache with strings of up to 64 KiB each.
   */
  private metaSlot(meta: string): LabelSlot {
    let s = this.metaSlots.get(meta);
    if (s === undefined) {
      s = { bytes: labelByteLength(meta, MAX_PAIRS_BYTES), epoch: -1, id: -1 };
      this.metaSlots.set(meta, s);
    }
    return s;
  }

  /** The cache slot of a label, measured (and checked against the limit) the first time it is seen. */
  private slot(label: string, limit = MAX_LABEL_BYTES): LabelSlot {
    let s = this.labelCache.get(label);
    if (s === undefined) {
      s = { bytes: labelByteLength(label, limit), epoch: -1, id: -1 };
      this.labelCache.set(label, s);
    }
    return s;
  }

  /** Gives a label its id in the current batch. */
  private intern(slot: LabelSlot, label: string): void {
    slot.id = this.labels.length;
    slot.epoch = this.epoch;
    this.labels.push(label);
    this.labelBytes += slot.bytes;
    this.dictReserve += 4 + slot.bytes;
  }

  private rejectIfEmpty(reason: string, needed: number): false {
    if (this.n === 0) {
      throw new TributaryError('E_BATCH_FULL', `${reason}: an empty batch of ${this.target.byteLength} bytes cannot hold this entry`, {
        targetBytes: this.target.byteLength,
        neededBytes: needed,
      });
    }
    return false;
  }
}

type Utf8Write = (this: Buffer, s: string, offset: number) => number;
const nativeUtf8Write = (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write;

/**
 * Encodes `s` at `offset`; the caller has checked that it fits. Buffer's
 * utf8Write is the native encoder behind buf.write(); calling it directly
 * skips write()'s argument normalisation, which profiled at a fifth of the
 * encode path. It has existed in every Node release; if it ever goes,
 * buf.write() takes over.
 */
const utf8Write: (buf: Buffer, s: string, offset: number) => number = nativeUtf8Write
  ? (buf, s, offset) => nativeUtf8Write.call(buf, s, offset)
  : (buf, s, offset) => buf.write(s, offset, 'utf8');

function labelByteLength(label: string, limit: number): number {
  const bytes = Buffer.byteLength(label, 'utf8');
  if (bytes > limit) {
    throw new TributaryError('E_ENTRY_INVALID', `label of ${bytes} bytes exceeds the ${limit}-byte limit`, {
      labelBytes: bytes,
      limit,
    });
  }
  return bytes;
}

function zeroGap(t: Uint8Array, from: number, to: number): void {
  if (to > from) t.fill(0, from, to);
}
