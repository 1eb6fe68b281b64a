import { BatchBuilder } from '../../src/batch/builder.js';
import { crc32 } from '../../src/batch/crc32.js';
import { H_FIRST_SEQ, H_HEADER_CRC } from '../../src/batch/layout.js';
import { syntheticEntries } from '../../src/producers/synthetic.js';

export const PER_BATCH = 1000;
export const WINDOW = 64; // batches in flight per run
export const shardModule = { module: new URL('../../src/shard/shard-actor.js', import.meta.url), export: 'shardActor' };

/** Encoded template batches; each send patches firstSeq (and the header CRC) so every entry is new. */
export function templates(n: number): Uint8Array[] {
  const pool = syntheticEntries(4096);
  const buf = new Uint8Array(PER_BATCH * 200 + 8192);
  const b = new BatchBuilder(buf, { sourceId: 'bench', firstSeq: 0n, maxEntries: PER_BATCH });
  const out: Uint8Array[] = [];
  for (let t = 0; t < n; t++) {
    b.reset(buf, { sourceId: `bench-${t}`, firstSeq: 0n, maxEntries: PER_BATCH });
    for (let k = 0; k < PER_BATCH; k++) {
      const e = pool[(t * PER_BATCH + k) % pool.length]!;
      b.add(e.ts, e.level, e.service, e.server, e.region, e.message);
    }
    out.push(buf.slice(0, b.finish()));
  }
  return out;
}

export function setFirstSeq(batch: Uint8Array, seq: number): void {
  const v = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  v.setBigUint64(H_FIRST_SEQ, BigInt(seq), true);
  v.setUint32(H_HEADER_CRC, crc32(batch.subarray(0, H_HEADER_CRC)), true);
}
