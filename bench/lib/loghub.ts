import { readFileSync } from 'node:fs';
import type { LogEntry } from '../../src/model/entry.js';
import { Level, tryParseLevel } from '../../src/model/level.js';

/** A Loghub line as an entry, with its label where the dataset labels lines (BGL: the alert category, '' for none). */
export interface LabelledEntry {
  readonly entry: LogEntry;
  readonly alert: string;
}

// - 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO message
const BGL = /^(\S+) (\d+) \S+ (\S+) \d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.(\d{6}) \S+ \S+ (\S+) (\S+) ?(.*)$/;

/**
 * The BGL sample: service = component (KERNEL, APP, MMCS...), server = the
 * node, region = its rack (R02), level = the line's severity (FATAL and
 * SEVERE are ERROR), timestamp = the epoch seconds plus the microseconds.
 * The first column is the label: '-' for a normal line, else the alert
 * category.
 */
export function readBgl(path: string): LabelledEntry[] {
  return lines(path).map((line, i) => {
    const m = BGL.exec(line);
    if (!m) throw new Error(`${path}:${i + 1} is not a BGL line`);
    const [, label, epoch, node, micros, component, level, message] = m;
    return {
      entry: {
        ts: BigInt(epoch!) * 1_000_000_000n + BigInt(micros!) * 1000n,
        level: tryParseLevel(level!) ?? Level.INFO,
        service: component!,
        server: node!,
        region: node!.split('-')[0]!,
        message: message!,
      },
      alert: label === '-' ? '' : label!,
    };
  });
}

// 081109 203615 148 INFO dfs.DataNode$PacketResponder: message
const HDFS = /^(\d{2})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2}) (\d+) (\S+) (\S+): (.*)$/;

/**
 * The HDFS sample: service = the logging class, server = the thread id,
 * level as written. HDFS labels whole block traces (anomaly_label.csv,
 * not part of the sample), not lines: `alert` is always ''.
 */
export function readHdfs(path: string): LabelledEntry[] {
  return lines(path).map((line, i) => {
    const m = HDFS.exec(line);
    if (!m) throw new Error(`${path}:${i + 1} is not an HDFS line`);
    const [, yy, mo, dd, hh, mi, ss, thread, level, component, message] = m;
    const ms = Date.UTC(2000 + +yy!, +mo! - 1, +dd!, +hh!, +mi!, +ss!);
    return {
      entry: {
        ts: BigInt(ms) * 1_000_000n + BigInt(i),
        level: tryParseLevel(level!) ?? Level.INFO,
        service: component!,
        server: `thread-${thread}`,
        region: 'hdfs',
        message: message!,
      },
      alert: '',
    };
  });
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
}
