import test, { type ExecutionContext } from 'ava';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { KV } from '@nats-io/kv';
import { connectNats } from '../../src/cluster/nats.js';
import { ShardArchive, type ManifestEntry } from '../../src/cluster/shard-archive.js';
import { isTributaryError } from '../../src/errors.js';
import type { StagedFiles } from '../../src/shard/shard-files.js';
import { natsServer, startNats } from '../helpers/cluster.js';
import { tempDir } from '../helpers/system.js';

/**
 * The archive against a real JetStream (one node): a checkpoint uploads
 * what the previous manifest lacks and drops what it no longer names; a
 * manifest written meanwhile by another member is a conflict; a failed
 * checkpoint leaves no object behind; a restore gives back the files.
 */

const natsTest = natsServer ? test.serial : test.skip;

async function archive(t: ExecutionContext): Promise<{ archive: ShardArchive; objects: ObjectStore; manifests: KV }> {
  const nats = await startNats(t, 1);
  const nc = await connectNats({ servers: nats.servers });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  const objects = await new Objm(js).create('test_blocks');
  const manifests = await new Kvm(js).create('test_manifests', { history: 1 });
  const direct = { api: (await jetstreamManager(nc)).direct, stream: 'OBJ_test_blocks', bucket: 'test_blocks' };
  return { archive: new ShardArchive(objects, manifests, manifests, direct), objects, manifests };
}

/** A staging folder holding `files` (path -> content). */
function staged(t: ExecutionContext, files: Record<string, string | Uint8Array>): StagedFiles {
  const dir = tempDir(t);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return { dir, files: Object.entries(files).map(([path, c]) => ({ path, bytes: typeof c === 'string' ? Buffer.byteLength(c) : c.byteLength })) };
}

const objectNames = async (objects: ObjectStore) =>
  (await objects.list())
    .filter((o) => !o.deleted)
    .map((o) => o.name)
    .sort();
const none: ManifestEntry = { manifest: null, revision: 0 };

natsTest('checkpoints upload only what is new, drop what is gone, and a restore gives the files back byte for byte', async (t) => {
  const { archive: a, objects } = await archive(t);
  const big = new Uint8Array(300_000).map((_, i) => (i * 7) % 251); // several chunks
  const first = await a.checkpoint('shard-0', staged(t, { 'blocks/1.blk': big, 'labels/0.wal': 'svc' }), 10, none, 'm-a');
  t.is(first.manifest!.seq, 10);
  t.is((await objectNames(objects)).length, 2);
  // The label log grew and a block was compacted away into a new one: two uploads, one object dropped, one kept.
  const second = await a.checkpoint('shard-0', staged(t, { 'blocks/1.blk': big, 'blocks/2.blk': 'b2', 'labels/0.wal': 'svc srv' }), 25, first, 'm-a');
  const kept = first.manifest!.files.find((f) => f.path === 'blocks/1.blk')!;
  t.is(second.manifest!.files.find((f) => f.path === 'blocks/1.blk')!.object, kept.object, 'an unchanged block is not uploaded again');
  t.deepEqual(await objectNames(objects), second.manifest!.files.map((f) => f.object).sort(), 'the old label log is gone');
  t.deepEqual(await a.read('shard-0'), second);
  const into = tempDir(t);
  await a.restore(second.manifest!, into);
  t.deepEqual(new Uint8Array(readFileSync(join(into, 'blocks/1.blk'))), big);
  t.is(readFileSync(join(into, 'labels/0.wal'), 'utf8'), 'svc srv');
});

natsTest('a manifest another member wrote meanwhile makes a checkpoint E_CONFLICT, and what it uploaded is deleted', async (t) => {
  const { archive: a, objects } = await archive(t);
  const mine = await a.checkpoint('shard-1', staged(t, { 'blocks/1.blk': 'one' }), 5, none, 'm-a');
  const theirs = await a.checkpoint('shard-1', staged(t, { 'blocks/1.blk': 'one', 'blocks/2.blk': 'two' }), 9, mine, 'm-b');
  const before = await objectNames(objects);
  const err = await t.throwsAsync(a.checkpoint('shard-1', staged(t, { 'blocks/1.blk': 'one', 'blocks/9.blk': 'stale' }), 7, mine, 'm-a'));
  t.true(isTributaryError(err, 'E_CONFLICT'), String(err));
  t.deepEqual(await objectNames(objects), before);
  t.deepEqual((await a.read('shard-1')).manifest, theirs.manifest);
  // Two founders of the same shard: the second create is a conflict too.
  const err2 = await t.throwsAsync(a.checkpoint('shard-1', staged(t, { 'blocks/1.blk': 'x' }), 1, none, 'm-c'));
  t.true(isTributaryError(err2, 'E_CONFLICT'), String(err2));
});

natsTest('a checkpoint whose upload fails midway leaves no object and no manifest; a restore of a missing object says which file', async (t) => {
  const { archive: a, objects } = await archive(t);
  const files = staged(t, { 'blocks/1.blk': 'one', 'blocks/2.blk': 'two' });
  rmSync(join(files.dir, 'blocks/2.blk')); // gone before its upload: the first has been uploaded by then
  await t.throwsAsync(a.checkpoint('shard-2', files, 3, none, 'm-a'));
  t.deepEqual(await objectNames(objects), []);
  t.is((await a.read('shard-2')).manifest, null);
  const entry = await a.checkpoint('shard-2', staged(t, { 'blocks/1.blk': 'one' }), 3, none, 'm-a');
  await objects.delete(entry.manifest!.files[0]!.object);
  const err = await t.throwsAsync(a.restore(entry.manifest!, tempDir(t)));
  t.true(isTributaryError(err, 'E_UNAVAILABLE'), String(err));
  t.regex(err!.message, /blocks\/1\.blk/);
});

natsTest("a new owner's claim fences the previous owner: its checkpoint in flight fails instead of overwriting the manifest", async (t) => {
  const { archive: a, objects } = await archive(t);
  const old = await a.checkpoint('shard-3', staged(t, { 'blocks/1.blk': 'one' }), 4, none, 'm-old');
  // m-new takes the shard: it restores what it read, and the manifest's revision moves.
  const { read, claimed } = await a.claim('shard-3', 'm-new');
  t.deepEqual(read, old);
  t.deepEqual(claimed.manifest!.files, old.manifest!.files);
  t.is(claimed.manifest!.writer, 'm-new');
  // m-old, not yet aware it lost the lease, finishes a checkpoint from what it last wrote: refused.
  const err = await t.throwsAsync(a.checkpoint('shard-3', staged(t, { 'blocks/1.blk': 'one', 'blocks/2.blk': 'stale' }), 9, old, 'm-old'));
  t.true(isTributaryError(err, 'E_CONFLICT'), String(err));
  t.deepEqual(
    await objectNames(objects),
    old.manifest!.files.map((f) => f.object),
  );
  // m-new's checkpoint from its claim goes through.
  const next = await a.checkpoint('shard-3', staged(t, { 'blocks/1.blk': 'one', 'blocks/2.blk': 'new' }), 7, claimed, 'm-new');
  t.is(next.manifest!.seq, 7);
  // A claim of a shard never archived makes its first manifest (empty), so even the first checkpoint is fenced.
  const first = await a.claim('shard-4', 'm-new');
  t.is(first.read.manifest, null);
  t.deepEqual(first.claimed.manifest!.files, []);
  await t.throwsAsync(a.checkpoint('shard-4', staged(t, { 'blocks/1.blk': 'x' }), 1, none, 'm-old'));
});

natsTest('a restore of an object whose chunk is gone fails, naming the file, rather than writing a short or wrong file', async (t) => {
  const nats = await startNats(t, 1);
  const nc = await connectNats({ servers: nats.servers });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const objects = await new Objm(js).create('cut_blocks');
  const manifests = await new Kvm(js).create('cut_manifests', { history: 1 });
  const a = new ShardArchive(objects, manifests, manifests, { api: jsm.direct, stream: 'OBJ_cut_blocks', bucket: 'cut_blocks' });
  const big = new Uint8Array(400_000).map((_, i) => (i * 13) % 251); // 4 chunks of 128 KiB
  const entry = await a.checkpoint('shard-0', staged(t, { 'blocks/1.blk': big }), 1, none, 'm-a');
  const info = (await objects.info(entry.manifest!.files[0]!.object))!;
  const second = await jsm.direct.getMessage('OBJ_cut_blocks', { next_by_subj: `$O.cut_blocks.C.${info.nuid}`, seq: 2 });
  await jsm.streams.deleteMessage('OBJ_cut_blocks', second!.seq);
  const err = await t.throwsAsync(a.restore(entry.manifest!, tempDir(t)));
  t.true(isTributaryError(err, 'E_UNAVAILABLE'), String(err));
  t.regex(err!.message, /blocks\/1\.blk could not be read/);
});
