// `npm run bench` (or `tributary bench`): every benchmark, one child process
// each (a benchmark measures its own process, undisturbed by the last), with a
// progress bar; then the key figures in bench/results/SUMMARY.md and
// summary.json, with the change since the previous summary.
//
//   npm run bench                 # full runs (about 15 minutes on 2 cores)
//   npm run bench -- --quick      # short runs: checks the suite end to end
//   npm run bench -- --only ingest,query
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import { RESULTS_DIR, machine } from './lib/report.js';

/** Each runs bench/<name>/run.js and writes bench/results/<name>.json (<name>-quick.json with --quick). */
const BENCHES = ['mailbox', 'actors', 'storage', 'query', 'ingest', 'anomaly', 'cluster'] as const;

const DIST_BENCH = fileURLToPath(new URL('.', import.meta.url));

/** One figure of the summary: higher or lower is better, so the change can be called better or worse. */
interface Figure {
  readonly group: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
}

type Json = Record<string, any>;

function readResults(name: string, quick: boolean): Json | undefined {
  const path = join(RESULTS_DIR, `${name}${quick ? '-quick' : ''}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Json) : undefined;
}

/** The key figures out of each benchmark's results file (absent when that benchmark has not run). */
export function keyFigures(read: (name: string) => Json | undefined): Figure[] {
  const out: Figure[] = [];
  const ingest = read('ingest');
  for (const r of ingest?.rows ?? []) out.push({ group: 'ingest entries/s', name: r.door, value: r.entriesPerSec, unit: '/s', better: 'higher' });
  const query = read('query');
  for (const p of ['p50', 'p99'] as const) {
    for (const r of query?.rows ?? []) out.push({ group: `query ${p}`, name: r.shape, value: r[p], unit: 'ms', better: 'lower' });
  }
  const storage = read('storage');
  if (storage) {
    out.push({ group: 'storage', name: 'bytes per entry (synthetic fleet)', value: storage.syntheticBytesPerEntry, unit: 'B', better: 'lower' });
    const loghub = (storage.loghub ?? []) as Json[];
    if (loghub.length > 0) {
      const mean = loghub.reduce((a, r) => a + Number(r['block bytes/entry']), 0) / loghub.length;
      out.push({ group: 'storage', name: `bytes per entry (Loghub, mean of ${loghub.length})`, value: mean, unit: 'B', better: 'lower' });
    }
    const rss = Object.values((storage.rssBytes ?? {}) as Record<string, number>);
    if (rss.length > 0)
      out.push({ group: 'memory', name: 'resident memory, peak while ingesting', value: Math.max(...rss) / 2 ** 20, unit: 'MiB', better: 'lower' });
    if (storage.recovery)
      out.push({ group: 'restart', name: `storage recovery of ${storage.recovery.entries} entries`, value: storage.recovery.ms, unit: 'ms', better: 'lower' });
    for (const r of storage.ingest ?? [])
      out.push({ group: 'storage ingest entries/s (in process)', name: r.setup, value: r.rate, unit: '/s', better: 'higher' });
  }
  const anomaly = read('anomaly');
  for (const r of anomaly?.latencyMs ?? []) out.push({ group: 'detection latency p99', name: r.run, value: r.p99, unit: 'ms', better: 'lower' });
  if (anomaly?.ingest) out.push({ group: 'detection', name: 'ingest with detection / without', value: anomaly.ingest.ratio, unit: 'x', better: 'higher' });
  const actors = read('actors');
  if (actors?.restartMs) {
    out.push({ group: 'restart', name: 'actor restart after a throw, p99', value: actors.restartMs.throw.p99, unit: 'ms', better: 'lower' });
    out.push({ group: 'restart', name: 'actor restart after its thread died, p99', value: actors.restartMs.exit.p99, unit: 'ms', better: 'lower' });
  }
  const cluster = read('cluster');
  if (cluster && !cluster.skipped) {
    const group = 'cluster (3 NATS + 3 daemons on this host)';
    out.push({ group, name: 'entries/s acknowledged by JetStream', value: cluster.throughput.acknowledgedPerSec, unit: '/s', better: 'higher' });
    out.push({ group, name: 'entries/s stored by the owners', value: cluster.throughput.storedPerSec, unit: '/s', better: 'higher' });
    out.push({ group, name: 'stored / one daemon alone', value: cluster.ratio.stored, unit: 'x', better: 'higher' });
    out.push({ group, name: 'consumer lag while writing, max', value: cluster.throughput.lagBatches.max, unit: 'batches', better: 'lower' });
    out.push({
      group,
      name: `takeover of a killed daemon's shards (lease ${cluster.leaseMs / 1000} s)`,
      value: cluster.takeoverMedian.ownedMs,
      unit: 'ms',
      better: 'lower',
    });
  }
  const mailbox = read('mailbox');
  for (const r of mailbox?.entries ?? []) out.push({ group: 'mailbox entries/s', name: r.label, value: r.rate.median, unit: '/s', better: 'higher' });
  // One table per group, in the order the groups first appear.
  const order = [...new Set(out.map((f) => f.group))];
  return out
    .map((f, i) => ({ f, i }))
    .sort((a, b) => order.indexOf(a.f.group) - order.indexOf(b.f.group) || a.i - b.i)
    .map(({ f }) => f);
}

function fmt(v: number, unit: string): string {
  if (unit === '/s') return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(0)} k/s`;
  if (unit === 'x') return `${v.toFixed(2)}x`;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ${unit}`;
}

/** The summary as Markdown, each figure with its change since `previous` (matched by group and name). */
export function markdown(figures: readonly Figure[], previous: readonly Figure[] | undefined, meta: Json): string {
  const before = new Map((previous ?? []).map((f) => [`${f.group}|${f.name}`, f]));
  const lines = [
    `# Benchmark summary`,
    '',
    `${meta.date}, ${meta.quick ? 'quick runs' : 'full runs'}, Node ${meta.machine.node}, ${meta.machine.cpus} cores (${meta.machine.cpuModel}), ${meta.machine.memGiB} GiB.`,
    `Measured by \`npm run bench${meta.quick ? ' -- --quick' : ''}\`; each benchmark's own table and JSON are in bench/results/. Changes compare with the previous summary${meta.previousDate ? ` (${meta.previousDate})` : ''}; on a shared 2-core machine, changes under about 10 % are noise.`,
    '',
  ];
  let group = '';
  for (const f of figures) {
    if (f.group !== group) {
      group = f.group;
      lines.push('', `## ${group}`, '', '| figure | value | change |', '| --- | ---: | ---: |');
    }
    const p = before.get(`${f.group}|${f.name}`);
    let change = 'new';
    if (p && p.value !== 0) {
      const pct = ((f.value - p.value) / p.value) * 100;
      const good = f.better === 'higher' ? pct > 0 : pct < 0;
      change = Math.abs(pct) < 0.5 ? '0 %' : `${pct > 0 ? '+' : ''}${pct.toFixed(1)} % ${good ? '(better)' : '(worse)'}`;
    }
    lines.push(`| ${f.name} | ${fmt(f.value, f.unit)} | ${change} |`);
  }
  return lines.join('\n') + '\n';
}

function runOne(name: string, quick: boolean, log: NodeJS.WritableStream): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', join(DIST_BENCH, name, 'run.js'), ...(quick ? ['--quick'] : [])], {
      env: { ...process.env, MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    log.write(`\n===== ${name} (${new Date().toISOString()}) =====\n`);
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

export async function runSuite(options: { quick?: boolean; only?: readonly string[] } = {}): Promise<number> {
  const quick = options.quick ?? false;
  const selected = BENCHES.filter((b) => !options.only || options.only.includes(b));
  if (selected.length === 0) {
    console.error(`no such benchmark: ${options.only?.join(', ')} (there are ${BENCHES.join(', ')})`);
    return 2;
  }
  const logPath = join(RESULTS_DIR, 'suite.log');
  const log = createWriteStream(logPath);
  const tty = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    { format: ' {bar} {value}/{total} benchmarks | {bench} | {duration_formatted}', hideCursor: true, noTTYOutput: false, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  if (tty) bar.start(selected.length, 0, { bench: selected[0] });
  const failed: string[] = [];
  for (const [i, name] of selected.entries()) {
    if (tty) bar.update(i, { bench: name });
    else console.error(`[${i + 1}/${selected.length}] ${name}...`);
    const started = performance.now();
    const code = await runOne(name, quick, log);
    if (code !== 0) failed.push(name);
    if (!tty)
      console.error(
        `[${i + 1}/${selected.length}] ${name}: ${code === 0 ? 'done' : `failed (exit ${code})`} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
  }
  if (tty) {
    bar.update(selected.length, { bench: 'done' });
    bar.stop();
  }
  await new Promise<void>((r) => log.end(r));

  const summaryName = quick ? 'summary-quick' : 'summary';
  const jsonPath = join(RESULTS_DIR, `${summaryName}.json`);
  const previous = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { date: string; figures: Figure[] }) : undefined;
  // Only what ran now: an older results file of a benchmark left out by --only is not this run's figure.
  const ran = new Set<string>(selected.filter((b) => !failed.includes(b)));
  const figures = keyFigures((name) => (ran.has(name) ? readResults(name, quick) : undefined));
  const meta = { date: new Date().toISOString(), quick, machine: machine(), previousDate: previous?.date };
  if (previous) renameSync(jsonPath, join(RESULTS_DIR, `${summaryName}.previous.json`));
  writeFileSync(jsonPath, JSON.stringify({ ...meta, figures }, null, 2) + '\n');
  const md = markdown(figures, previous?.figures, meta);
  const mdPath = join(RESULTS_DIR, quick ? 'SUMMARY-quick.md' : 'SUMMARY.md');
  writeFileSync(mdPath, md);
  console.log(md);
  console.log(`written: ${mdPath}, ${jsonPath}; the benchmarks' own output: ${logPath}`);
  if (failed.length > 0) console.error(`failed: ${failed.join(', ')} (see ${logPath})`);
  return failed.length > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--only');
  const only = at > 0 ? process.argv[at + 1] : process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  process.exitCode = await runSuite({ quick: process.argv.includes('--quick'), only: only?.split(',') });
}
