import type { ShardSink } from '../sink.js';
import { parseJsonLineExact } from './exact-json.js';
import { addJsonEntry, TIME_FIELDS } from './fields.js';
import { forEachLine } from './lines.js';

/**
 * NDJSON: one JSON object per line (`POST /api/v1/ingest`, pino output,
 * `tributary import`, collectors). Blank lines are skipped; a bad line is
 * rejected with its number and reason while the others are stored. Line
 * numbers are 1-based, counted from `firstLine` (a chunk of a larger file).
 */
export function parseNdjson(sink: ShardSink, body: Uint8Array | string, firstLine = 1): void {
  const now = BigInt(Date.now()) * 1_000_000n;
  // JSON adds quoting and field names around a message: allow for them before calling a line too long.
  forEachLine(sink, body, firstLine, 16_384, (raw, line) => {
    let value: unknown;
    try {
      value = parseJsonLineExact(raw, TIME_FIELDS);
    } catch (err) {
      sink.reject(line, 'malformed_json', `line ${line}: ${(err as Error).message}`);
      return;
    }
    addJsonEntry(sink, line, value, raw, now);
  });
}
