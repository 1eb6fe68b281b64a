import { importFiles, type ImportProgress } from '../import/importer.js';

export interface ImportFlags {
  aggregator: string[];
  format: 'auto' | 'ndjson' | 'plain';
  threads?: number;
}

/** A progress bar on a terminal, a line every few seconds otherwise. */
function progressPrinter(): (p: ImportProgress) => void {
  const started = performance.now();
  let last = 0;
  const tty = process.stderr.isTTY === true;
  return (p) => {
    const now = performance.now();
    if (now - last < (tty ? 200 : 5000)) return;
    last = now;
    const share = p.totalBytes > 0 ? Math.min(1, p.bytesRead / p.totalBytes) : 1;
    const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
    const rate = Math.round((p.entries * 1000) / (now - started));
    const text = `[${bar}] ${(share * 100).toFixed(0).padStart(3)}%  ${p.entries.toLocaleString('en')} entries  ${rate.toLocaleString('en')}/s`;
    process.stderr.write(tty ? `\r${text}` : `${text}\n`);
  };
}

export async function importCommand(files: string[], flags: ImportFlags): Promise<void> {
  const summary = await importFiles({
    files,
    aggregators: flags.aggregator.length > 0 ? flags.aggregator : ['127.0.0.1:9095'],
    format: flags.format,
    parseThreads: flags.threads,
    onProgress: progressPrinter(),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const refused = Object.values(summary.rejected).reduce((a, b) => a + (b ?? 0), 0);
  console.log(
    `imported ${summary.entries.toLocaleString('en')} entries from ${summary.files} files in ${summary.seconds.toFixed(1)} s (${summary.entriesPerSecond.toLocaleString('en')}/s); ${refused} lines refused`,
  );
  for (const [reason, n] of Object.entries(summary.rejected)) console.log(`  ${reason}: ${n}`);
  for (const e of summary.errors) console.log(`  ${e.file}:${e.line}: ${e.message}`);
  if (refused > 0) process.exitCode = 2;
}
