import { BatchBuilder } from '../batch/builder.js';
import { UNSTAMPED_SOURCE } from '../batch/stamp.js';
import { FIXED_BYTES_PER_ENTRY, MAX_LABEL_BYTES, MAX_PAIRS_BYTES } from '../batch/layout.js';
import { decodePairs, encodeLabels, encodePairs, FIRST_CLASS_LABELS, sanitizeLabelName } from '../model/labels.js';
import type { Level } from '../model/level.js';
import { HashRing, streamKey } from '../shard/hash-ring.js';
import { fingerprintOf } from './content-dedup.js';
import { UNKNOWN_REGION, UNKNOWN_SERVER, UNKNOWN_SERVICE } from './formats/fields.js';

/** Why an entry was refused. Stable names: they are counters and API fields. */
export type RejectReason =
  | 'malformed_json'
  | 'malformed_protobuf'
  | 'malformed_syslog'
  | 'malformed_body'
  | 'no_match'
  | 'not_an_object'
  | 'line_too_long'
  | 'label_too_long'
  | 'too_many_labels'
  | 'label_invalid'
  | 'metadata_too_large'
  | 'unknown_level'
  | 'invalid_timestamp'
  | 'timestamp_out_of_range';

export interface Rejection {
  /** 1-based line (or entry) number within the request. */
  readonly line: number;
  readonly reason: RejectReason;
  readonly message: string;
}

/** Labels for entries whose sender names none (default unknown_service / unknown / unknown). */
export interface StreamDefaults {
  readonly service: string;
  readonly server: string;
  readonly region: string;
  /** Other stream labels every entry gets (a collector's configured labels), encoded; '' for none. */
  readonly labels: string;
}

export interface SinkOptions {
  /** Labels an entry gets when its line names none (a collector sets its host's name as the server, say). */
  readonly defaults?: Partial<Omit<StreamDefaults, 'labels'>>;
  /** Stream labels added to every entry (a collector's configured labels, say `env: prod`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Longest message accepted, in UTF-8 bytes (default 256 KiB, as Loki's max_line_size). */
  readonly maxLineBytes?: number;
  /** Oldest timestamp accepted, ns (default 1990-01-01): older is a unit mistake, not a log. */
  readonly minTs?: bigint;
  /** How far ahead of the parse thread's clock a timestamp may be, ns (default 24 hours). */
  readonly maxFutureNs?: bigint;
  /** Largest batch cut for one shard, bytes (default 1 MiB: a batch is one mailbox frame). */
  readonly maxBatchBytes?: number;
  /** Rejections reported one by one (the rest are only counted). Default 20. */
  readonly maxErrors?: number;
  /**
   * Content fingerprints for deduplicating resends (default true). Senders
   * that number their entries (collectors, import, the client) are
   * deduplicated by (source, seq) instead, and skip this: it is a quarter
   * of the parse time.
   */
  readonly fingerprints?: boolean;
  /** Stream labels beyond service, server and region an entry may carry (default 32). */
  readonly maxLabelsPerStream?: number;
  /** Longest label (or metadata) name, UTF-8 bytes (default 1024, as Loki's max_label_name_length). */
  readonly maxLabelNameBytes?: number;
  /** Longest label value, UTF-8 bytes (default 2048, as Loki's max_label_value_length). */
  readonly maxLabelValueBytes?: number;
  /** Largest structured metadata of one entry, names and values together, UTF-8 bytes (default 64 KiB, as Loki's limit). */
  readonly maxMetadataBytes?: number;
}

/** An encoded label or metadata set, or why it was refused. */
export type PairsCheck = string | { readonly reason: RejectReason; readonly message: string };

export interface ShardBatch {
  readonly shard: string;
  /** A LogBatch with the placeholder source: the edge stamps source and sequence before sending. */
  readonly bytes: Uint8Array;
  readonly count: number;
  /** Content fingerprints of the entries, in batch order (hi, lo pairs); empty when not asked for. */
  readonly prints: Uint32Array;
}

export interface ParseResult {
  readonly batches: ShardBatch[];
  readonly accepted: number;
  readonly rejected: Partial<Record<RejectReason, number>>;
  readonly errors: Rejection[];
}

const DEFAULT_MAX_LINE = 256 * 1024;
const MIN_TS = BigInt(Date.UTC(1990, 0, 1)) * 1_000_000n;
const DAY_NS = 86_400_000_000_000n;
/** Smallest message the builder plans columns for: small lines pack densely, and finish() returns the unused reserve. */
const PLANNED_BYTES_PER_ENTRY = FIXED_BYTES_PER_ENTRY + 24;

/** Rings per shard set: a parse thread serves many requests with the same shards. */
const rings = new Map<string, HashRing>();
function ringFor(shards: readonly string[]): HashRing {
  const key = shards.join('\u0000');
  let ring = rings.get(key);
  if (!ring) {
    if (rings.size > 16) rings.clear();
    rings.set(key, (ring = new HashRing(shards)));
  }
  return ring;
}

class ShardBuffer {
  builder: BatchBuilder | undefined;
  target = new Uint8Array(0);
  prints: number[] = [];
  constructor(readonly shard: string) {}
}

/**
 * Where parsers put entries: each entry is checked (timestamp window, label
 * and line sizes), routed to its shard by the same hash ring the writer
 * uses, encoded straight into that shard's LogBatch, and fingerprinted for
 * content deduplication. A bad entry is counted and reported by line and
 * reason; its neighbours go on. Runs on a parse thread.
 */
export class ShardSink {
  private readonly ring: HashRing;
  private readonly buffers = new Map<string, ShardBuffer>();
  private readonly done: ShardBatch[] = [];
  private readonly rejected: Partial<Record<RejectReason, number>> = {};
  private readonly errors: Rejection[] = [];
  private accepted = 0;
  /** Longest message accepted, UTF-8 bytes. */
  readonly maxLineBytes: number;
  readonly defaults: StreamDefaults;
  private readonly minTs: bigint;
  private readonly maxTs: bigint;
  private readonly maxBatch: number;
  private readonly maxErrors: number;
  private readonly fingerprints: boolean;
  private readonly maxLabels: number;
  private readonly maxNameBytes: number;
  private readonly maxValueBytes: number;
  private readonly maxMetaBytes: number;
  /** Target size of a new batch: no bigger than the request needs, no bigger than a frame. */
  private readonly firstTarget: number;

  constructor(shards: readonly string[], limits: SinkOptions = {}, requestBytes = 1 << 20) {
    this.ring = ringFor(shards);
    this.maxLineBytes = limits.maxLineBytes ?? DEFAULT_MAX_LINE;
    this.defaults = { service: UNKNOWN_SERVICE, server: UNKNOWN_SERVER, region: UNKNOWN_REGION, ...limits.defaults, labels: encodeLabels(limits.labels) };
    this.minTs = limits.minTs ?? MIN_TS;
    this.maxTs = BigInt(Date.now()) * 1_000_000n + (limits.maxFutureNs ?? DAY_NS);
    this.maxBatch = limits.maxBatchBytes ?? 1 << 20;
    this.maxErrors = limits.maxErrors ?? 20;
    this.fingerprints = limits.fingerprints ?? true;
    this.maxLabels = limits.maxLabelsPerStream ?? 32;
    this.maxNameBytes = limits.maxLabelNameBytes ?? 1024;
    this.maxValueBytes = limits.maxLabelValueBytes ?? 2048;
    this.maxMetaBytes = limits.maxMetadataBytes ?? 64 * 1024;
    this.firstTarget = Math.min(this.maxBatch, align8(2 * requestBytes + 8192));
  }

  reject(line: number, reason: RejectReason, message: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    if (this.errors.length < this.maxErrors) this.errors.push({ line, reason, message: message.length > 200 ? `${message.slice(0, 200)}...` : message });
  }

  /**
   * Checks and encodes a stream's other labels (`kind` 'labels') or an
   * entry's structured metadata ('metadata'): names are sanitized as Loki
   * does (`k8s.pod.name` -> `k8s_pod_name`), the first-class names
   * (service, server, region, level) are left to their columns, and the
   * configured limits apply. Call once per stream and reuse the answer.
   */
  checkPairs(kind: 'labels' | 'metadata', pairs: Iterable<readonly [string, string]>): PairsCheck {
    const out: [string, string][] = [];
    const what = kind === 'labels' ? 'label' : 'metadata';
    let bytes = 0;
    for (const [rawName, value] of pairs) {
      const name = sanitizeLabelName(rawName);
      if (kind === 'labels' && FIRST_CLASS_LABELS.has(name)) continue;
      if (name.startsWith('__'))
        return {
          reason: 'label_invalid',
          message: `${what} name ${JSON.stringify(name.slice(0, 40))} starts with __, which is reserved`,
        };
      if (value.includes('\u0000') || name.includes('\u0000'))
        return {
          reason: 'label_invalid',
          message: `${what} ${JSON.stringify(rawName.slice(0, 40))} holds a NUL character`,
        };
      const nameBytes = name.length > this.maxNameBytes / 3 ? Buffer.byteLength(name) : name.length;
      if (nameBytes > this.maxNameBytes)
        return {
          reason: 'label_too_long',
          message: `${what} name ${JSON.stringify(name.slice(0, 40))}... is over the ${this.maxNameBytes}-byte limit (maxLabelNameBytes)`,
        };
      const valueBytes = value.length > this.maxValueBytes / 3 ? Buffer.byteLength(value) : value.length;
      if (kind === 'labels' && valueBytes > this.maxValueBytes)
        return {
          reason: 'label_too_long',
          message: `label ${name}'s value of ${Buffer.byteLength(value)} bytes is over the ${this.maxValueBytes}-byte limit (maxLabelValueBytes)`,
        };
      bytes += nameBytes + valueBytes + 2;
      out.push([name, value]);
    }
    if (kind === 'labels' && out.length > this.maxLabels)
      return {
        reason: 'too_many_labels',
        message: `stream has ${out.length} labels beyond service, server and region, over the limit of ${this.maxLabels} (maxLabelsPerStream)`,
      };
    if (kind === 'metadata' && bytes > this.maxMetaBytes)
      return {
        reason: 'metadata_too_large',
        message: `structured metadata of about ${bytes} bytes is over the ${this.maxMetaBytes}-byte limit (maxMetadataBytes)`,
      };
    if (bytes > MAX_PAIRS_BYTES)
      return {
        reason: kind === 'labels' ? 'label_too_long' : 'metadata_too_large',
        message: `${kind} of ${bytes} bytes are over the ${MAX_PAIRS_BYTES}-byte format limit`,
      };
    return encodePairs(out);
  }

  /**
   * Adds one entry; returns false (and records why) when it is refused.
   * `labels` and `meta` are encoded sets from checkPairs ('' for none).
   */
  add(line: number, ts: bigint, level: Level, service: string, server: string, region: string, message: string, labels = '', meta = ''): boolean {
    if (this.defaults.labels !== '') labels = this.withDefaultLabels(labels);
    if (ts < this.minTs || ts > this.maxTs) {
      this.reject(line, 'timestamp_out_of_range', `timestamp ${ts} ns (${isoOf(ts)}) is outside the accepted window (1990 to 24 hours ahead)`);
      return false;
    }
    if (message.length > this.maxLineBytes / 3 && Buffer.byteLength(message) > this.maxLineBytes) {
      this.reject(line, 'line_too_long', `message of ${Buffer.byteLength(message)} bytes is over the ${this.maxLineBytes}-byte limit`);
      return false;
    }
    // Per entry, so no array of labels: only a label long enough to be over the limit is measured.
    const long = tooLong(service) ?? tooLong(server) ?? tooLong(region);
    if (long !== undefined) {
      this.reject(line, 'label_too_long', `label ${JSON.stringify(long.slice(0, 40))}... is over ${MAX_LABEL_BYTES} bytes`);
      return false;
    }
    const shard = this.ring.lookup(streamKey(service, server));
    let buf = this.buffers.get(shard);
    if (!buf) this.buffers.set(shard, (buf = new ShardBuffer(shard)));
    if (!buf.builder || !buf.builder.add(ts, level, service, server, region, message, labels, meta)) {
      // No batch yet, or it is full: cut it, and start one big enough for this entry.
      this.cut(buf);
      const need = align8(Buffer.byteLength(message) + 3 * MAX_LABEL_BYTES + 2 * (labels.length + meta.length) * 3 + 1024);
      const size = Math.min(this.maxBatch, Math.max(this.firstTarget, need));
      buf.target = new Uint8Array(size);
      buf.builder = new BatchBuilder(buf.target, {
        sourceId: UNSTAMPED_SOURCE,
        firstSeq: 0n,
        maxEntries: Math.max(1, Math.floor(size / PLANNED_BYTES_PER_ENTRY)),
      });
      try {
        buf.builder.add(ts, level, service, server, region, message, labels, meta);
      } catch (err) {
        // Larger than a whole batch (possible when maxBatchBytes is set below the line limit): this entry only.
        buf.builder = undefined;
        this.reject(line, 'line_too_long', `entry does not fit a ${size}-byte batch: ${(err as Error).message}`);
        return false;
      }
    }
    if (this.fingerprints) {
      const [hi, lo] = fingerprintOf(ts, level, service, server, region, message, labels, meta);
      buf.prints.push(hi, lo);
    }
    this.accepted++;
    return true;
  }

  private lastOwnLabels = '';
  private lastMergedLabels = '';

  /** The configured labels with the entry's own (its own win a name they share); the last merge is remembered, as streams repeat. */
  private withDefaultLabels(own: string): string {
    if (own === '') return this.defaults.labels;
    if (own !== this.lastOwnLabels) {
      this.lastOwnLabels = own;
      this.lastMergedLabels = encodePairs([...decodePairs(this.defaults.labels), ...decodePairs(own)]);
    }
    return this.lastMergedLabels;
  }

  finish(): ParseResult {
    for (const buf of this.buffers.values()) this.cut(buf);
    return { batches: this.done, accepted: this.accepted, rejected: this.rejected, errors: this.errors };
  }

  private cut(buf: ShardBuffer): void {
    const b = buf.builder;
    if (!b || b.count === 0) return;
    const count = b.count;
    const n = b.finish();
    // An exact copy: a full-size target would travel back to the main thread with its unused tail.
    this.done.push({ shard: buf.shard, bytes: buf.target.slice(0, n), count, prints: Uint32Array.from(buf.prints) });
    buf.builder = undefined;
    buf.prints = [];
  }
}

function tooLong(label: string): string | undefined {
  return label.length > MAX_LABEL_BYTES / 3 && Buffer.byteLength(label) > MAX_LABEL_BYTES ? label : undefined;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function isoOf(ts: bigint): string {
  const ms = Number(ts / 1_000_000n);
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : 'out of range';
}
