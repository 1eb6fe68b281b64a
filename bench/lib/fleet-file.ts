import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealisticFleet, writeNdjson } from './realistic.js';
import { si } from './report.js';

/**
 * The realistic fleet's entries as an NDJSON file, made once per (entries,
 * seed) and kept in the temporary directory between runs, since writing 10 M
 * entries takes a minute. Benchmarks that compare systems load this one file.
 */
export function realisticFile(fleet: RealisticFleet, log: (s: string) => void): string {
  const cache = join(tmpdir(), 'tributary-bench-fleet');
  mkdirSync(cache, { recursive: true });
  const path = join(cache, `fleet-${fleet.options.entries}-${fleet.options.seed ?? 42}.ndjson`);
  if (!existsSync(path)) {
    log(`writing ${si(fleet.options.entries)} entries of the realistic fleet to ${path}`);
    const t0 = performance.now();
    const bytes = writeNdjson(fleet, `${path}.tmp`);
    rmSync(path, { force: true });
    renameSync(`${path}.tmp`, path);
    log(`  ${(bytes / fleet.options.entries).toFixed(0)} bytes of NDJSON per entry, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return path;
}
