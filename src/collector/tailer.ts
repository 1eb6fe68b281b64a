import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { crc32 } from '../batch/crc32.js';

/** Where a file was read to, as a checkpoint keeps it. */
export interface FilePosition {
  /** The path the file had when last seen (informational: files are matched by identity). */
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  /** Bytes consumed: everything before this offset was handed on as whole lines. */
  readonly offset: number;
  /** CRC-32 of the first `fingerprintBytes` bytes: an inode reused by a new file is not mistaken for the old one. */
  readonly fingerprint: number;
  readonly fingerprintBytes: number;
}

/** A run of whole lines read from one file. */
export interface LineChunk {
  readonly file: TailedFile;
  readonly bytes: Buffer;
  /** 1-based number of the first line in the file (for error messages). */
  readonly firstLine: number;
  /** Offset just after the chunk: the file's position once the chunk is stored. */
  readonly endOffset: number;
}

const FINGERPRINT_BYTES = 1024;

export function identityOf(dev: number, ino: number): string {
  return `${dev}:${ino}`;
}

/**
 * One file being followed, by its open descriptor: a file renamed away
 * (rotation) is read to its end under its new name, a truncated file
 * (copytruncate) is read again from the start, a deleted one is read to
 * its end and let go.
 */
export class TailedFile {
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
  /** Bytes handed on in chunks (the next chunk starts here). */
  offset: number;
  /** Lines handed on so far (approximate after a restart: counted from the resume point). */
  private line = 0;
  /** Bytes after the last newline, read but not yet a whole line. */
  private partial: Buffer = Buffer.alloc(0);
  /** The rest of an over-long line is being skipped. */
  private skipping = false;
  /** When the file last grew or was found at its end with nothing new (for rotate-wait). */
  lastActivity = Date.now();
  fingerprint = 0;
  fingerprintBytes = 0;

  /** The name the file was first followed under. */
  readonly firstPath: string;

  constructor(
    public path: string,
    offset: number,
    private readonly maxLineBytes: number,
  ) {
    this.firstPath = path;
    this.fd = openSync(path, 'r');
    const st = fstatSync(this.fd);
    this.dev = st.dev;
    this.ino = st.ino;
    this.offset = Math.min(offset, st.size);
    this.updateFingerprint(st.size);
  }

  get identity(): string {
    return identityOf(this.dev, this.ino);
  }

  position(): FilePosition {
    return { path: this.path, dev: this.dev, ino: this.ino, offset: this.offset, fingerprint: this.fingerprint, fingerprintBytes: this.fingerprintBytes };
  }

  /** True when the file on disk begins with the bytes a checkpoint fingerprinted (it is the same file). */
  static matches(path: string, pos: FilePosition): boolean {
    let fd = -1;
    try {
      fd = openSync(path, 'r');
      const buf = Buffer.alloc(pos.fingerprintBytes);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return n === pos.fingerprintBytes && crc32(buf) === pos.fingerprint;
    } catch {
      return false;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  private updateFingerprint(size: number): void {
    if (this.fingerprintBytes >= FINGERPRINT_BYTES || size <= this.fingerprintBytes) return;
    const buf = Buffer.alloc(Math.min(FINGERPRINT_BYTES, size));
    const n = readSync(this.fd, buf, 0, buf.length, 0);
    this.fingerprint = crc32(buf.subarray(0, n));
    this.fingerprintBytes = n;
  }

  /** Size on disk now; a size below what was read means the file was truncated in place. */
  size(): number {
    return fstatSync(this.fd).size;
  }

  /** Deleted (no name left): once read to the end, it can be let go. */
  unlinked(): boolean {
    return fstatSync(this.fd).nlink === 0;
  }

  /** Whether the file has moved on from the name it was first followed under (renamed, or deleted): its writer appends elsewhere now. */
  rotatedAway(): boolean {
    if (this.path !== this.firstPath) return true;
    try {
      const st = statSync(this.firstPath);
      return st.ino !== this.ino || st.dev !== this.dev;
    } catch {
      return true;
    }
  }

  /**
   * Up to `maxBytes` of whole lines from the file's current end, or
   * undefined when there are none yet. `flushPartial` also hands on a last
   * line that has no newline (the file was rotated or has been idle: its
   * writer has moved on).
   */
  read(maxBytes: number, flushPartial = false): LineChunk | undefined {
    const size = this.size();
    if (size < this.offset + this.partial.length) {
      // copytruncate: the file was emptied in place; start again from its beginning.
      this.offset = 0;
      this.partial = Buffer.alloc(0);
      this.skipping = false;
      this.fingerprintBytes = 0;
      this.line = 0;
    }
    this.updateFingerprint(size);
    const readAt = this.offset + this.partial.length;
    let data = this.partial;
    if (size > readAt) {
      const want = Math.min(maxBytes, size - readAt);
      const buf = Buffer.allocUnsafe(want);
      const n = readSync(this.fd, buf, 0, want, readAt);
      data = this.partial.length > 0 ? Buffer.concat([this.partial, buf.subarray(0, n)]) : buf.subarray(0, n);
      if (n > 0) this.lastActivity = Date.now();
    }
    if (this.skipping) {
      // Dropping the rest of an over-long line, up to its newline.
      const lf = data.indexOf(10);
      this.partial = Buffer.alloc(0);
      if (lf < 0) {
        this.offset += data.length;
        return undefined;
      }
      this.skipping = false;
      this.offset += lf + 1;
      this.line++;
      data = data.subarray(lf + 1);
    }
    // `data` starts at this.offset.
    let cut = data.lastIndexOf(10) + 1;
    if (cut === 0 && data.length > this.maxLineBytes) {
      // One line longer than the limit: its head goes on (to be refused as too long), the rest is skipped.
      this.skipping = true;
      cut = data.length;
    } else if (cut === 0 && flushPartial) {
      cut = data.length;
    }
    if (cut === 0) {
      this.partial = Buffer.from(data);
      return undefined;
    }
    const bytes = data.subarray(0, cut);
    this.partial = cut < data.length ? Buffer.from(data.subarray(cut)) : Buffer.alloc(0);
    this.offset += cut;
    const firstLine = this.line + 1;
    for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) this.line++;
    return { file: this, bytes, firstLine, endOffset: this.offset };
  }

  /** Bytes read but not yet handed on (a line still being written). */
  get pendingBytes(): number {
    return this.partial.length;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
