/** Rows as aligned columns: numbers right-aligned, text left-aligned; the first row is the header. */
export function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** commander's collector for a repeatable flag: `--x a --x b` gives ['a', 'b']. */
export const repeatable = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Resolves with the first SIGINT or SIGTERM: how the long-running commands wait to stop. */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
