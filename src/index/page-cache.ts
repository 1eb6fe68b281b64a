import type { BlockIndex } from './block-format.js';
import { readDictionary, readPage } from './block-reader.js';
import type { StorageFs } from './fs.js';
import type { Page } from './page.js';

/**
 * Decoded pages of sealed blocks, least recently used first out, within a
 * byte budget. Blocks are immutable and their ids never reused, so a cached
 * page never goes stale: the pages of a compacted or retired block are
 * simply never asked for again and age out.
 *
 * Measured before it existed: every query decompressed its pages afresh
 * (brotli over ~800 KB of messages per 8192-entry page), which dominated
 * the latency of limited queries over recent data.
 */
export class PageCache {
  private readonly pages = new Map<string, { page: Page; bytes: number }>();
  /** Message dictionaries of version 3 blocks (up to 32 KiB each), most recently used last. */
  private readonly dictionaries = new Map<number, Uint8Array>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  /** A block's message dictionary, read once and kept (the 64 most recent blocks'). */
  dictionary(fs: StorageFs, block: BlockIndex): Uint8Array {
    let d = this.dictionaries.get(block.id);
    if (d === undefined) {
      d = readDictionary(fs, block);
      if (this.dictionaries.size >= 64) this.dictionaries.delete(this.dictionaries.keys().next().value!);
    } else this.dictionaries.delete(block.id);
    this.dictionaries.set(block.id, d);
    return d;
  }

  get(fs: StorageFs, block: BlockIndex, pageNo: number): Page {
    const key = `${block.id}:${pageNo}`;
    const hit = this.pages.get(key);
    if (hit) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.pages.delete(key);
      this.pages.set(key, hit);
      this.hits++;
      return hit.page;
    }
    this.misses++;
    // A page reports what it decodes as it decodes it (a version 3 page decodes frames
    // as a query reaches them): counted while the page is cached, evicting the oldest.
    const entry: { page: Page | undefined; bytes: number } = { page: undefined, bytes: 0 };
    const charge = (bytes: number) => {
      entry.bytes += bytes;
      if (this.pages.get(key) !== entry) return;
      this.bytes += bytes;
      this.evict();
    };
    const page = readPage(fs, block, pageNo, () => this.dictionary(fs, block), charge);
    entry.page = page;
    this.pages.set(key, entry as { page: Page; bytes: number });
    this.bytes += entry.bytes;
    this.evict();
    return page;
  }

  /** Drops the least recently used pages until the cache is within its bytes (the newest last of all). */
  private evict(): void {
    for (const [k, v] of this.pages) {
      if (this.bytes <= this.maxBytes) break;
      this.pages.delete(k);
      this.bytes -= v.bytes;
    }
  }

  get size(): { pages: number; bytes: number } {
    return { pages: this.pages.size, bytes: this.bytes };
  }
}
