import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machine(): Record<string, string | number> {
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.arch()}`,
  };
}

/** Human units: 1234567 -> "1.23 M". */
export function si(n: number, digits = 2): string {
  const units = ['', ' k', ' M', ' G', ' T'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(digits)}${units[i]}`;
}

export function printTable(title: string, rows: readonly Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? '')));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) => '| ' + vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ') + ' |';
  console.log(`\n${title}`);
  console.log(line(cols));
  console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 1) + '-' : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const r of cells) console.log(line(r));
}

/** Writes bench/results/<name>.json (the latest run; git history keeps earlier ones). */
export function writeResults(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${name}.json`;
  const body = JSON.stringify(
    { benchmark: name, date: new Date().toISOString(), machine: machine(), ...(data as object) },
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
    2,
  );
  writeFileSync(path, body + '\n');
  return path;
}

/** Bytes of every file under `path` (what it takes on disk, less the file system's own overhead). */
export function dirBytes(path: string): number {
  let n = 0;
  for (const f of readdirSync(path, { withFileTypes: true })) n += f.isDirectory() ? dirBytes(join(path, f.name)) : statSync(join(path, f.name)).size;
  return n;
}
