import type { StoreView } from '../index/store.js';
import type { LabelName } from './model.js';

/** The distinct values of one label in a store (sealed blocks through their bitsets, plus unsealed batches). */
export function labelValues(view: StoreView, name: LabelName, from?: bigint, to?: bigint): string[] {
  const out = new Set<string>();
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
