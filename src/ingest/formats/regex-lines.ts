import type { ShardSink } from '../sink.js';
import { addJsonEntry } from './fields.js';
import { forEachLine } from './lines.js';

/**
 * Plain lines parsed by a configured regular expression with named groups:
 * `ts`, `level`, `service`, `server`, `region` and `msg` (any may be left
 * out; without `msg` the whole line is the message). A line the pattern
 * does not match is refused as no_match, or with `keepUnmatched` stored
 * whole (arrival time, INFO), which is what a user tailing a file of mixed
 * shapes usually wants.
 */
export function parseRegexLines(sink: ShardSink, body: Uint8Array, pattern: RegExp, keepUnmatched: boolean, firstLine = 1): void {
  const now = BigInt(Date.now()) * 1_000_000n;
  forEachLine(sink, body, firstLine, 0, (raw, line) => {
    const m = pattern.exec(raw);
    if (!m) {
      if (keepUnmatched) addJsonEntry(sink, line, { msg: raw }, raw, now);
      else sink.reject(line, 'no_match', `line ${line} does not match the pattern ${pattern.source.slice(0, 60)}`);
      return;
    }
    const g = m.groups ?? {};
    const rec: Record<string, string> = { msg: g.msg ?? raw };
    for (const k of ['ts', 'level', 'service', 'server', 'region'] as const) if (g[k] !== undefined && g[k] !== '') rec[k] = g[k];
    addJsonEntry(sink, line, rec, raw, now);
  });
}
