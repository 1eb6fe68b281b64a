import type { ShardSink } from '../sink.js';
import { timestampNs } from '../timestamp.js';
import { detectLevel } from './labels.js';
import { forEachLine } from './lines.js';

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/**
 * Leading timestamps as the common plain-text logs write them (the shapes
 * of the Loghub collection: Hadoop, HDFS, Apache, syslog, BGL, Android,
 * HealthApp). Each returns milliseconds, or undefined. A year the line does
 * not state is `year`. Zones are not stated either: read as UTC.
 */
const SHAPES: readonly [RegExp, (m: RegExpExecArray, year: number) => number][] = [
  // 2015-10-18 18:01:47,978 (Hadoop, log4j) and 2025-11-21T21:00:00.123Z
  [
    /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,3}))?/,
    (m) => Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +(m[7] ?? '0').padEnd(3, '0')),
  ],
  // 081109 203615 (HDFS)
  [/^(\d{2})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2}) /, (m) => Date.UTC(2000 + +m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)],
  // [Sun Dec 04 04:47:44 2005] (Apache)
  [/^\[\w{3} (\w{3}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})\]/, (m) => Date.UTC(+m[6]!, MONTHS[m[1]!] ?? NaN, +m[2]!, +m[3]!, +m[4]!, +m[5]!)],
  // Jun 14 15:16:01 (syslog)
  [/^(\w{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) /, (m, y) => Date.UTC(y, MONTHS[m[1]!] ?? NaN, +m[2]!.trim(), +m[3]!, +m[4]!, +m[5]!)],
  // - 1117838570 2005.06.03 ... (BGL: epoch seconds in the second field)
  [/^\S+ (\d{10}) \d{4}\.\d{2}\.\d{2} /, (m) => +m[1]! * 1000],
  // 03-17 16:13:38.811 (Android logcat)
  [/^(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) /, (m, y) => Date.UTC(y, +m[1]! - 1, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!)],
  // 20171223-22:15:29:606 (HealthApp)
  [/^(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2}):(\d{1,3})/, (m) => Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!)],
];

/** The time a plain line starts with, in ns, or undefined when it starts with none Tributary recognises. */
export function leadingTimestamp(line: string, year: number): bigint | undefined {
  for (const [re, toMs] of SHAPES) {
    const m = re.exec(line);
    if (!m) continue;
    const ms = toMs(m, year);
    if (Number.isFinite(ms)) return BigInt(ms) * 1_000_000n;
  }
  const first = line.slice(0, line.indexOf(' ') >>> 0);
  return first.length >= 10 ? timestampNs(first) : undefined;
}

/**
 * Plain log lines (archives, Loghub-style files): each line is stored whole,
 * with the time it starts with (or the file's time when it has none), the
 * level it states (ERROR, WARN, [error], ...; else INFO), and the service,
 * server and region of the sink's defaults (for an import: the file's name).
 */
export function parsePlainLines(sink: ShardSink, body: Uint8Array, firstLine = 1, fallbackNs = BigInt(Date.now()) * 1_000_000n): void {
  const year = new Date(Number(fallbackNs / 1_000_000n)).getUTCFullYear();
  forEachLine(sink, body, firstLine, 0, (raw, line) => {
    const ts = leadingTimestamp(raw, year) ?? fallbackNs;
    sink.add(line, ts, detectLevel(raw), sink.defaults.service, sink.defaults.server, sink.defaults.region, raw);
  });
}
