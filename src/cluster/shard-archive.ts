import { createReadStream, createWriteStream, fsyncSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import { nanoid } from 'nanoid';
import { TributaryError } from '../errors.js';
import type { StagedFiles } from '../shard/shard-files.js';

/** One file of a shard's directory, as the archive keeps it. */
export interface ArchivedFile {
  /** Relative to the shard's directory: `blocks/000000000007.blk`, `labels/...wal`. */
  readonly path: string;
  /** Its object in the blocks object store. */
  readonly object: string;
  readonly bytes: number;
}

/**
 * What a shard is in the archive: its sealed blocks and its label
 * dictionary, and the stream position they cover. Every batch of the
 * shard's stream up to `seq` is in these files; a new owner restores them
 * and replays the stream after `seq`.
 */
export interface ShardManifest {
  readonly version: 1;
  readonly shard: string;
  readonly seq: number;
  readonly files: readonly ArchivedFile[];
  /** The member that wrote it, and when (ms since the epoch). */
  readonly writer: string;
  readonly at: number;
}

/** A manifest as read, with the KV revision a next write must name (0: the shard has none yet). */
export interface ManifestEntry {
  readonly manifest: ShardManifest | null;
  readonly revision: number;
}

/** Milliseconds a chunk's put may take before the upload fails (and the next checkpoint tries again). */
const CHUNK_TIMEOUT_MS = 10_000;

/**
 * The shards' durable copy in JetStream: sealed blocks and label logs in an
 * Object Store (replicated by NATS like every stream), one manifest per
 * shard in a KV bucket. A manifest is written by compare-and-set on its
 * revision, so a member that lost its lease without knowing cannot
 * overwrite what the new owner wrote; objects are named afresh at every
 * upload, so no write ever changes an object a manifest names.
 */
export class ShardArchive {
  constructor(
    private readonly objects: ObjectStore,
    private readonly manifests: KV,
  ) {}

  async read(shard: string): Promise<ManifestEntry> {
    const e = await this.manifests.get(shard);
    if (!e || e.operation !== 'PUT') return { manifest: null, revision: e?.revision ?? 0 };
    return { manifest: e.json<ShardManifest>(), revision: e.revision };
  }

  /** Downloads every file of `manifest` into `dir` (made fresh by the caller), each synced to disk. */
  async restore(manifest: ShardManifest, dir: string): Promise<void> {
    for (const f of manifest.files) {
      const path = join(dir, f.path);
      mkdirSync(dirname(path), { recursive: true });
      const got = await this.objects.get(f.object);
      if (!got)
        throw new TributaryError('E_UNAVAILABLE', `${manifest.shard}: archived file ${f.path} is missing from the object store`, {
          shard: manifest.shard,
          file: f.path,
        });
      await pipeline(Readable.fromWeb(got.data as WebReadableStream<Uint8Array>), createWriteStream(path));
      const failed = await got.error; // a digest that does not match, or a chunk that did not come
      if (failed)
        throw new TributaryError(
          'E_UNAVAILABLE',
          `${manifest.shard}: archived file ${f.path} could not be read: ${failed.message}`,
          { shard: manifest.shard, file: f.path },
          { cause: failed },
        );
      const fd = openSync(path, 'r+');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  /**
   * Archives the staged files as the shard's state through stream sequence
   * `seq`: uploads those the previous manifest lacks (a block is immutable,
   * a label log only grows: same path and size, same bytes), writes the
   * manifest over `prev` (E_CONFLICT when someone else wrote it meanwhile:
   * the caller has lost the shard), then deletes the objects no manifest
   * names any more.
   */
  async checkpoint(shard: string, staged: StagedFiles, seq: number, prev: ManifestEntry, writer: string): Promise<ManifestEntry> {
    const known = new Map((prev.manifest?.files ?? []).map((f) => [`${f.path}\u0000${f.bytes}`, f]));
    const files: ArchivedFile[] = [];
    const uploaded: string[] = [];
    // A manifest write that timed out may still have landed: then its objects must stay.
    let maybeNamed = false;
    try {
      for (const f of staged.files) {
        const same = known.get(`${f.path}\u0000${f.bytes}`);
        if (same) {
          files.push(same);
          continue;
        }
        const object = `${shard}/${nanoid()}`;
        uploaded.push(object);
        if (f.bytes === 0) await this.objects.putBlob({ name: object }, new Uint8Array(0));
        else {
          const source = Readable.toWeb(createReadStream(join(staged.dir, f.path), { start: 0, end: f.bytes - 1 })) as ReadableStream<Uint8Array>;
          await this.objects.put({ name: object }, source, { timeout: CHUNK_TIMEOUT_MS });
        }
        files.push({ path: f.path, object, bytes: f.bytes });
      }
      const manifest: ShardManifest = { version: 1, shard, seq, files, writer, at: Date.now() };
      const body = JSON.stringify(manifest);
      let revision: number;
      try {
        maybeNamed = true;
        revision = prev.revision === 0 ? await this.manifests.create(shard, body) : await this.manifests.update(shard, body, prev.revision);
      } catch (err) {
        if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
        maybeNamed = false; // refused: no manifest names them
        throw new TributaryError('E_CONFLICT', `${shard}: another member wrote its archive meanwhile`, { shard }, { cause: err });
      }
      const kept = new Set(files.map((f) => f.object));
      for (const f of prev.manifest?.files ?? []) if (!kept.has(f.object)) await this.objects.delete(f.object).catch(() => {});
      return { manifest, revision };
    } catch (err) {
      // What this attempt uploaded is named by no manifest: it goes, so a failed checkpoint leaves nothing behind.
      if (!maybeNamed) for (const o of uploaded) await this.objects.delete(o).catch(() => {});
      throw err;
    }
  }
}
