import zlib from 'node:zlib';
import type { BlockIndex } from './block-format.js';
import { checkedBody, corrupt, readRange } from './block-io.js';
import type { StorageFs } from './fs.js';
import { Templates } from './templates.js';

/** What every frame of a block decodes its messages with: a dictionary (version 3) or templates (4). */
export type BlockText = { readonly templates: null; readonly dictionary: Uint8Array } | { readonly templates: Templates; readonly dictionary: null };

/** The block's message dictionary or templates, checked (an empty dictionary before version 3). */
export function readBlockText(fs: StorageFs, index: BlockIndex): BlockText {
  const section = index.templates ?? index.dictionary;
  if (section === undefined) return { templates: null, dictionary: new Uint8Array(0) };
  const what = index.templates ? 'templates' : 'dictionary';
  const bytes = readRange(fs, index.path, section.offset, section.length);
  if (bytes.byteLength !== section.length || section.length < 4) throw corrupt(index.path, `${what} section is truncated`, { offset: section.offset });
  const z = checkedBody(bytes);
  if (z === null) throw corrupt(index.path, `${what} checksum mismatch`, { offset: section.offset });
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(zlib.inflateRawSync(z));
  } catch (err) {
    throw corrupt(index.path, `${what} section does not decompress: ${(err as Error).message}`, { offset: section.offset });
  }
  if (!index.templates) return { templates: null, dictionary: raw };
  const templates = Templates.parse(raw);
  if (templates === null) throw corrupt(index.path, 'templates do not parse', { offset: section.offset });
  return { templates, dictionary: null };
}
