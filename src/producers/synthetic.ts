import type { LogEntry } from '../model/entry.js';
import type { Level } from '../model/level.js';

const TEMPLATES = [
  (i: number) => `GET /api/v1/orders/${i % 100_000} 200 ${i % 900}ms user=u${i % 5000} trace=${(i * 2654435761) >>> 0}`,
  (i: number) => `connection to db-${i % 8}.internal:5432 timed out after ${i % 30}s, retrying (attempt ${i % 5})`,
  (i: number) => `cache miss key=session:${(i * 40503) >>> 0} size=${i % 4096}B evicted=${i % 3} shard=${i % 16}`,
  (i: number) => `worker ${i % 64} processed batch ${i} in ${i % 77}ms queue_depth=${i % 1000} ok`,
];

/**
 * Template literals produce V8 cons-strings (ropes); messages a daemon
 * ingests come from JSON.parse or Buffer#toString and are flat. Flatten once
 * so benchmarks measure the realistic case.
 */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** Level mix: 5% ERROR, ~13% WARN, ~27% DEBUG, the rest INFO. */
export function syntheticLevel(i: number): Level {
  return (i % 20 === 0 ? 3 : i % 7 === 0 ? 2 : i % 3 === 0 ? 0 : 1) as Level;
}

/** A flat ~100-byte message from a few templates with variable fields. */
export function syntheticMessage(i: number): string {
  return flat(TEMPLATES[i & 3]!(i));
}

/** ~100-byte messages from a few templates with variable fields, as real services log. */
export function syntheticEntry(i: number): LogEntry {
  return {
    ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n,
    level: syntheticLevel(i),
    service: flat(`svc-${i % 20}`),
    server: flat(`srv-${i % 500}`),
    region: flat(`region-${i % 10}`),
    message: syntheticMessage(i),
  };
}

export function syntheticEntries(n: number, offset = 0): LogEntry[] {
  return Array.from({ length: n }, (_, i) => syntheticEntry(i + offset));
}
