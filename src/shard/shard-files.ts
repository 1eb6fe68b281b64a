import { linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/** A shard's files as staged for archiving: hard links, so a compaction deleting one does not take it away mid-upload. */
export interface StagedFiles {
  readonly dir: string;
  /** Each file's path under `dir` and its size when staged (a label log grows: only this much is archived). */
  readonly files: readonly { readonly path: string; readonly bytes: number }[];
}

/**
 * Links a shard's sealed blocks and its label log into `to` (made afresh),
 * in one synchronous step on the shard's thread, so the set is the block
 * list of one moment: no compaction can swap it halfway.
 */
export function stageFiles(shardDir: string, blockPaths: readonly string[], to: string): StagedFiles {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(join(to, 'blocks'), { recursive: true });
  mkdirSync(join(to, 'labels'), { recursive: true });
  const files: { path: string; bytes: number }[] = [];
  const stage = (from: string, path: string) => {
    linkSync(from, join(to, path));
    files.push({ path, bytes: statSync(from).size });
  };
  for (const p of blockPaths) stage(p, `blocks/${basename(p)}`);
  for (const name of readdirSync(join(shardDir, 'labels')).sort()) stage(join(shardDir, 'labels', name), `labels/${name}`);
  return { dir: to, files };
}

/** Puts the directory `from` (a restored archive) in the place of `dir`, whatever `dir` held. */
export function replaceDirectory(dir: string, from: string): void {
  rmSync(dir, { recursive: true, force: true });
  renameSync(from, dir);
}
