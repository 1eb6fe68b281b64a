#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 node
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isTributaryError } from '../errors.js';
import { runCollector, type CollectFlags } from './collect.js';
import { importCommand, type ImportFlags } from './import.js';
import { queryCommand } from './query.js';
import { runDaemon } from './run-daemon.js';
import { sourcesCommand, type SourcesCommandOptions } from './sources.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

const program = new Command().name('tributary').description('Log aggregation on an actor system of worker threads').version('0.1.0');

const daemonOptions = (cmd: Command) =>
  cmd
    .option('--data-dir <dir>', 'data directory', './data')
    .option('--http-host <host>', 'HTTP listen address', '127.0.0.1')
    .option('--http-port <port>', 'HTTP port', positiveInt, 3100)
    .option('--grpc-port <port>', 'gRPC query service port', positiveInt, 9095)
    .option('--no-grpc', 'no gRPC service')
    .option('--syslog-port <port>', 'syslog over TCP (RFC 5424/3164)', positiveInt, 1514)
    .option('--no-syslog', 'no syslog listener')
    .option('--memory <MiB>', 'memory budget: memtables, caches and heaps are sized from it', positiveInt, 512)
    .option('--workers <n>', 'worker threads (default: cores)', positiveInt)
    .option('--shards <n>', 'shards taking writes (default: workers)', positiveInt)
    .option('--collect <glob>', "tail this host's files matching the glob into the daemon (a collector actor; repeatable)", collect);

type DaemonFlags = {
  dataDir: string;
  httpHost: string;
  httpPort: number;
  grpcPort: number;
  grpc: boolean;
  syslogPort: number;
  syslog: boolean;
  memory: number;
  workers?: number;
  shards?: number;
  collect?: string[];
};
const toOptions = (o: DaemonFlags) => ({
  dataDir: o.dataDir,
  http: { host: o.httpHost, port: o.httpPort },
  grpc: o.grpc ? { host: o.httpHost, port: o.grpcPort } : (false as const),
  syslog: o.syslog ? { host: o.httpHost, port: o.syslogPort } : (false as const),
  memoryBudgetBytes: o.memory * 1024 * 1024,
  workers: o.workers,
  shards: o.shards,
  collectors: o.collect ? [{ include: o.collect, stateDir: join(o.dataDir, 'collector') }] : [],
});

daemonOptions(program.command('start').description('run the daemon: shards with replicas, queries over HTTP')).action(async (o: DaemonFlags) => {
  await runDaemon(toOptions(o));
});

daemonOptions(program.command('demo').description('run the daemon with a simulated fleet writing into it'))
  .option('--rate <entries/s>', 'simulated entries per second', positiveInt, 20_000)
  .action(async (o: DaemonFlags & { rate: number }) => {
    await runDaemon(toOptions(o), { rate: o.rate });
  });

program
  .command('collect')
  .description('tail log files and ship them to aggregators, e.g. tributary collect --include "/var/log/app/*.log" --aggregator 127.0.0.1:9095')
  .option('--config <file>', 'collector configuration (JSON: include, exclude, format, stateDir, aggregatorsFile, labels, buffer, send)')
  .option('--include <glob>', 'files to follow (repeatable)', collect)
  .option('--aggregator <host:port>', 'an aggregator gRPC address (repeatable)', collect)
  .option('--aggregators-file <file>', 'a file listing aggregators, {"aggregators": [...]}, reloaded when it changes')
  .option('--state-dir <dir>', 'checkpoint and disk buffer', './collector-state')
  .addOption(new Option('--format <format>', 'line format').choices(['ndjson', 'logfmt']).default('ndjson'))
  .option('--pattern <regex>', 'plain lines by a regular expression with named groups ts, level, service, server, region, msg')
  .option('--stats-ms <ms>', 'how often to print what was shipped', positiveInt, 10_000)
  .action(async (o: CollectFlags) => {
    await runCollector(o);
  });

program
  .command('import')
  .description('load archived logs (NDJSON or plain lines, gzip or not) into a running daemon, e.g. tributary import app-2025-11-*.ndjson.gz')
  .argument('<files...>', 'files to load')
  .option('--aggregator <host:port>', "the daemon's gRPC address (repeatable; default 127.0.0.1:9095)", collect)
  .addOption(new Option('--format <format>', 'NDJSON, plain lines, or auto by the first byte').choices(['auto', 'ndjson', 'plain']).default('auto'))
  .option('--threads <n>', 'parse threads (default: cores)', positiveInt)
  .action(async (files: string[], o: ImportFlags) => {
    await importCommand(files, { ...o, aggregator: o.aggregator ?? [] });
  });

program
  .command('query')
  .description('query a running daemon with LogQL, e.g. tributary query \'{service="api"} |= "timeout" | level >= WARN\' --since 15m')
  .argument('<query>', 'a LogQL query (log or metric)')
  .option('--url <url>', 'the daemon', 'http://127.0.0.1:3100')
  .option('--since <duration>', 'how far back (when --from is not given)', '1h')
  .option('--from <time>', 'start: RFC 3339, nanoseconds, or now-15m')
  .option('--to <time>', 'end (default now)')
  .option('--limit <n>', 'at most this many entries', positiveInt, 100)
  .addOption(new Option('--direction <dir>', 'newest first (backward) or oldest first').choices(['backward', 'forward']).default('backward'))
  .addOption(
    new Option('--output <format>', 'table for people, ndjson for pipes, proto for length-delimited tributary.v1.LogEntry messages')
      .choices(['table', 'ndjson', 'proto'])
      .default('table'),
  )
  .option('--no-color', 'no colours in the table')
  .action(async (query: string, o: Parameters<typeof queryCommand>[1]) => {
    await queryCommand(query, { ...o, color: o.color && process.stdout.isTTY === true });
  });

program
  .command('sources')
  .description('loss accounting per numbered source; with --collector-state, prove a collector lost nothing')
  .option('--url <url>', 'the daemon', 'http://127.0.0.1:3100')
  .option('--prefix <id>', 'only sources whose id starts with this')
  .option('--collector-state <dir>', "a collector's state directory: check every entry it committed is stored")
  .option('--json', 'JSON instead of a table', false)
  .action(async (o: SourcesCommandOptions) => {
    process.exitCode = await sourcesCommand(o);
  });

try {
  await program.parseAsync();
} catch (err) {
  console.error(isTributaryError(err) ? `error ${err.code}: ${err.message}` : err);
  process.exit(1);
}
