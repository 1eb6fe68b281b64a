import type { BlockIndex } from './block-format.js';
import { BlockPage } from './block-reader.js';
import type { StorageFs } from './fs.js';

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
  private readonly pages = new Map<string, { page: BlockPage; bytes: number }>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  get(fs: StorageFs, block: BlockIndex, pageNo: number): BlockPage {
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
    const page = BlockPage.read(fs, block, pageNo);
    // Decoded size, estimated up front: fixed columns plus messages (compressed ~6x on typical logs).
    const bytes = page.count * 40 + block.pages[pageNo]!.length * 6;
    if (bytes <= this.maxBytes) {
      this.pages.set(key, { page, bytes });
      this.bytes += bytes;
      for (const [k, v] of this.pages) {
        if (this.bytes <= this.maxBytes) break;
        this.pages.delete(k);
        this.bytes -= v.bytes;
      }
    }
    return page;
  }

  get size(): { pages: number; bytes: number } {
    return { pages: this.pages.size, bytes: this.bytes };
  }
}
