import { TributaryError } from '../errors.js';
import { assertSourceId } from '../model/source.js';
import { crc32 } from './crc32.js';
import { BATCH_MAGIC, H_FIRST_SEQ, H_HEADER_CRC, H_MAGIC, H_SOURCE, H_SOURCE_LEN, HEADER_BYTES, SOURCE_BYTES } from './layout.js';

/**
 * A placeholder source for batches encoded before their identity is known:
 * a parse thread encodes a request's entries, and the edge that numbers
 * them (one sequence per source and shard) stamps the real source and first
 * sequence afterwards, so numbering stays in one place and contiguous.
 */
export const UNSTAMPED_SOURCE = 'unstamped';

/**
 * Writes a batch's source id and first sequence number into its header and
 * re-seals the header's CRC. Only the header changes: the columns and their
 * CRCs are untouched, so this costs the same for any batch size.
 */
export function stampBatch(batch: Uint8Array, sourceId: string, firstSeq: bigint): void {
  assertSourceId(sourceId);
  if (batch.byteLength < HEADER_BYTES) throw new TributaryError('E_BATCH_CORRUPT', `batch of ${batch.byteLength} bytes has no header`, {});
  const v = new DataView(batch.buffer, batch.byteOffset, HEADER_BYTES);
  if (v.getUint32(H_MAGIC, true) !== BATCH_MAGIC) throw new TributaryError('E_BATCH_CORRUPT', 'not a LogBatch (bad magic)', {});
  v.setUint8(H_SOURCE_LEN, sourceId.length);
  batch.fill(0, H_SOURCE, H_SOURCE + SOURCE_BYTES);
  for (let i = 0; i < sourceId.length; i++) batch[H_SOURCE + i] = sourceId.charCodeAt(i);
  v.setBigUint64(H_FIRST_SEQ, firstSeq, true);
  v.setUint32(H_HEADER_CRC, crc32(batch.subarray(0, H_HEADER_CRC)), true);
}
