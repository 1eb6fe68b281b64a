import { join } from 'node:path';
import { crc32 } from '../batch/crc32.js';
import { TributaryError } from '../errors.js';
import { nodeFs, writeFileAtomic, type StorageFs } from '../index/fs.js';

/** What a full buffer does with one more batch. */
export type BufferFullPolicy =
  /** Refuse it (E_BUFFER_FULL): the collector stops reading its files until there is room; the files are the buffer. Nothing is lost while they are kept. */
  | 'block'
  /** Drop the oldest buffered batches to make room (counted). */
  | 'drop_oldest'
  /** Drop the new batch (counted). */
  | 'drop_newest';

export interface DiskBufferOptions {
  readonly dir: string;
  /** Bytes on disk at most (default 256 MiB). */
  readonly maxBytes?: number;
  readonly policy?: BufferFullPolicy;
  /** Segment size at which a new file is started (default 16 MiB): acknowledged segments are deleted whole. */
  readonly segmentBytes?: number;
  readonly fs?: StorageFs;
}

export interface BufferedBatch {
  readonly shard: string;
  readonly batch: Uint8Array;
  readonly entries: number;
}

export interface DiskBufferStats {
  batches: number;
  entries: number;
  bytes: number;
  /** Entries dropped because the buffer was full (by policy), and torn records cut after a crash. */
  droppedEntries: number;
  tornRecords: number;
}

// Record: u32 length of what follows the 12-byte head, u32 CRC-32 of it, u32 entries; then u16 shard length, shard, batch.
const HEAD = 12;
const SEGMENT = /^seg-(\d{10})\.buf$/;

interface Record_ {
  readonly segment: number;
  readonly offset: number;
  readonly size: number;
  readonly entries: number;
}

/**
 * A collector's bounded on-disk queue of encoded batches, for while no
 * aggregator can take them. Batches are appended (fsync'd before `push`
 * returns: a batch in the buffer is as safe as acknowledged) to segment
 * files and taken out in order; `ack` moves the head, whose position is
 * kept in a small file, and a segment is deleted once every batch in it is
 * acknowledged. After a crash the buffer reopens where its head was; a torn
 * record at the end of the last segment (the crash hit mid-append, so that
 * batch was never handed off) is cut off.
 */
export class DiskBuffer {
  private readonly fs: StorageFs;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  readonly policy: BufferFullPolicy;
  private readonly queue: Record_[] = [];
  private writeSegment = 0;
  private writeFd = -1;
  private writeOffset = 0;
  private bytes = 0;
  private entries = 0;
  private dropped = 0;
  private torn = 0;

  constructor(private readonly options: DiskBufferOptions) {
    this.fs = options.fs ?? nodeFs;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    this.policy = options.policy ?? 'block';
    this.fs.mkdirSync(options.dir);
    this.recover();
  }

  get stats(): DiskBufferStats {
    return { batches: this.queue.length, entries: this.entries, bytes: this.bytes, droppedEntries: this.dropped, tornRecords: this.torn };
  }

  get isEmpty(): boolean {
    return this.queue.length === 0;
  }

  /**
   * Appends a batch durably. When it does not fit: 'block' throws
   * E_BUFFER_FULL (nothing changes), 'drop_newest' drops it and returns
   * false, 'drop_oldest' drops from the head until it fits.
   */
  push(item: BufferedBatch): boolean {
    const shard = Buffer.from(item.shard, 'utf8');
    const size = HEAD + 2 + shard.length + item.batch.byteLength;
    if (size > this.maxBytes)
      throw new TributaryError('E_BUFFER_FULL', `a batch of ${size} bytes is larger than the whole buffer (${this.maxBytes})`, { size });
    if (this.bytes + size > this.maxBytes) {
      if (this.policy === 'block') {
        throw new TributaryError('E_BUFFER_FULL', `disk buffer ${this.options.dir} is full (${this.bytes} of ${this.maxBytes} bytes)`, {
          dir: this.options.dir,
          bytes: this.bytes,
        });
      }
      if (this.policy === 'drop_newest') {
        this.dropped += item.entries;
        return false;
      }
      while (this.queue.length > 0 && this.bytes + size > this.maxBytes) this.dropHead();
    }
    if (this.writeFd < 0 || this.writeOffset + size > this.segmentBytes) this.startSegment();
    const head = Buffer.alloc(HEAD + 2);
    const body = [head.subarray(HEAD), shard, item.batch];
    head.writeUInt16LE(shard.length, HEAD);
    let crc = 0;
    for (const part of body) crc = crc32(part, crc);
    head.writeUInt32LE(size - HEAD, 0);
    head.writeUInt32LE(crc, 4);
    head.writeUInt32LE(item.entries, 8);
    try {
      this.fs.writevSync(this.writeFd, [head, shard, item.batch], this.writeOffset);
      this.fs.fsyncSync(this.writeFd);
    } catch (err) {
      // A partial record is cut off again, so the segment stays readable; a full disk is a full buffer.
      try {
        this.fs.ftruncateSync(this.writeFd, this.writeOffset);
      } catch {
        // recovery cuts a torn tail anyway
      }
      const code = (err as NodeJS.ErrnoException).code;
      throw new TributaryError(
        code === 'ENOSPC' || code === 'EDQUOT' ? 'E_BUFFER_FULL' : 'E_IO',
        `disk buffer ${this.options.dir}: ${(err as Error).message}`,
        { dir: this.options.dir, errno: code },
        { cause: err },
      );
    }
    this.queue.push({ segment: this.writeSegment, offset: this.writeOffset, size, entries: item.entries });
    this.writeOffset += size;
    this.bytes += size;
    this.entries += item.entries;
    return true;
  }

  /** The oldest batch not yet acknowledged (read from disk), or undefined. */
  peek(): BufferedBatch | undefined {
    const r = this.queue[0];
    if (!r) return undefined;
    const buf = new Uint8Array(r.size);
    const fd = this.fs.openSync(this.segmentPath(r.segment), 'r');
    try {
      this.fs.readSync(fd, buf, 0, r.size, r.offset);
    } finally {
      this.fs.closeSync(fd);
    }
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const shardLen = view.readUInt16LE(HEAD);
    return { shard: view.toString('utf8', HEAD + 2, HEAD + 2 + shardLen), batch: buf.slice(HEAD + 2 + shardLen), entries: r.entries };
  }

  /** The oldest batch is stored downstream: forget it. */
  ack(): void {
    const r = this.queue.shift();
    if (!r) return;
    this.release(r);
  }

  close(): void {
    if (this.writeFd >= 0) this.fs.closeSync(this.writeFd);
    this.writeFd = -1;
  }

  private dropHead(): void {
    const r = this.queue.shift()!;
    this.dropped += r.entries;
    this.release(r);
  }

  private release(r: Record_): void {
    this.bytes -= r.size;
    this.entries -= r.entries;
    const next = this.queue[0];
    // Segments wholly behind the head are deleted; the head's position is kept for a restart.
    const headSegment = next ? next.segment : this.writeSegment;
    for (let s = r.segment; s < headSegment; s++) {
      if (this.fs.existsSync(this.segmentPath(s))) this.fs.unlinkSync(this.segmentPath(s));
    }
    const pos = next ? { segment: next.segment, offset: next.offset } : { segment: this.writeSegment, offset: this.writeOffset };
    writeFileAtomic(this.fs, this.options.dir, 'head.json', Buffer.from(JSON.stringify(pos)));
  }

  private segmentPath(n: number): string {
    return join(this.options.dir, `seg-${String(n).padStart(10, '0')}.buf`);
  }

  private startSegment(): void {
    if (this.writeFd >= 0) {
      this.fs.closeSync(this.writeFd);
      this.writeSegment++;
    }
    this.writeFd = this.fs.openSync(this.segmentPath(this.writeSegment), 'w');
    this.writeOffset = 0;
  }

  /** Rebuilds the queue from the segments on disk, from the saved head on. */
  private recover(): void {
    let head = { segment: 0, offset: 0 };
    try {
      head = JSON.parse(this.fs.readFileSync(join(this.options.dir, 'head.json')).toString('utf8')) as typeof head;
    } catch {
      // No head yet: everything on disk is unacknowledged.
    }
    const segments = this.fs
      .readdirSync(this.options.dir)
      .map((n) => SEGMENT.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const s of segments) {
      const path = this.segmentPath(s);
      if (s < head.segment) {
        this.fs.unlinkSync(path);
        continue;
      }
      const fd = this.fs.openSync(path, 'r+');
      try {
        const size = this.fs.fstatSize(fd);
        let at = s === head.segment ? head.offset : 0;
        const h = Buffer.alloc(HEAD);
        while (at + HEAD <= size) {
          this.fs.readSync(fd, h, 0, HEAD, at);
          const len = h.readUInt32LE(0);
          if (len < 2 || at + HEAD + len > size) break;
          const body = new Uint8Array(len);
          this.fs.readSync(fd, body, 0, len, at + HEAD);
          if (crc32(body) !== h.readUInt32LE(4)) break;
          this.queue.push({ segment: s, offset: at, size: HEAD + len, entries: h.readUInt32LE(8) });
          this.bytes += HEAD + len;
          this.entries += h.readUInt32LE(8);
          at += HEAD + len;
        }
        if (at < size) {
          // A torn or corrupt tail: that append never completed, so its batch was never handed off.
          this.torn++;
          this.fs.ftruncateSync(fd, at);
        }
        this.writeSegment = s;
        this.writeOffset = at;
      } finally {
        this.fs.closeSync(fd);
      }
    }
    if (segments.length > 0) {
      this.writeFd = this.fs.openSync(this.segmentPath(this.writeSegment), 'r+');
    } else {
      this.writeSegment = Math.max(0, head.segment);
    }
  }
}
