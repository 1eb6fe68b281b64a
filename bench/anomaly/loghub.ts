/**
 * The real-data check: the Loghub BGL and HDFS samples through a daemon's
 * detectors, file order, with the default rule and a tighter one; what it
 * flags per service, compared with BGL's alert labels. The daemon's events
 * are checked against a WindowTable fed the same lines (they must agree).
 *
 *   npm run bench:anomaly:loghub [-- --data DIR]   (default ../shared/data/loghub, else test/fixtures/loghub)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnomalyEvent } from '../../src/anomaly/detector-actor.js';
import { WindowTable, type WindowRule } from '../../src/anomaly/window.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { Level } from '../../src/model/level.js';
import { readBgl, readHdfs, type LabelledEntry } from '../lib/loghub.js';
import { printTable, writeResults } from '../lib/report.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const arg = process.argv.indexOf('--data');
const dataDir =
  arg > 0
    ? process.argv[arg + 1]!
    : existsSync(join(root, '../shared/data/loghub/BGL'))
      ? join(root, '../shared/data/loghub')
      : join(root, 'test/fixtures/loghub');
const file = (name: string) => (existsSync(join(dataDir, name.split('_')[0]!, name)) ? join(dataDir, name.split('_')[0]!, name) : join(dataDir, name));

/** The events a daemon's detectors publish for `lines`, ingested in file order. */
export async function detect(lines: readonly LabelledEntry[], rule: WindowRule): Promise<AnomalyEvent[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-loghub-'));
  // One shard: the detector then sees the lines in file order, as the reference does.
  const d = await Daemon.start({ dataDir: dir, http: { port: 0 }, grpc: false, workers: 2, shards: 1, anomaly: { rule } });
  try {
    const events: AnomalyEvent[] = [];
    d.anomalies!.subscribe((e) => events.push(e));
    for (let i = 0; i < lines.length; i += 200) await d.ingest(lines.slice(i, i + 200).map((l) => l.entry));
    const deadline = Date.now() + 30_000;
    while ((await d.anomalies!.detectorStats()).reduce((s, x) => s + x.entries, 0) < lines.length) {
      if (Date.now() > deadline) throw new Error('the detectors did not count every line within 30 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    return events;
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ServiceRow {
  service: string;
  lines: number;
  errors: number;
  alerts: number;
  flags: number;
  clears: number;
  /** Lines seen while the service was flagged (the line that tipped it included). */
  flaggedLines: number;
  /** Alert lines seen while flagged. */
  alertsFlagged: number;
  /** Line number (1-based) of the first alert and of the first flag. */
  firstAlert: number | null;
  firstFlag: number | null;
}

function analyse(lines: readonly LabelledEntry[], rule: WindowRule, events: readonly AnomalyEvent[]) {
  const table = new WindowTable(rule);
  const rows = new Map<string, ServiceRow>();
  const reference: string[] = [];
  lines.forEach((l, i) => {
    const s = l.entry.service;
    let r = rows.get(s);
    if (!r)
      rows.set(
        s,
        (r = { service: s, lines: 0, errors: 0, alerts: 0, flags: 0, clears: 0, flaggedLines: 0, alertsFlagged: 0, firstAlert: null, firstFlag: null }),
      );
    const t = table.push(s, l.entry.level === Level.ERROR);
    if (t) reference.push(`${t} ${s} ${l.entry.ts}`);
    if (t === 'flag') {
      r.flags++;
      r.firstFlag ??= i + 1;
    } else if (t === 'clear') r.clears++;
    const flagged = table.state(s)!.flagged;
    r.lines++;
    if (l.entry.level === Level.ERROR) r.errors++;
    if (l.alert) {
      r.alerts++;
      r.firstAlert ??= i + 1;
      if (flagged) r.alertsFlagged++;
    }
    if (flagged) r.flaggedLines++;
  });
  // Detectors run in parallel: each service's events keep their order, services interleave freely.
  const perService = (xs: string[]) => [...xs].sort((a, b) => a.split(' ')[1]!.localeCompare(b.split(' ')[1]!));
  const observed = perService(events.map((e) => `${e.type} ${e.service} ${e.ts}`));
  const expected = perService(reference);
  const agrees = observed.length === expected.length && observed.every((e, i) => e === expected[i]);
  return { rows: [...rows.values()].sort((a, b) => b.lines - a.lines), agrees, events: observed.length };
}

const datasets: [string, LabelledEntry[]][] = [
  ['BGL_2k', readBgl(file('BGL_2k.log'))],
  ['HDFS_2k', readHdfs(file('HDFS_2k.log'))],
];
const rules: WindowRule[] = [
  { size: 1000, threshold: 10 },
  { size: 100, threshold: 10 },
];
const results = [];
for (const [name, lines] of datasets) {
  for (const rule of rules) {
    const events = await detect(lines, rule);
    const { rows, agrees, events: count } = analyse(lines, rule, events);
    const alerts = rows.reduce((s, r) => s + r.alerts, 0);
    const alertsFlagged = rows.reduce((s, r) => s + r.alertsFlagged, 0);
    const flaggedLines = rows.reduce((s, r) => s + r.flaggedLines, 0);
    printTable(
      `${name}, N = ${rule.size}, T = ${rule.threshold}: ${count} events, daemon ${agrees ? 'agrees' : 'DISAGREES'} with the reference; ` +
        `alerts seen while flagged ${alertsFlagged}/${alerts}, flagged lines that are alerts ${alertsFlagged}/${flaggedLines}`,
      rows.map((r) => ({
        service: r.service,
        lines: r.lines,
        'ERROR lines': r.errors,
        'alert lines': r.alerts,
        flags: r.flags,
        clears: r.clears,
        'first flag (line)': r.firstFlag ?? '-',
        'first alert (line)': r.firstAlert ?? '-',
        'lines while flagged': r.flaggedLines,
        'alerts while flagged': r.alertsFlagged,
      })),
    );
    if (!agrees) process.exitCode = 1;
    results.push({ dataset: name, rule, events: count, agreesWithReference: agrees, alerts, alertsFlagged, flaggedLines, services: rows });
  }
}
console.log(`\nwrote ${writeResults('anomaly-loghub', { dataDir, results })}`);
