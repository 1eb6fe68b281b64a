import type { IdentifiedEntry } from './entry.js';
import { LEVEL_NAMES } from './level.js';

/**
 * An entry's fields as strings, as every wire format carries them: the
 * level by name, and the 64-bit ts and seq as decimal strings (a JavaScript
 * number, and so JSON as most clients read it, loses precision past 2^53).
 */
export function entryStrings(e: IdentifiedEntry) {
  return {
    ts: e.ts.toString(),
    level: LEVEL_NAMES[e.level]!,
    service: e.service,
    server: e.server,
    region: e.region,
    message: e.message,
    source: e.source,
    seq: e.seq.toString(),
    ...(e.labels !== undefined ? { labels: e.labels } : {}),
    ...(e.metadata !== undefined ? { metadata: e.metadata } : {}),
  };
}
