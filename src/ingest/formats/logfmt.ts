import type { ShardSink } from '../sink.js';
import { addJsonEntry } from './fields.js';
import { forEachLine } from './lines.js';

const PAIR = /\s*([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|[^\s]*))?/y;

/** `key=value key="quoted value" flag` into a record; undefined when the line has no key=value pair at all. */
export function parseLogfmtLine(raw: string): Record<string, string> | undefined {
  const rec: Record<string, string> = {};
  let pairs = 0;
  PAIR.lastIndex = 0;
  while (PAIR.lastIndex < raw.length) {
    const at = PAIR.lastIndex;
    const m = PAIR.exec(raw);
    if (!m || PAIR.lastIndex === at) break;
    let v = m[2];
    if (v === undefined) {
      rec[m[1]!] = 'true';
      continue;
    }
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        v = v.slice(1, -1);
      }
    }
    rec[m[1]!] = v;
    pairs++;
  }
  return pairs > 0 ? rec : undefined;
}

/**
 * logfmt (Heroku, Go's slog text handler, many Go services): `time=...
 * level=warn msg="disk 91%" service=api`. Fields map as for JSON; a line
 * with no key=value pair is kept whole as an INFO message.
 */
export function parseLogfmt(sink: ShardSink, body: Uint8Array, firstLine = 1): void {
  const now = BigInt(Date.now()) * 1_000_000n;
  forEachLine(sink, body, firstLine, 16_384, (raw, line) => {
    addJsonEntry(sink, line, parseLogfmtLine(raw) ?? { msg: raw }, raw, now);
  });
}
