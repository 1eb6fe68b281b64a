import zlib from 'node:zlib';
import { TributaryError } from '../errors.js';
import { crc32 } from '../batch/crc32.js';
import {
  BLOCK_HEADER_BYTES,
  BLOCK_MAGIC,
  BLOCK_TRAILER_BYTES,
  BLOCK_MIN_VERSION,
  BLOCK_VERSION,
  NO_SET,
  type BlockIndex,
  type BlockSource,
  type PageIndex,
} from './block-format.js';
import { corrupt, readAt, readRange } from './block-io.js';
import type { Page } from './page.js';
import { ColumnPage } from './page-v2.js';
import { StreamPage } from './page-v3.js';
import type { StorageFs } from './fs.js';
import { decodeRollup, type Rollup } from './rollup.js';
import { readBlockText, type BlockText } from './block-text.js';
import { pairsObject, type PairsCache, type Labels } from '../model/labels.js';

/** Opens a block's index: header, trailer and footer, all checked. Throws E_BLOCK_CORRUPT. */
export function readBlockIndex(fs: StorageFs, path: string, id: number): BlockIndex {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSize(fd);
    if (size < BLOCK_HEADER_BYTES + BLOCK_TRAILER_BYTES) throw corrupt(path, `file of ${size} bytes is too short`, { size });
    const header = readAt(fs, fd, 0, BLOCK_HEADER_BYTES);
    const hv = new DataView(header.buffer);
    if (hv.getUint32(0, true) !== BLOCK_MAGIC) throw corrupt(path, 'bad magic');
    const version = hv.getUint16(4, true);
    if (version > BLOCK_VERSION)
      throw new TributaryError(
        'E_FORMAT_TOO_NEW',
        `block ${path} is in format version ${version}, newer than this build reads (${BLOCK_MIN_VERSION} to ${BLOCK_VERSION}): run a newer Tributary on this data directory`,
        { path, version, supported: BLOCK_VERSION },
      );
    if (version < BLOCK_MIN_VERSION) throw corrupt(path, `unsupported version ${version}`);
    const trailer = readAt(fs, fd, size - BLOCK_TRAILER_BYTES, BLOCK_TRAILER_BYTES);
    const tv = new DataView(trailer.buffer);
    const footerOffset = Number(tv.getBigUint64(0, true));
    const footerLength = tv.getUint32(8, true);
    if (footerOffset + footerLength + BLOCK_TRAILER_BYTES !== size)
      throw corrupt(path, 'trailer does not match the file size', { size, footerOffset, footerLength });
    const footer = readAt(fs, fd, footerOffset, footerLength);
    if (crc32(footer) !== tv.getUint32(12, true)) throw corrupt(path, 'footer checksum mismatch', { offset: footerOffset });
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(new TextDecoder().decode(footer)) as Record<string, unknown>;
    } catch (err) {
      throw corrupt(path, `footer is not JSON: ${(err as Error).message}`);
    }
    const index = parseIndex(raw, path, id, size, version);
    if (index.entries !== hv.getUint32(8, true) || index.pages.length !== hv.getUint32(12, true)) throw corrupt(path, 'header and footer disagree');
    for (const p of index.pages) {
      if (p.offset < BLOCK_HEADER_BYTES || p.offset + p.length > footerOffset) throw corrupt(path, 'page outside the data area', { offset: p.offset });
      if (version >= 3 && !(Number.isInteger(p.head) && p.head! > 0 && p.head! <= p.length))
        throw corrupt(path, 'page head outside the page', { offset: p.offset });
    }
    const d = version === 3 ? index.dictionary : version >= 4 ? index.templates : null;
    if (d !== null && (d === undefined || !(d.offset >= BLOCK_HEADER_BYTES && d.offset + d.length <= footerOffset)))
      throw corrupt(path, `${version === 3 ? 'dictionary' : 'templates'} outside the data area`);
    const ps = index.postings;
    if (ps !== undefined && !(ps.offset >= BLOCK_HEADER_BYTES && ps.offset + ps.length <= footerOffset)) throw corrupt(path, 'postings outside the data area');
    return index;
  } finally {
    fs.closeSync(fd);
  }
}

function parseIndex(raw: Record<string, unknown>, path: string, id: number, bytes: number, version: number): BlockIndex {
  try {
    const pages = (raw.pages as Record<string, unknown>[]).map((p): PageIndex => ({
      offset: Number(p.offset),
      length: Number(p.length),
      ...(version >= 3 ? { head: Number(p.head) } : {}),
      count: Number(p.count),
      minTs: BigInt(p.minTs as string),
      maxTs: BigInt(p.maxTs as string),
      levels: p.levels as [number, number, number, number],
    }));
    const labels = raw.labels as Record<string, string>;
    const bits = (b64: string) => new Uint8Array(zlib.inflateRawSync(Buffer.from(b64, 'base64')));
    return {
      id,
      version,
      path,
      bytes,
      entries: Number(raw.entries),
      minTs: BigInt(raw.minTs as string),
      maxTs: BigInt(raw.maxTs as string),
      levels: raw.levels as [number, number, number, number],
      pages,
      sources: raw.sources as BlockSource[],
      labels: {
        service: bits(labels.service!),
        server: bits(labels.server!),
        region: bits(labels.region!),
        ...(labels.set !== undefined ? { set: bits(labels.set) } : {}),
      },
      unlabelled: version < 2 ? true : raw.unlabelled === true,
      walEnd: raw.walEnd as BlockIndex['walEnd'],
      sealedAt: Number(raw.sealedAt),
      replaces: Array.isArray(raw.replaces) ? (raw.replaces as number[]) : undefined,
      rollup: raw.rollup ? (raw.rollup as { offset: number; length: number }) : undefined,
      dictionary: version === 3 ? (raw.dictionary as { offset: number; length: number }) : undefined,
      templates: version >= 4 ? (raw.templates as { offset: number; length: number; raw: boolean }) : undefined,
      postings: version >= 4 && raw.postings ? (raw.postings as { offset: number; length: number }) : undefined,
    };
  } catch (err) {
    throw corrupt(path, `footer has the wrong shape: ${(err as Error).message}`);
  }
}

/** The block's per-minute roll-ups, or null if it has none (or they fail their CRC: count by scanning then). */
export function readRollup(fs: StorageFs, index: BlockIndex): Rollup | null {
  if (!index.rollup) return null;
  return decodeRollup(readRange(fs, index.path, index.rollup.offset, index.rollup.length), index.version);
}

/**
 * Reads page `pageNo` of a block in whichever layout its version has.
 * `text` gives the block's dictionary or templates (cached by the caller:
 * every page of a block shares them). `charge` is told of the bytes the page
 * keeps as it decodes (a version 1-2 page: an estimate, up front).
 */
export function readPage(fs: StorageFs, index: BlockIndex, pageNo: number, text: () => BlockText, charge: (bytes: number) => void = () => {}): Page {
  if (index.version >= 3) return StreamPage.read(fs, index, pageNo, text, charge);
  const page = ColumnPage.read(fs, index, pageNo);
  // Fixed columns plus messages (compressed ~6x on typical logs), all decoded in time.
  charge(page.count * 40 + index.pages[pageNo]!.length * 6);
  return page;
}

/** Reads the pages of one block in turn, its dictionary or templates read once (compaction, tools). */
export function blockPages(fs: StorageFs, index: BlockIndex): (pageNo: number) => Page {
  let text: BlockText | undefined;
  return (pageNo) => readPage(fs, index, pageNo, () => (text ??= readBlockText(fs, index)));
}

/**
 * The `labels` and `metadata` fields of entry i of a page, to spread into
 * an entry (`set`: its label-set id): absent when it has none. Label sets are decoded through `cache`
 * (entries of one stream share one object).
 */
export function pageEntryExtras(
  page: Page,
  i: number,
  set: number,
  labelName: (id: number) => string,
  cache: PairsCache,
): { labels?: Labels; metadata?: Labels } {
  const meta = page.meta(i);
  if (set === NO_SET && meta === '') return NO_EXTRAS;
  return {
    ...(set === NO_SET ? {} : { labels: cache.get(labelName(set)) }),
    ...(meta === '' ? {} : { metadata: pairsObject(meta) }),
  };
}
const NO_EXTRAS = Object.freeze({});
