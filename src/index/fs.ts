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
  ftruncateSync(fd: number, length: number): void;
  fstatSize(fd: number): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  readFileSync(path: string): Buffer;
  writeFileSync(path: string, data: Uint8Array): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
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
  ftruncateSync: (fd, len) => fs.ftruncateSync(fd, len),
  fstatSize: (fd) => fs.fstatSync(fd).size,
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  readFileSync: (p) => fs.readFileSync(p),
  writeFileSync: (p, d) => fs.writeFileSync(p, d),
  renameSync: (a, b) => fs.renameSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
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
