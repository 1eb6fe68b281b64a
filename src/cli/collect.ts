import { readFileSync } from 'node:fs';
import { Collector, type CollectorOptions } from '../collector/collector.js';
import { TributaryError } from '../errors.js';
import { stopSignal } from './format.js';

export interface CollectFlags {
  config?: string;
  include?: string[];
  aggregator?: string[];
  aggregatorsFile?: string;
  stateDir: string;
  format: 'ndjson' | 'logfmt';
  pattern?: string;
  statsMs: number;
  /** Bearer token for aggregators that ask for one (or TRIBUTARY_TOKEN). */
  token?: string;
  /** TLS to the aggregators, trusting this CA. */
  tlsCa?: string;
}

/** Options from a JSON file (CollectorOptions), with flags filling what it leaves out. */
export function collectorOptions(flags: CollectFlags): CollectorOptions {
  let fromFile: Partial<CollectorOptions> = {};
  if (flags.config) {
    try {
      fromFile = JSON.parse(readFileSync(flags.config, 'utf8')) as Partial<CollectorOptions>;
    } catch (err) {
      throw new TributaryError('E_CONFIG_INVALID', `collector configuration ${flags.config}: ${(err as Error).message}`, { path: flags.config });
    }
  }
  const include = fromFile.include ?? flags.include;
  if (!include || include.length === 0)
    throw new TributaryError('E_CONFIG_INVALID', 'nothing to follow: give --include GLOB or "include" in the configuration', {});
  return {
    ...fromFile,
    include,
    stateDir: fromFile.stateDir ?? flags.stateDir,
    aggregatorsFile: fromFile.aggregatorsFile ?? flags.aggregatorsFile,
    aggregators: fromFile.aggregators ?? flags.aggregator,
    format: fromFile.format ?? (flags.pattern ? { type: 'regex', pattern: flags.pattern } : { type: flags.format }),
    grpc: fromFile.grpc ?? {
      ...(flags.token ? { token: flags.token } : {}),
      ...(flags.tlsCa ? { tls: { caFile: flags.tlsCa } } : {}),
    },
  };
}

/** Runs a collector until SIGINT or SIGTERM; prints what it shipped every `statsMs`. */
export async function runCollector(flags: CollectFlags): Promise<void> {
  const collector = await Collector.start({
    ...collectorOptions(flags),
    log: (level, message) => (level === 'info' ? console.log(message) : console.error(`${level}: ${message}`)),
  });
  const timer = setInterval(() => {
    const s = collector.stats();
    console.log(
      `collector: ${s.files} files, ${s.linesRead} lines read, ${s.acked} acknowledged, ${s.buffer.entries} in the disk buffer, ${s.dropped} dropped, ${Object.values(s.rejected).reduce((a, b) => a + (b ?? 0), 0)} refused lines`,
    );
  }, flags.statsMs);
  await stopSignal();
  clearInterval(timer);
  await collector.stop();
}
