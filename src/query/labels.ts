import { NO_ID } from '../batch/layout.js';
import type { StoreView } from '../index/store.js';
import { decodePairs, pairValue } from '../model/labels.js';
import { isColumnLabel } from './model.js';

/**
 * Asked as a label name, answers the names of the stream labels present
 * beyond service, server and region. Names starting with `__` are reserved
 * (as in Prometheus and Loki: the doors refuse them), so no label has it.
 */
export const LABEL_NAMES_QUERY = '__label_names__';

/** Calls `fn` with every label-set string present in [from, to): sealed blocks through their bitsets, then unsealed batches. */
function forEachLabelSet(view: StoreView, from: bigint | undefined, to: bigint | undefined, fn: (encoded: string) => void): void {
  const names = view.labelNames();
  const seen = new Set<string>();
  const visit = (encoded: string) => {
    if (seen.has(encoded)) return;
    seen.add(encoded);
    fn(encoded);
  };
  for (const b of view.blocks) {
    if ((from !== undefined && b.maxTs < from) || (to !== undefined && b.minTs >= to)) continue;
    const bits = b.labels.set;
    if (bits === undefined) continue;
    for (let byte = 0; byte < bits.length; byte++) {
      if (bits[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((bits[byte]! & (1 << bit)) !== 0) visit(names[byte * 8 + bit] ?? '');
    }
  }
  for (const r of view.batches) {
    const ids = r.labelSetIds();
    if (ids === null) continue;
    const dict = r.labels();
    for (let i = 0; i < ids.length; i++) if (ids[i] !== NO_ID) visit(dict[ids[i]!]!);
  }
}

/**
 * The distinct values of one label in a store: service, server and region
 * from their bitsets, any other label from the label sets present (sealed
 * blocks, plus unsealed batches). LABEL_NAMES_QUERY answers the other
 * labels' names instead.
 */
export function labelValues(view: StoreView, name: string, from?: bigint, to?: bigint): string[] {
  const out = new Set<string>();
  if (name === LABEL_NAMES_QUERY) {
    forEachLabelSet(view, from, to, (encoded) => {
      for (const [k] of decodePairs(encoded)) out.add(k);
    });
    return [...out].sort();
  }
  if (!isColumnLabel(name)) {
    forEachLabelSet(view, from, to, (encoded) => {
      const v = pairValue(encoded, name);
      if (v !== undefined) out.add(v);
    });
    return [...out].sort();
  }
  const names = view.labelNames();
  for (const b of view.blocks) {
    if (from !== undefined && b.maxTs < from) continue;
    if (to !== undefined && b.minTs >= to) continue;
    const bits = b.labels[name];
    for (let byte = 0; byte < bits.length; byte++) {
      if (bits[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((bits[byte]! & (1 << bit)) !== 0) out.add(names[byte * 8 + bit] ?? '');
    }
  }
  for (const r of view.batches) {
    const ids = name === 'service' ? r.serviceIds() : name === 'server' ? r.serverIds() : r.regionIds();
    const labels = r.labels();
    for (let i = 0; i < ids.length; i++) out.add(labels[ids[i]!]!);
  }
  return [...out].sort();
}
