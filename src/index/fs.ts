import fs from 'node:fs';

/**
 * The file operations the storage engine uses, as one narrow seam: tests
 * inject faults (ENOSPC, EIO, torn writes) here without touching the disk.
 */
export interface StorageFs {
  openSync(path: string, flags: string): number;
  closeSync(fd: number): void;
  writevSync(fd: number, buffers: readonly NodeJS.ArrayBufferView[], position?: number): number;
  fdatasync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  fsyncSync(fd: number): void;
  fsync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  ftruncateSync(fd: number, length: number): void;
  fstatSize(fd: number): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  readFileSync(path: string): Buffer;
  writeFileSync(path: string, data: Uint8Array): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  unlink(path: string, callback: (err: NodeJS.ErrnoException | null) => void): void;
  readdirSync(path: string): string[];
  mkdirSync(path: string): void;
  existsSync(path: string): boolean;
}

export const nodeFs: StorageFs = {
  openSync: (p, flags) => fs.openSync(p, flags),
  closeSync: (fd) => fs.closeSync(fd),
  writevSync: (fd, buffers, position) => fs.writevSync(fd, buffers as NodeJS.ArrayBufferView[], position),
  fdatasync: (fd, cb) => fs.fdatasync(fd, cb),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fsync: (fd, cb) => fs.fsync(fd, cb),
  ftruncateSync: (fd, len) => fs.ftruncateSync(fd, len),
  fstatSize: (fd) => fs.fstatSync(fd).size,
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  readFileSync: (p) => fs.readFileSync(p),
  writeFileSync: (p, d) => fs.writeFileSync(p, d),
  renameSync: (a, b) => fs.renameSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
  unlink: (p, cb) => fs.unlink(p, cb),
  readdirSync: (p) => fs.readdirSync(p),
  mkdirSync: (p) => void fs.mkdirSync(p, { recursive: true }),
  existsSync: (p) => fs.existsSync(p),
};

/** Makes a rename durable: fsync the directory that holds the new name. */
export function syncDir(storage: StorageFs, dir: string): void {
  const fd = storage.openSync(dir, 'r');
  try {
    storage.fsyncSync(fd);
  } finally {
    storage.closeSync(fd);
  }
}

/** Writes a file atomically: temporary name, fsync, rename, fsync the directory. */
export function writeFileAtomic(storage: StorageFs, dir: string, name: string, data: Uint8Array): void {
  const tmp = `${dir}/${name}.tmp`;
  const fd = storage.openSync(tmp, 'w');
  try {
    storage.writevSync(fd, [data]);
    storage.fsyncSync(fd);
  } finally {
    storage.closeSync(fd);
  }
  storage.renameSync(tmp, `${dir}/${name}`);
  syncDir(storage, dir);
}

function fsyncAsync(storage: StorageFs, fd: number): Promise<void> {
  return new Promise((resolve, reject) => storage.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * writeFileAtomic with its two fsyncs off the calling thread: for files
 * written while ingest runs (the WAL checkpoint), where a synchronous fsync
 * behind a seal's block writes was measured at 100-120 ms of a shard
 * thread doing nothing else.
 */
export async function writeFileAtomicAsync(storage: StorageFs, dir: string, name: string, data: Uint8Array): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  const fd = storage.openSync(tmp, 'w');
  try {
    storage.writevSync(fd, [data]);
    await fsyncAsync(storage, fd);
  } finally {
    storage.closeSync(fd);
  }
  storage.renameSync(tmp, `${dir}/${name}`);
  const dirFd = storage.openSync(dir, 'r');
  try {
    await fsyncAsync(storage, dirFd);
  } finally {
    storage.closeSync(dirFd);
  }
}

/**
 * Deletes a file off the calling thread. Unlinking a 64 MiB WAL segment
 * while seals write was measured at about 100 ms of a shard thread blocked
 * (ext4 frees the extents in the call); the thread pool takes it instead.
 */
export function unlinkAsync(storage: StorageFs, path: string): Promise<void> {
  return new Promise((resolve, reject) => storage.unlink(path, (err) => (err ? reject(err) : resolve())));
}

/** The node file layer, with writes failing ENOSPC while the fault flag is set. */
export function faultyFs(flag: Int32Array): StorageFs {
  const full = () => Atomics.load(flag, 0) === 1;
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC' });
  return {
    ...nodeFs,
    writevSync: (fd, bufs, pos) => {
      if (full()) throw enospc();
      return nodeFs.writevSync(fd, bufs, pos);
    },
    writeFileSync: (p, d) => {
      if (full()) throw enospc();
      nodeFs.writeFileSync(p, d);
    },
  };
}
