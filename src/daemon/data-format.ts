import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TributaryError } from '../errors.js';

/**
 * The data directory's format, in `<dataDir>/FORMAT`:
 *   3  blocks v3: pages in stream order with message frames (block-format.ts)
 *   2  the open label model (LogBatch v2 and block v2: stream labels and structured metadata)
 *   1  a directory without the file but with shards, from a release before 2
 * An older directory's blocks and WAL records are read in place, and new
 * seals and compactions write the current blocks, so the directory converts
 * as it turns over, with no offline step. A release that knows only an older
 * format refuses this one before touching it.
 */
export const DATA_FORMAT = 4;
const FILE = 'FORMAT';

export interface FormatCheck {
  /** The format found (1 for an older release's directory without the file), or null for a new directory. */
  readonly found: number | null;
  /** One line for the log: what the start did about the format. */
  readonly line: string;
}

/**
 * Reads the format, refuses one newer than this build knows (E_FORMAT_TOO_NEW:
 * nothing is opened, so nothing is changed), and records the current one.
 */
export function checkDataFormat(dataDir: string, previousRun: boolean): FormatCheck {
  const path = join(dataDir, FILE);
  let found: number | null = previousRun ? 1 : null;
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    const m = /^tributary-data-format (\d+)$/.exec(text);
    if (!m) throw new TributaryError('E_STORAGE_UNWRITABLE', `${path} is not a Tributary format file: ${JSON.stringify(text.slice(0, 60))}`, { path });
    found = Number(m[1]);
  }
  if (found !== null && found > DATA_FORMAT) {
    throw new TributaryError(
      'E_FORMAT_TOO_NEW',
      `data directory ${dataDir} is in format ${found}, newer than this build reads (up to ${DATA_FORMAT}): run the release that wrote it, or a newer one`,
      { path, version: found, supported: DATA_FORMAT },
    );
  }
  writeFileSync(path, `tributary-data-format ${DATA_FORMAT}\n`);
  const line =
    found === null
      ? `storage format ${DATA_FORMAT}: new data directory`
      : found < DATA_FORMAT
        ? `storage format: data directory of format ${found} read in place (its blocks and WAL stay as they are; new blocks are written in format ${DATA_FORMAT}, so it converts as it is sealed, compacted and retired)`
        : `storage format ${DATA_FORMAT}`;
  return { found, line };
}
