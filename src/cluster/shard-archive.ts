import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { DirectStreamAPI } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import { nanoid } from 'nanoid';
import { isTributaryError, TributaryError } from '../errors.js';
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
    /** The same bucket on a client that gives up sooner: a takeover reads through it and, failing, tries again next tick. */
    private readonly quickManifests: KV,
    /**
     * Direct gets on the Object Store's stream, to read objects chunk by
     * chunk. The client's own get reads through an ephemeral ordered
     * consumer, and on nats-server 2.9 creating one timed out again and
     * again for over 40 s after a NATS node was killed (the failure test):
     * a takeover would wait that long. A direct get needs no consumer.
     */
    private readonly direct: { readonly api: DirectStreamAPI; readonly stream: string; readonly bucket: string },
  ) {}

  async read(shard: string): Promise<ManifestEntry> {
    const e = await this.quickManifests.get(shard);
    if (!e || e.operation !== 'PUT') return { manifest: null, revision: e?.revision ?? 0 };
    return { manifest: e.json<ShardManifest>(), revision: e.revision };
  }

  /**
   * Takes the shard's archive for a new owner: reads the manifest and
   * writes it back unchanged but for its writer, by compare-and-set. The
   * revision moves, so a checkpoint a previous owner still has in flight
   * (it lost its lease without knowing yet) fails its own compare-and-set
   * instead of overwriting the manifest and trimming the stream under the
   * new owner. Resolves with what was read (what the new owner restores)
   * and the revision its first checkpoint must name; E_CONFLICT if a write
   * came between the read and the claim (the caller tries again).
   */
  async claim(shard: string, owner: string): Promise<{ read: ManifestEntry; claimed: ManifestEntry }> {
    const read = await this.read(shard);
    const manifest: ShardManifest = { ...(read.manifest ?? { version: 1, shard, seq: 0, files: [] }), writer: owner, at: Date.now() };
    const revision = await writeManifest(this.quickManifests, manifest, read.revision, 'its archive was written while this member took it');
    return { read, claimed: { manifest, revision } };
  }

  /** Downloads every file of `manifest` into `dir` (made fresh by the caller), each synced to disk. */
  async restore(manifest: ShardManifest, dir: string): Promise<void> {
    for (const f of manifest.files) {
      const path = join(dir, f.path);
      mkdirSync(dirname(path), { recursive: true });
      const missing = () =>
        new TributaryError('E_UNAVAILABLE', `${manifest.shard}: archived file ${f.path} is missing from the object store`, {
          shard: manifest.shard,
          file: f.path,
        });
      const unreadable = (why: Error) =>
        new TributaryError(
          'E_UNAVAILABLE',
          `${manifest.shard}: archived file ${f.path} could not be read: ${why.message}`,
          { shard: manifest.shard, file: f.path },
          { cause: why },
        );
      const info = await this.objects.info(f.object);
      if (!info || info.deleted) throw missing();
      await this.download(info, path).catch((err: Error) => {
        throw unreadable(err);
      });
    }
  }

  /** An object's chunks, one direct get each (next message on its chunk subject), into `path`, its digest checked, synced. */
  private async download(info: { nuid: string; size: number; digest: string }, path: string): Promise<void> {
    const { api, stream, bucket } = this.direct;
    const subject = `$O.${bucket}.C.${info.nuid}`;
    const sha = createHash('sha256');
    const fd = openSync(path, 'w');
    try {
      let seq = 0;
      let bytes = 0;
      while (bytes < info.size) {
        const m = await api.getMessage(stream, { next_by_subj: subject, seq: seq + 1 });
        if (!m) throw new Error(`the chunk after byte ${bytes} of ${info.size} is missing`);
        seq = m.seq;
        writeSync(fd, m.data);
        sha.update(m.data);
        bytes += m.data.byteLength;
      }
      const digest = `SHA-256=${sha.digest('base64url')}`;
      // The client writes the digest in base64url with its padding; compared without it.
      if (digest.replace(/=+$/, '') !== info.digest.replace(/=+$/, '')) throw new Error(`its digest does not match (${digest}, archived ${info.digest})`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
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
      maybeNamed = true;
      const revision = await writeManifest(this.manifests, manifest, prev.revision, 'another member wrote its archive meanwhile').catch((err: unknown) => {
        if (isTributaryError(err, 'E_CONFLICT')) maybeNamed = false; // refused: no manifest names them
        throw err;
      });
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

/**
 * Writes `manifest` over revision `prev` (0: the shard has none yet) by
 * compare-and-set; E_CONFLICT, saying `conflict`, when another write came
 * first. Resolves with the new revision.
 */
async function writeManifest(kv: KV, manifest: ShardManifest, prev: number, conflict: string): Promise<number> {
  const body = JSON.stringify(manifest);
  try {
    return prev === 0 ? await kv.create(manifest.shard, body) : await kv.update(manifest.shard, body, prev);
  } catch (err) {
    if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
    throw new TributaryError('E_CONFLICT', `${manifest.shard}: ${conflict}`, { shard: manifest.shard }, { cause: err });
  }
}
