import type { ShardSink } from '../sink.js';
import { addJsonEntry } from './fields.js';

/**
 * NDJSON: one JSON object per line (`POST /api/v1/ingest`, pino output,
 * `tributary import`). Blank lines are skipped; a bad line is rejected with
 * its number and reason while the others are stored. Line numbers are
 * 1-based, counted from `firstLine` (a chunk of a larger file).
 */
export function parseNdjson(sink: ShardSink, body: Uint8Array, firstLine = 1): void {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const now = BigInt(Date.now()) * 1_000_000n;
  // JSON adds quoting and field names around a message: allow for them before calling a line too long.
  const maxLineChars = sink.maxLineBytes + 16_384;
  let line = firstLine - 1;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--; // CRLF
    if (stop > start) {
      if (stop - start > maxLineChars) {
        sink.reject(line, 'line_too_long', `line ${line} is ${stop - start} characters, over the limit`);
      } else {
        const raw = text.slice(start, stop);
        let value: unknown;
        let ok = true;
        try {
          value = JSON.parse(raw);
        } catch (err) {
          ok = false;
          sink.reject(line, 'malformed_json', `line ${line}: ${(err as Error).message}`);
        }
        if (ok) addJsonEntry(sink, line, value, raw, now);
      }
    }
    start = end + 1;
  }
}
