import { TributaryError } from '../errors.js';
import type { LogEntry } from '../model/entry.js';
import { encodeLabels } from '../model/labels.js';
import { BatchBuilder, DICT_ALIGN_SLACK } from './builder.js';
import { computeLayout } from './layout.js';

interface BatchSizes {
  readonly count: number;
  readonly msgBytes: number;
  readonly dictCount: number;
  readonly dictBytes: number;
}

function measure(entries: readonly LogEntry[]): BatchSizes {
  let msgBytes = 0;
  const labels = new Set<string>();
  let dictBytes = 0;
  for (const e of entries) {
    msgBytes += Buffer.byteLength(e.message, 'utf8');
    const sets = [encodeLabels(e.labels), encodeLabels(e.metadata)].filter((x) => x !== '');
    for (const l of [e.service, e.server, e.region, ...sets]) {
      if (!labels.has(l)) {
        labels.add(l);
        dictBytes += Buffer.byteLength(l, 'utf8');
      }
    }
  }
  return { count: entries.length, msgBytes, dictCount: labels.size, dictBytes };
}

/**
 * Encodes entries into a new, exactly sized buffer. For tests, tools and cold
 * paths; hot paths build in place with a BatchBuilder over a ring reservation.
 */
export function encodeBatch(entries: readonly LogEntry[], options: { sourceId: string; firstSeq: bigint }): Uint8Array {
  const m = measure(entries);
  const capacity = Math.max(1, m.count);
  // Room for the capacity layout plus the builder's dictionary reserve.
  const size = computeLayout(capacity, m.msgBytes, m.dictCount, m.dictBytes).total + DICT_ALIGN_SLACK + 8;
  const target = new Uint8Array(size);
  const builder = new BatchBuilder(target, { ...options, maxEntries: capacity });
  for (const e of entries) {
    if (!builder.addEntry(e)) {
      throw new TributaryError('E_INTERNAL', 'exactly sized batch buffer overflowed', { count: entries.length });
    }
  }
  return target.subarray(0, builder.finish());
}
