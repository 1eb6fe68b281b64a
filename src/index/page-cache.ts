import type { BlockIndex } from './block-format.js';
import { readPage } from './block-reader.js';
import { readBlockText, type BlockText } from './block-text.js';
import { PagePostings } from './postings.js';
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
/**
 * Bytes of dictionaries and templates kept, beside the pages' budget (a
 * block's templates: a few hundred KiB; pages ask for them through here, so
 * this bounds them). Too small, and a query re-reads templates per page.
 */
const TEXT_BYTES = 16 * 1024 * 1024;

/** Bytes of postings kept (a block's: a bit per label and page, about 100 KiB at 10,000 servers). */
const POSTING_BYTES = 8 * 1024 * 1024;

export class PageCache {
  private readonly pages = new Map<string, { page: Page; bytes: number }>();
  /** Dictionaries (v3) or templates (v4) of recently read blocks, most recently used last, within TEXT_BYTES. */
  private readonly texts = new Map<number, { text: BlockText; bytes: number }>();
  private textBytes = 0;
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  /** Postings of recently read blocks (postings.ts), most recently used last, within POSTING_BYTES. */
  private readonly postingsByBlock = new Map<number, { postings: PagePostings | null; bytes: number }>();
  private postingBytes = 0;

  /** A block's postings from label ids to pages (null before blocks v4), read once and kept while recently used. */
  postings(fs: StorageFs, block: BlockIndex): PagePostings | null {
    let e = this.postingsByBlock.get(block.id);
    if (e === undefined) {
      const postings = PagePostings.read(fs, block);
      e = { postings, bytes: 64 + (postings?.bytes ?? 0) };
      this.postingBytes += e.bytes;
      for (const [id, old] of this.postingsByBlock) {
        if (this.postingBytes <= POSTING_BYTES) break;
        this.postingsByBlock.delete(id);
        this.postingBytes -= old.bytes;
      }
    } else this.postingsByBlock.delete(block.id);
    this.postingsByBlock.set(block.id, e);
    return e.postings;
  }

  /** A block's dictionary or templates, read once and kept while it is among the recently used. */
  text(fs: StorageFs, block: BlockIndex): BlockText {
    let t = this.texts.get(block.id);
    if (t === undefined) {
      const text = readBlockText(fs, block);
      t = { text, bytes: text.templates === null ? text.dictionary.byteLength : text.templates.bytes };
      this.textBytes += t.bytes;
      for (const [id, old] of this.texts) {
        if (this.textBytes <= TEXT_BYTES) break;
        this.texts.delete(id);
        this.textBytes -= old.bytes;
      }
    } else this.texts.delete(block.id);
    this.texts.set(block.id, t);
    return t.text;
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
