import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActorRef } from '../actors/behaviour.js';
import type { ActorSystem } from '../actors/system.js';
import type { MemberHost } from '../cluster/member.js';
import type { ManifestEntry } from '../cluster/shard-archive.js';
import { TributaryError } from '../errors.js';
import type { ActorShardSink } from '../shard/sharded-writer.js';
import { replaceDirectory, type StagedFiles } from '../shard/shard-files.js';

/** Which archive revision a local shard directory is a copy of (written after it restored or archived one). */
const MARKER = 'archive.json';
/** A seal of a full memtable and its staging: generous, a checkpoint that takes longer is retried at the next. */
const STAGE_TIMEOUT_MS = 120_000;
/** Closing a store and reopening it on restored files. */
const ADOPT_TIMEOUT_MS = 60_000;

/** What a cluster member needs of the daemon's local shards. */
export interface LocalShards {
  readonly system: ActorSystem;
  /** The data directory's shards folder. */
  readonly dir: string;
  /** The daemon's shard actors (this adds to it). */
  readonly refs: ActorRef[];
  readonly sink: ActorShardSink;
  spawnShard(name: string): Promise<ActorRef>;
  stored(shard: string, bytes: Uint8Array): void;
  readonly log: MemberHost['log'];
}

/**
 * The daemon's side of cluster membership: local shards made from the
 * archive, staged for it, and marked with the revision they copy. A shard
 * directory whose marker names the archive's current revision is that
 * archive plus what this member stored since, so it is kept; any other is
 * replaced by a fresh restore (a copy from before another member owned the
 * shard would lack what that member stored, and hold what it trimmed).
 */
export function clusterHost(local: LocalShards): MemberHost {
  const refOf = (shard: string): ActorRef => {
    const ref = local.refs.find((r) => r.name === shard);
    if (!ref) throw new TributaryError('E_NOT_FOUND', `${shard} is not open here`, { shard });
    return ref;
  };
  return {
    async adoptShard(shard: string, entry: ManifestEntry, restore: (dir: string) => Promise<void>): Promise<void> {
      const dir = join(local.dir, shard);
      const open = local.refs.find((r) => r.name === shard);
      if (entry.revision === 0 || archivedRevision(dir) !== entry.revision) {
        const incoming = join(local.dir, `.restoring-${shard}`);
        rmSync(incoming, { recursive: true, force: true });
        mkdirSync(incoming, { recursive: true });
        try {
          await restore(incoming);
          markArchived(incoming, entry.revision);
          if (open) await local.system.ask(open, { op: 'adopt', from: incoming }, { timeoutMs: ADOPT_TIMEOUT_MS });
          else replaceDirectory(dir, incoming);
        } finally {
          rmSync(incoming, { recursive: true, force: true });
        }
      }
      if (!open) {
        const ref = await local.spawnShard(shard);
        local.refs.push(ref);
        local.sink.add(shard, ref);
      }
    },
    markArchived: (shard, revision) => markArchived(join(local.dir, shard), revision),
    stageShard: (shard) =>
      local.system.ask<StagedFiles>(refOf(shard), { op: 'checkpoint', to: join(local.dir, `.staged-${shard}`) }, { timeoutMs: STAGE_TIMEOUT_MS }),
    archived(shard, staged, revision) {
      rmSync(staged.dir, { recursive: true, force: true });
      if (revision !== undefined) markArchived(join(local.dir, shard), revision);
    },
    store: (shard, bytes) => local.sink.deliver(shard, bytes),
    stored: local.stored,
    log: local.log,
  };
}

/** Removes what an interrupted restore or checkpoint left in the shards folder. */
export function removeLeftovers(shardsDir: string, names: readonly string[]): void {
  for (const n of names) if (n.startsWith('.restoring-') || n.startsWith('.staged-')) rmSync(join(shardsDir, n), { recursive: true, force: true });
}

function archivedRevision(dir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { revision?: number }).revision;
  } catch {
    return undefined; // none, or unreadable: the directory is restored afresh
  }
}

function markArchived(dir: string, revision: number): void {
  if (revision === 0) return;
  const tmp = join(dir, `${MARKER}.tmp`);
  writeFileSync(tmp, JSON.stringify({ revision }));
  renameSync(tmp, join(dir, MARKER));
}
