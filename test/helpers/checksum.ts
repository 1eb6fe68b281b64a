/**
 * Order-sensitive checksum of a stream of entries (FNV-1a style mixing).
 * Producers fold the values they encode; consumers fold what they decode, so
 * equal checksums plus contiguous sequence numbers show that nothing was lost,
 * duplicated, reordered or altered on the way.
 */
export class StreamChecksum {
  private h = 0x811c9dc5 | 0;
  count = 0;

  private mix(v: number): void {
    this.h = Math.imul(this.h ^ (v | 0), 0x01000193);
  }

  /** `msg` must be ASCII for fold() and foldBytes() to agree. */
  fold(seq: bigint, ts: bigint, level: number, msg: string): void {
    this.mix(Number(seq & 0xffffffffn));
    this.mix(Number(ts & 0xffffffffn));
    this.mix(level);
    for (let i = 0; i < msg.length; i++) this.mix(msg.charCodeAt(i));
    this.count++;
  }

  foldBytes(seq: bigint, ts: bigint, level: number, bytes: Uint8Array, start: number, end: number): void {
    this.mix(Number(seq & 0xffffffffn));
    this.mix(Number(ts & 0xffffffffn));
    this.mix(level);
    for (let i = start; i < end; i++) this.mix(bytes[i]!);
    this.count++;
  }

  get value(): number {
    return this.h >>> 0;
  }
}

export const TS_BASE = 1_700_000_000_000_000_000n;

export function syntheticMessage(seq: number): string {
  return `GET /api/items/${seq % 9973} status=${seq % 17 === 0 ? 500 : 200} took=${seq % 250}ms`;
}
