import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nanoid } from 'nanoid';
import { TributaryError } from '../errors.js';
import { nodeFs, writeFileAtomic } from '../index/fs.js';
import type { RingInfo } from './transport.js';
import type { FilePosition } from './tailer.js';

/** One file's committed state: read to `offset`, and for each shard the next sequence number of its source. */
export interface FileCheckpoint extends FilePosition {
  /** Names this file's sources: `${collector}${serial}-${shard serial}`. */
  readonly serial: number;
  readonly next: Record<string, string>;
  /** Lines of this file refused as bad input (not shipped, not numbered). */
  readonly rejected?: number;
}

/** A source of a file no longer followed: how far it was numbered and committed. */
export interface RetiredSource {
  readonly source: string;
  readonly path: string;
  readonly committed: string;
}

/** What a collector committed for one source: every number below `committed` was acknowledged or buffered. */
export interface SourceCommit {
  readonly source: string;
  readonly path: string;
  readonly committed: number;
}

/** Retired sources kept in the checkpoint for accounting; older ones are dropped (their entries are long stored). */
export const MAX_RETIRED_SOURCES = 1000;

export interface CollectorState {
  readonly version: 1;
  /** The collector's own id (sources are named from it, so a restart resends under the same names). */
  readonly id: string;
  readonly nextSerial: number;
  /** Serial numbers of shard names (part of source names). */
  readonly shards: Record<string, number>;
  /** The last ring fetched: a collector restarted while no aggregator answers can still cut batches. */
  readonly ring?: RingInfo;
  readonly files: FileCheckpoint[];
  /** Sources of files let go, newest last, at most MAX_RETIRED_SOURCES. */
  readonly retired?: RetiredSource[];
  /**
   * Positions of the files let go most recently (newest last, bounded): a
   * file found again (a rename that raced a scan hid it from one listing)
   * resumes where it was, under its own sources, instead of being shipped
   * again from its start as a new file.
   */
  readonly letGo?: FileCheckpoint[];
}

/** A file's source for one shard: the collector's id, the file's serial, the shard's serial. */
export function sourceNameOf(id: string, fileSerial: number, shardSerial: number): string {
  return `${id}${fileSerial.toString(36)}-${shardSerial.toString(36)}`;
}

/** Every source the checkpoint knows (followed files and retired ones), with what is committed for it. */
export function committedSources(state: CollectorState): SourceCommit[] {
  const out: SourceCommit[] = (state.retired ?? []).map((r) => ({ source: r.source, path: r.path, committed: Number(r.committed) }));
  for (const f of state.files) {
    for (const [shard, next] of Object.entries(f.next)) {
      const serial = state.shards[shard];
      if (serial !== undefined) out.push({ source: sourceNameOf(state.id, f.serial, serial), path: f.path, committed: Number(next) });
    }
  }
  return out;
}

const FILE = 'checkpoint.json';

/** Reads the collector's state, or a fresh one (new id) when there is none yet. */
export function loadCollectorState(dir: string): CollectorState {
  mkdirSync(dir, { recursive: true });
  let text: string;
  try {
    text = readFileSync(join(dir, FILE), 'utf8');
  } catch {
    return { version: 1, id: nanoid(14), nextSerial: 0, shards: {}, files: [] };
  }
  try {
    const s = JSON.parse(text) as CollectorState;
    if (s.version !== 1 || typeof s.id !== 'string' || !Array.isArray(s.files)) throw new Error('unknown layout');
    return s;
  } catch (err) {
    // Written atomically (rename), so this is not a torn write: refuse rather than re-send everything under new names.
    throw new TributaryError(
      'E_CONFIG_INVALID',
      `collector checkpoint ${join(dir, FILE)} is unreadable: ${(err as Error).message}; move it away to start over`,
      {
        path: join(dir, FILE),
      },
    );
  }
}

/** Durable before it returns: temporary file, fsync, rename, fsync of the directory. */
export function saveCollectorState(dir: string, state: CollectorState): void {
  writeFileAtomic(nodeFs, dir, FILE, Buffer.from(JSON.stringify(state)));
}
