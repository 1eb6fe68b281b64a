import { TributaryError } from '../errors.js';
import type { LogEntry } from '../model/entry.js';
import { encodeBatch } from './encode.js';
import { BatchReader } from './reader.js';

/**
 * Cuts a LogBatch into batches of at most `maxBytes` each, keeping its
 * source and numbering: part k holds entries [a, b) as seqs firstSeq+a to
 * firstSeq+b-1, so a shard's deduplication treats the parts exactly as it
 * would the whole. Deterministic (halving), so a resend cuts the same parts
 * and a log that deduplicates by part drops the repeats. A batch that fits
 * is returned as it is. For transports with a message limit smaller than a
 * batch (NATS's max_payload); a cold path, paid only by oversized batches.
 */
export function splitBatch(batch: Uint8Array, maxBytes: number): Uint8Array[] {
  if (batch.byteLength <= maxBytes) return [batch];
  const reader = BatchReader.open(batch);
  const entries: LogEntry[] = [];
  for (let i = 0; i < reader.count; i++) {
    const { source: _source, seq: _seq, ...entry } = reader.entry(i);
    entries.push(entry);
  }
  const out: Uint8Array[] = [];
  const cut = (from: number, to: number): void => {
    const part = encodeBatch(entries.slice(from, to), { sourceId: reader.sourceId, firstSeq: reader.firstSeq + BigInt(from) });
    if (part.byteLength <= maxBytes) out.push(part);
    else if (to - from === 1) {
      throw new TributaryError('E_BATCH_LIMIT', `one entry encodes to ${part.byteLength} bytes, over the ${maxBytes}-byte message limit`, {
        bytes: part.byteLength,
        maxBytes,
        seq: String(reader.firstSeq + BigInt(from)),
      });
    } else {
      const mid = from + Math.ceil((to - from) / 2);
      cut(from, mid);
      cut(mid, to);
    }
  };
  cut(0, entries.length);
  return out;
}
