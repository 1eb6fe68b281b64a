import { TributaryError } from '../errors.js';
import { crc32 } from '../batch/crc32.js';
import type { StorageFs } from './fs.js';

/** A block failed a check: E_BLOCK_CORRUPT, naming the file and what was wrong. */
export function corrupt(path: string, reason: string, context: Record<string, number> = {}): TributaryError {
  return new TributaryError('E_BLOCK_CORRUPT', `corrupt block ${path}: ${reason}`, { path, reason, ...context });
}

/** Reads `length` bytes at `position` (fewer at the end of the file). */
export function readAt(fs: StorageFs, fd: number, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** Reads a whole range of a file by path (open, read, close). */
export function readRange(fs: StorageFs, path: string, position: number, length: number): Uint8Array {
  const fd = fs.openSync(path, 'r');
  try {
    return readAt(fs, fd, position, length);
  } finally {
    fs.closeSync(fd);
  }
}

/** `bytes` followed by their CRC-32 (the framing of a block's dictionary and of each frame). */
export function withCrc(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength + 4);
  out.set(bytes);
  new DataView(out.buffer).setUint32(bytes.byteLength, crc32(bytes), true);
  return out;
}

/** The body of bytes framed by `withCrc`, or null when they are too short or fail their CRC. */
export function checkedBody(bytes: Uint8Array): Uint8Array | null {
  if (bytes.byteLength < 4) return null;
  const body = bytes.subarray(0, bytes.byteLength - 4);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + body.byteLength, 4).getUint32(0, true);
  return crc32(body) === stored ? body : null;
}
