import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { daemonOptions, demoFleet } from '../config/daemon-options.js';
import type { ResolvedConfig } from '../config/load.js';
import { Daemon, type DaemonOptions } from '../daemon/daemon.js';
import { FleetFileWriter } from '../producers/fleet.js';

/** The daemon's structured log: pino JSON lines on stdout (pipe through pino-pretty to read them as text). */
export function daemonLogger(config: ResolvedConfig): Logger {
  return pino({ name: 'tributary', level: config.log.level });
}

/**
 * Runs the daemon until SIGINT or SIGTERM. The first signal stops it
 * gracefully: doors stop accepting, mailboxes drain, shards fsync and close,
 * and the data directory is marked as stopped cleanly. A second signal
 * exits at once (the next start recovers from the WAL).
 */
export async function runDaemon(config: ResolvedConfig, mode: { demo?: boolean } = {}): Promise<void> {
  const logger = daemonLogger(config);
  const log: DaemonOptions['log'] = (level, message, fields) => logger[level](fields ?? {}, message);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, `uncaught exception: ${err.message}`);
    process.exit(1);
  });

  let options: DaemonOptions = { ...daemonOptions(config), log };
  let fleet: FleetFileWriter | undefined;
  if (mode.demo) {
    // A simulated fleet writing pino log files, tailed by a hosted collector: the whole path a real fleet takes.
    const dir = join(options.dataDir!, 'demo-fleet');
    fleet = new FleetFileWriter({ ...demoFleet(config), dir, files: 4, rotateBytes: 64 * 2 ** 20, keep: 2 });
    options = {
      ...options,
      collectors: [
        ...(options.collectors ?? []),
        { include: [join(dir, '*.log')], stateDir: join(options.dataDir!, 'demo-collector'), format: { type: 'ndjson' } },
      ],
    };
  }

  const daemon = await Daemon.start(options);
  fleet?.start();
  const url = daemon.url.replace('0.0.0.0', '127.0.0.1');
  logger.info(
    { http: daemon.url, grpc: daemon.grpcAddress || null, syslog: daemon.syslog ? daemon.syslog.port : null, ui: config.http.ui ? url : null },
    `tributary ready: UI and API on ${url}${daemon.grpcAddress ? `, gRPC on ${daemon.grpcAddress}` : ''}${daemon.syslog ? `, syslog on tcp ${daemon.syslog.port}` : ''}`,
  );
  const report = fleet ? reportDemo(daemon, fleet, logger) : () => {};

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal: sig }, `${sig} again: exiting now without the graceful stop (the next start recovers from the WAL)`);
        process.exit(130);
      }
      logger.info({ signal: sig }, `${sig}: stopping (doors closed, draining mailboxes, syncing shards); send it again to exit at once`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const started = performance.now();
  fleet?.stop();
  report();
  await daemon.stop();
  logger.info({ ms: Math.round(performance.now() - started) }, 'stopped cleanly');
}

/** Every 5 s in demo mode: what the fleet wrote, what the collector got stored, which services are flagged. */
function reportDemo(daemon: Daemon, fleet: FleetFileWriter, logger: Logger): () => void {
  let last = { at: performance.now(), written: 0 };
  const timer = setInterval(() => {
    void (async () => {
      const now = performance.now();
      const [stats] = await daemon.collectorStats().catch(() => []);
      const flagged = daemon.anomalies?.current().map((e) => e.service) ?? [];
      const rate = Math.round(((fleet.written - last.written) * 1000) / (now - last.at));
      last = { at: now, written: fleet.written };
      logger.info(
        { written: fleet.written, stored: stats?.acked ?? null, rate, flagged },
        `demo: fleet wrote ${fleet.written.toLocaleString('en')} (${rate.toLocaleString('en')}/s), ${stats ? stats.acked.toLocaleString('en') : '?'} stored; flagged: ${flagged.join(', ') || 'none'}`,
      );
    })();
  }, 5000);
  return () => clearInterval(timer);
}
