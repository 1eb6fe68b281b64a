import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TributaryError } from '../errors.js';
import { committedSources, loadCollectorState } from '../collector/checkpoint.js';
import { verifyDelivery } from '../collector/verify.js';
import type { SourcesView } from '../http/ingest.js';
import { table } from './format.js';
import { getJson, type DaemonTarget } from './http-client.js';

export interface SourcesCommandOptions extends DaemonTarget {
  readonly prefix?: string;
  /** A collector's state directory: check that everything it committed is stored. */
  readonly collectorState?: string;
  readonly json: boolean;
}

function fetchSources(t: DaemonTarget, prefix: string): Promise<SourcesView> {
  return getJson<SourcesView>(t, '/api/v1/sources', { prefix, limit: '100000' });
}

const ranges = (m: readonly [number, number][]) => m.map(([f, t]) => (t - f === 1 ? `${f}` : `${f}-${t - 1}`)).join(',');

/**
 * `tributary sources`: the daemon's loss accounting per numbered source.
 * With `--collector-state DIR`, the proof for one collector: every number
 * it committed, checked against what the shards hold. Returns the exit
 * code: 0 when nothing is missing, 3 when something is.
 */
export async function sourcesCommand(o: SourcesCommandOptions, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (o.collectorState) {
    if (!existsSync(join(o.collectorState, 'checkpoint.json'))) {
      throw new TributaryError('E_INVALID_ARGUMENT', `no collector checkpoint in ${o.collectorState}`, { dir: o.collectorState });
    }
    const state = loadCollectorState(o.collectorState);
    const view = await fetchSources(o, state.id);
    const report = verifyDelivery(committedSources(state), view.sources);
    if (o.json) out(JSON.stringify({ collector: state.id, ...report, unanswered: view.unanswered }) + '\n');
    else {
      out(
        table([
          ['source', 'file', 'committed', 'stored', 'repeats', 'not stored', 'missing'],
          ...report.sources.map((s) => [s.source, s.path, s.committed, s.stored, s.duplicates, s.notStored, ranges(s.missing)]),
        ]),
      );
      out(
        report.notStored === 0
          ? `collector ${state.id}: all ${report.committed} committed entries are stored\n`
          : `collector ${state.id}: ${report.notStored} of ${report.committed} committed entries are not stored (still in its disk buffer, or lost)\n`,
      );
      for (const u of view.unanswered) out(`warning: shard ${u} did not answer\n`);
    }
    return report.notStored === 0 && view.unanswered.length === 0 ? 0 : 3;
  }
  const view = await fetchSources(o, o.prefix ?? '');
  if (o.json) {
    out(JSON.stringify(view) + '\n');
    return 0;
  }
  out(
    table([
      ['source', 'received', 'acked', 'refused', 'stored', 'repeats', 'gaps', 'missing'],
      ...view.sources.map((s) => [s.source, s.received, s.acknowledged, s.refused, s.stored, s.duplicates, s.gaps, ranges(s.missing)]),
    ]),
  );
  const gaps = view.sources.reduce((n, s) => n + s.gaps, 0);
  out(`${view.sources.length} sources, ${view.sources.reduce((n, s) => n + s.stored, 0)} entries stored, ${gaps} numbers missing\n`);
  for (const u of view.unanswered) out(`warning: shard ${u} did not answer\n`);
  return gaps === 0 ? 0 : 3;
}
