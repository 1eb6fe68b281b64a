import { NO_ID } from '../batch/layout.js';
import type { BatchReader } from '../batch/reader.js';
import { Wal, type WalOptions } from './wal.js';

/**
 * A shard's label dictionary: every service, server and region name gets a
 * small integer id, in first-seen order, kept in a write-ahead log of its own
 * (one record per name). Block indexes are bitsets over these ids, which is
 * what keeps them small: 100,000 distinct servers cost a block 12.5 KB of
 * index, not a megabyte of names. Ids never change and are never reused.
 */
export class LabelDictionary {
  private readonly ids = new Map<string, number>();
  private readonly names_: string[] = [];
  private readonly encoder = new TextEncoder();

  private constructor(private readonly wal: Wal) {}

  static open(dir: string, options: WalOptions = {}): LabelDictionary {
    const names: string[] = [];
    const decoder = new TextDecoder();
    const { wal } = Wal.open(dir, (r) => names.push(decoder.decode(r.payload)), options);
    const dict = new LabelDictionary(wal);
    for (const n of names) dict.remember(n);
    return dict;
  }

  get size(): number {
    return this.names_.length;
  }

  /** The id of `name`, assigning (and logging) a new one if needed. Call sync() before relying on it on disk. */
  idOf(name: string): number {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    // The empty label is logged as one NUL byte: the WAL has no zero-length records.
    this.wal.append(name === '' ? new Uint8Array([0]) : this.encoder.encode(name));
    return this.remember(name);
  }

  /**
   * Shard ids for the dictionary entries a batch's label columns use
   * (service, server, region, label sets), assigning new ones; NO_ID for the
   * rest. Metadata gets none: it is per entry, and giving every trace id a
   * shard id would grow this dictionary, kept forever, with every entry.
   */
  idsForBatch(r: BatchReader): Uint32Array {
    const dict = r.labels();
    const ids = new Uint32Array(dict.length).fill(NO_ID);
    for (const col of [r.serviceIds(), r.serverIds(), r.regionIds(), r.labelSetIds()]) {
      if (col === null) continue;
      for (let i = 0; i < col.length; i++) {
        const d = col[i]!;
        if (d !== NO_ID && ids[d] === NO_ID) ids[d] = this.idOf(dict[d]!);
      }
    }
    return ids;
  }

  /** Every name, indexed by id (read-only view). */
  get names(): readonly string[] {
    return this.names_;
  }

  name(id: number): string {
    return this.names_[id] ?? '';
  }

  lookup(name: string): number | undefined {
    return this.ids.get(name);
  }

  sync(): Promise<unknown> {
    return this.wal.sync();
  }

  close(): Promise<void> {
    return this.wal.close();
  }

  private remember(name: string): number {
    const decoded = name === '\u0000' ? '' : name;
    const id = this.names_.length;
    this.names_.push(decoded);
    this.ids.set(decoded, id);
    return id;
  }
}
