import { TributaryError } from '../errors.js';
import { crc32 } from '../batch/crc32.js';
import { nodeFs, syncDir, unlinkAsync, writeFileAtomicAsync, type StorageFs } from './fs.js';

/**
 * Write-ahead log: every batch a shard accepts is appended here, as received,
 * before it is acknowledged. Segments of up to `segmentBytes`, each:
 *
 *   header  16 B: magic 'TWAL', version u16, reserved u16, segment number u64
 *   record  [u32 length][u32 crc32(payload)][payload][zero padding to 8 B]
 *
 * A record is durable once a sync that started after it completes (group
 * commit: one fdatasync covers every record appended before it started). On
 * open, records are read back from the checkpoint on; the first record that
 * is short or fails its CRC ends the log: a crash can only tear the tail,
 * whose records were never acknowledged. The torn bytes are cut off and
 * reported.
 */

export const WAL_MAGIC = 0x4c415754; // 'TWAL'
export const WAL_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 8;
/** A record larger than this is corruption, not data (a batch is at most 256 MiB). */
const MAX_RECORD_BYTES = 256 * 1024 * 1024;

export interface WalPosition {
  readonly segment: number;
  /** Byte offset just past a record, within its segment. */
  readonly offset: number;
}

export function comparePositions(a: WalPosition, b: WalPosition): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}

export interface RecoveredRecord {
  readonly payload: Uint8Array;
  /** Position just past this record: a checkpoint here means "replay after this record". */
  readonly end: WalPosition;
}

export interface WalRecoveryReport {
  readonly segments: number;
  readonly records: number;
  readonly bytes: number;
  /** Bytes cut off because they did not form a whole, valid record. */
  readonly truncatedBytes: number;
  readonly truncations: { segment: number; offset: number; bytes: number; reason: string }[];
}

export interface WalOptions {
  readonly segmentBytes?: number;
  readonly fs?: StorageFs;
}

const CHECKPOINT_FILE = 'checkpoint';

function segmentName(n: number): string {
  return `${String(n).padStart(20, '0')}.wal`;
}

export class Wal {
  private fd = -1;
  private segment = 0;
  private offset = 0;
  private durable: WalPosition;
  private inFlight: Promise<WalPosition> | undefined;
  private readonly segmentBytes: number;
  private readonly fs: StorageFs;
  private closed = false;

  private constructor(
    readonly dir: string,
    options: WalOptions,
  ) {
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.fs = options.fs ?? nodeFs;
    this.durable = { segment: 0, offset: 0 };
  }

  /**
   * Opens (creating) the log in `dir`, reads back every record after the
   * checkpoint and cuts off a torn tail. `onRecord` sees the records in order.
   */
  static open(dir: string, onRecord: (r: RecoveredRecord) => void, options: WalOptions = {}): { wal: Wal; report: WalRecoveryReport } {
    const wal = new Wal(dir, options);
    const report = wal.recover(onRecord);
    return { wal, report };
  }

  /** End of the last appended record. */
  get position(): WalPosition {
    return { segment: this.segment, offset: this.offset };
  }

  /** End of the last record known to be on disk. */
  get durablePosition(): WalPosition {
    return this.durable;
  }

  /**
   * Appends one record (not yet durable: see sync). Throws E_DISK_FULL or
   * E_IO; the log is left as it was before the call.
   */
  append(payload: Uint8Array): WalPosition {
    if (this.closed) throw new TributaryError('E_IO', 'WAL is closed', { dir: this.dir });
    const padded = (payload.byteLength + 7) & ~7;
    const size = RECORD_HEADER_BYTES + padded;
    if (this.offset + size > this.segmentBytes && this.offset > SEGMENT_HEADER_BYTES) this.rotate();
    const header = new Uint8Array(RECORD_HEADER_BYTES);
    const v = new DataView(header.buffer);
    v.setUint32(0, payload.byteLength, true);
    v.setUint32(4, crc32(payload), true);
    const parts: Uint8Array[] = [header, payload];
    if (padded > payload.byteLength) parts.push(new Uint8Array(padded - payload.byteLength));
    const start = this.offset;
    try {
      const written = this.fs.writevSync(this.fd, parts, start);
      if (written !== size) throw Object.assign(new Error(`short write: ${written} of ${size} bytes`), { code: 'EIO' });
    } catch (err) {
      // Leave no partial record behind: a later append would otherwise follow garbage.
      try {
        this.fs.ftruncateSync(this.fd, start);
      } catch {
        // The next open cuts it off by CRC instead.
      }
      throw storageError(err, `append to WAL segment ${this.segment}`, { dir: this.dir, segment: this.segment, offset: start });
    }
    this.offset = start + size;
    return this.position;
  }

  /**
   * Makes every record appended so far durable. Concurrent callers share one
   * fdatasync (group commit); a call made while one is in flight waits for it
   * and then, if it appended more, starts the next.
   */
  sync(): Promise<WalPosition> {
    const target = this.position;
    if (comparePositions(this.durable, target) >= 0) return Promise.resolve(this.durable);
    if (this.inFlight) return this.inFlight.then(() => this.sync());
    const fd = this.fd;
    this.inFlight = new Promise<WalPosition>((resolve, reject) => {
      this.fs.fdatasync(fd, (err) => {
        this.inFlight = undefined;
        if (err) return reject(storageError(err, `fdatasync WAL segment ${target.segment}`, { dir: this.dir, segment: target.segment }));
        if (comparePositions(target, this.durable) > 0) this.durable = target;
        resolve(target);
      });
    });
    return this.inFlight;
  }

  /**
   * Everything before `pos` is safely elsewhere (sealed into blocks): replay
   * starts there from now on, and whole segments before it are deleted.
   */
  async checkpoint(pos: WalPosition): Promise<void> {
    const body = new Uint8Array(16);
    const v = new DataView(body.buffer);
    v.setBigUint64(0, BigInt(pos.segment), true);
    v.setUint32(8, pos.offset, true);
    v.setUint32(12, crc32(body.subarray(0, 12)), true);
    // Until this is durable a crash replays from the previous checkpoint: records already in blocks are deduplicated then.
    await writeFileAtomicAsync(this.fs, this.dir, CHECKPOINT_FILE, body);
    const older = this.segmentFiles().filter((name) => Number(name.slice(0, 20)) < pos.segment);
    await Promise.all(older.map((name) => unlinkAsync(this.fs, `${this.dir}/${name}`)));
    // A segment fills slowly when seals come often: start the next one once this one holds an
    // eighth of its size, so the WAL on disk stays about the unsealed tail, not a mostly sealed
    // 64 MiB file (not while a sync holds the file). When this checkpoint covers everything
    // appended, the old segment goes at once; otherwise at the next checkpoint.
    if (!this.closed && this.inFlight === undefined && pos.segment === this.segment && this.offset > this.segmentBytes / 8) {
      const covered = comparePositions(pos, this.position) >= 0;
      this.rotate();
      if (covered) await this.checkpoint(this.position);
    }
  }

  /** Bytes in segments on disk (what a replay would read, at most). */
  get sizeBytes(): number {
    let total = 0;
    for (const name of this.segmentFiles()) {
      const n = Number(name.slice(0, 20));
      total += n === this.segment ? this.offset : this.segmentBytes;
    }
    return total;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.sync().catch(() => {});
    this.closed = true;
    this.fs.closeSync(this.fd);
  }

  private segmentFiles(): string[] {
    return this.fs
      .readdirSync(this.dir)
      .filter((n) => /^\d{20}\.wal$/.test(n))
      .sort();
  }

  private readCheckpoint(): WalPosition {
    const path = `${this.dir}/${CHECKPOINT_FILE}`;
    if (!this.fs.existsSync(path)) return { segment: 0, offset: 0 };
    const body = this.fs.readFileSync(path);
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (body.byteLength !== 16 || v.getUint32(12, true) !== crc32(body.subarray(0, 12))) {
      // A checkpoint is written atomically, so this is damage, not a crash: replay everything (dedup makes it safe).
      return { segment: 0, offset: 0 };
    }
    return { segment: Number(v.getBigUint64(0, true)), offset: v.getUint32(8, true) };
  }

  private recover(onRecord: (r: RecoveredRecord) => void): WalRecoveryReport {
    this.fs.mkdirSync(this.dir);
    const cp = this.readCheckpoint();
    const files = this.segmentFiles();
    const truncations: WalRecoveryReport['truncations'] = [];
    let records = 0;
    let bytes = 0;
    let last = cp.segment > 0 ? cp.segment : 0;
    let lastEnd = SEGMENT_HEADER_BYTES;
    for (const name of files) {
      const n = Number(name.slice(0, 20));
      if (n < cp.segment) continue;
      const path = `${this.dir}/${name}`;
      const data = this.fs.readFileSync(path);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      let off = SEGMENT_HEADER_BYTES;
      let bad: string | undefined;
      if (data.byteLength < SEGMENT_HEADER_BYTES || view.getUint32(0, true) !== WAL_MAGIC || view.getUint16(4, true) !== WAL_VERSION) {
        bad = 'bad segment header';
        off = 0;
      } else if (n === cp.segment && cp.offset > off) {
        off = cp.offset;
      }
      while (bad === undefined && off < data.byteLength) {
        if (off + RECORD_HEADER_BYTES > data.byteLength) {
          bad = 'short record header';
          break;
        }
        const len = view.getUint32(off, true);
        const padded = (len + 7) & ~7;
        if (len === 0 || len > MAX_RECORD_BYTES || off + RECORD_HEADER_BYTES + padded > data.byteLength) {
          bad = len === 0 ? 'zero-length record' : 'record runs past the end of the segment';
          break;
        }
        const payload = data.subarray(off + RECORD_HEADER_BYTES, off + RECORD_HEADER_BYTES + len);
        if (crc32(payload) !== view.getUint32(off + 4, true)) {
          bad = 'record checksum mismatch';
          break;
        }
        off += RECORD_HEADER_BYTES + padded;
        records++;
        bytes += len;
        onRecord({ payload, end: { segment: n, offset: off } });
      }
      if (bad !== undefined) {
        const dropped = data.byteLength - off;
        truncations.push({ segment: n, offset: off, bytes: dropped, reason: bad });
        if (off === 0) {
          this.fs.unlinkSync(path);
          continue;
        }
        const fd = this.fs.openSync(path, 'r+');
        try {
          this.fs.ftruncateSync(fd, off);
          this.fs.fsyncSync(fd);
        } finally {
          this.fs.closeSync(fd);
        }
      }
      last = n;
      lastEnd = off;
    }
    // Continue in the last valid segment, or start the first one.
    if (last === 0 || !this.fs.existsSync(`${this.dir}/${segmentName(last)}`)) {
      this.openSegment(last + 1);
    } else {
      this.fd = this.fs.openSync(`${this.dir}/${segmentName(last)}`, 'r+');
      this.segment = last;
      this.offset = lastEnd;
    }
    this.durable = this.position;
    return { segments: files.length, records, bytes, truncatedBytes: truncations.reduce((a, t) => a + t.bytes, 0), truncations };
  }

  private openSegment(n: number): void {
    const path = `${this.dir}/${segmentName(n)}`;
    const fd = this.fs.openSync(path, 'w+');
    const header = new Uint8Array(SEGMENT_HEADER_BYTES);
    const v = new DataView(header.buffer);
    v.setUint32(0, WAL_MAGIC, true);
    v.setUint16(4, WAL_VERSION, true);
    v.setBigUint64(8, BigInt(n), true);
    try {
      this.fs.writevSync(fd, [header], 0);
      this.fs.fsyncSync(fd);
      syncDir(this.fs, this.dir);
    } catch (err) {
      this.fs.closeSync(fd);
      try {
        this.fs.unlinkSync(path);
      } catch {
        // nothing to remove
      }
      throw storageError(err, `create WAL segment ${n}`, { dir: this.dir, segment: n });
    }
    this.fd = fd;
    this.segment = n;
    this.offset = SEGMENT_HEADER_BYTES;
  }

  private rotate(): void {
    // The old segment's tail must be durable before records land in the next one.
    this.fs.fsyncSync(this.fd);
    this.durable = this.position;
    this.fs.closeSync(this.fd);
    this.openSegment(this.segment + 1);
  }
}

/** Maps a file-system failure to a typed error: ENOSPC is E_DISK_FULL, the rest E_IO. */
export function storageError(err: unknown, doing: string, context: Record<string, string | number>): TributaryError {
  if (err instanceof TributaryError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new TributaryError(
    code === 'ENOSPC' ? 'E_DISK_FULL' : 'E_IO',
    `${doing} failed: ${message}`,
    { ...context, errno: code ?? 'unknown' },
    { cause: err },
  );
}
