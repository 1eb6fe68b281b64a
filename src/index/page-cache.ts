import type { BlockIndex } from './block-format.js';
import { readPage } from './block-reader.js';
import { readBlockText, type BlockText } from './block-text.js';
import { PagePostings } from './postings.js';
import type { StorageFs } from './fs.js';
import type { Page } from './page.js';

/**
 * Shares of the cache's one budget. Dictionaries and templates: a block's
 * are a few hundred KiB, and pages ask for them through here; too small a
 * share, and a query re-reads templates per page. Postings: a bit per label
 * and page, about 100 KiB a block at 10,000 servers. Each share has a cap,
 * past which the pages take the rest.
 */
const TEXT_SHARE = 0.4;
const TEXT_MAX_BYTES = 16 * 1024 * 1024;
const POSTING_SHARE = 0.2;
const POSTING_MAX_BYTES = 8 * 1024 * 1024;

/** One value per block, read once and kept while among the recently used, within a byte budget. */
class BlockLru<V> {
  private readonly entries = new Map<number, { value: V; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
  ) {}

  get(block: BlockIndex, load: () => V): V {
    let e = this.entries.get(block.id);
    if (e === undefined) {
      const value = load();
      e = { value, bytes: this.sizeOf(value) };
      this.bytes += e.bytes;
      for (const [id, old] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(id);
        this.bytes -= old.bytes;
      }
    } else this.entries.delete(block.id); // re-inserted below: Map order is recency
    this.entries.set(block.id, e);
    return e.value;
  }
}

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
  /** Dictionaries (v3) or templates (v4) of recently read blocks. */
  private readonly texts: BlockLru<BlockText>;
  /** Postings of recently read blocks (postings.ts). */
  private readonly postingsOf: BlockLru<PagePostings | null>;
  /** What the decoded pages may hold: the budget less the texts' and postings' shares. */
  private readonly maxBytes: number;
  private bytes = 0;
  hits = 0;
  misses = 0;

  /** `budgetBytes` bounds everything the cache holds: pages, texts and postings together (their shares may be given). */
  constructor(
    budgetBytes: number,
    shares: { textBytes: number; postingBytes: number } = {
      textBytes: Math.min(TEXT_MAX_BYTES, Math.floor(budgetBytes * TEXT_SHARE)),
      postingBytes: Math.min(POSTING_MAX_BYTES, Math.floor(budgetBytes * POSTING_SHARE)),
    },
  ) {
    const { textBytes, postingBytes } = shares;
    this.texts = new BlockLru<BlockText>(textBytes, (t) => (t.templates === null ? t.dictionary.byteLength : t.templates.bytes));
    this.postingsOf = new BlockLru<PagePostings | null>(postingBytes, (p) => 64 + (p?.bytes ?? 0));
    this.maxBytes = budgetBytes - textBytes - postingBytes;
  }

  /** A block's postings from label ids to pages (null before blocks v4). */
  postings(fs: StorageFs, block: BlockIndex): PagePostings | null {
    return this.postingsOf.get(block, () => PagePostings.read(fs, block));
  }

  /** A block's dictionary or templates. */
  text(fs: StorageFs, block: BlockIndex): BlockText {
    return this.texts.get(block, () => readBlockText(fs, block));
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
    const page = readPage(fs, block, pageNo, () => this.text(fs, block), charge);
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
