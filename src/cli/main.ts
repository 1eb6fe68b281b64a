#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { printConfig } from '../config/load.js';
import { VERSION } from '../version.js';
import { configFromFlags, withDaemonFlags } from './daemon-flags.js';
import { repeatable } from './format.js';
import type { DaemonTarget } from './http-client.js';
import { produceCommand, type ProduceOptions } from './produce.js';
import { clusterForgetCommand, clusterStatusCommand } from './cluster.js';
import { anomaliesCommand, statusCommand, tailCommand, type TailCommandOptions } from './live.js';
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

// `tributary tail | head`: a reader that goes away ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command().name('tributary').description('Log aggregation on an actor system of worker threads').version(VERSION);

/** --url and --token of the commands that talk to a running daemon. */
const clientOptions = (cmd: Command) =>
  cmd
    .option('--url <url>', 'the daemon (env TRIBUTARY_URL)', process.env.TRIBUTARY_URL ?? 'http://127.0.0.1:3100')
    .option('--token <token>', 'bearer token, when the daemon asks for one (env TRIBUTARY_TOKEN)', process.env.TRIBUTARY_TOKEN)
    .option('--token-file <file>', 'read the bearer token from a file');
type ClientFlags = { url: string; token?: string; tokenFile?: string };
const target = (o: ClientFlags): DaemonTarget => ({ url: o.url.replace(/\/$/, ''), token: o.tokenFile ? readFileSync(o.tokenFile, 'utf8').trim() : o.token });

withDaemonFlags(program.command('start').description('run the daemon: front doors, shards with replicas, queries, anomaly detection, web UI')).action(
  async (_o: unknown, cmd: Command) => {
    await runDaemon(configFromFlags(cmd).config);
  },
);

withDaemonFlags(program.command('demo').description('run the daemon with a simulated fleet writing log files that a collector tails into it'))
  .option('--rate <entries/s>', 'entries per second the fleet writes (demo.rate; default 5000)')
  .action(async (o: { rate?: string }, cmd: Command) => {
    if (o.rate !== undefined) cmd.setOptionValueWithSource('set', [...((cmd.opts().set as string[]) ?? []), `demo.rate=${o.rate}`], 'cli');
    await runDaemon(configFromFlags(cmd).config, { demo: true });
  });

const config = program.command('config').description('the configuration');
withDaemonFlags(config.command('print').description('print the effective configuration (defaults, file, environment, flags; secrets hidden) as YAML')).action(
  (_o: unknown, cmd: Command) => {
    process.stdout.write(printConfig(configFromFlags(cmd).config));
  },
);

program
  .command('collect')
  .description('tail log files and ship them to aggregators, e.g. tributary collect --include "/var/log/app/*.log" --aggregator 127.0.0.1:9095')
  .option('--config <file>', 'collector configuration (JSON: include, exclude, format, stateDir, aggregatorsFile, labels, buffer, send)')
  .option('--include <glob>', 'files to follow (repeatable)', repeatable)
  .option('--aggregator <address>', 'an aggregator: gRPC host:port, or a cluster as nats://host:port[,nats://host:port...] (repeatable)', repeatable)
  .option('--aggregators-file <file>', 'a file listing aggregators, {"aggregators": [...]}, reloaded when it changes')
  .option('--state-dir <dir>', 'checkpoint and disk buffer', './collector-state')
  .addOption(new Option('--format <format>', 'line format').choices(['ndjson', 'logfmt']).default('ndjson'))
  .option('--pattern <regex>', 'plain lines by a regular expression with named groups ts, level, service, server, region, msg')
  .option('--stats-ms <ms>', 'how often to print what was shipped', positiveInt, 10_000)
  .option('--token <token>', 'bearer token for aggregators that ask for one (env TRIBUTARY_TOKEN)', process.env.TRIBUTARY_TOKEN)
  .option('--tls-ca <file>', 'speak TLS to the aggregators, trusting this CA (PEM)')
  .action(async (o: CollectFlags) => {
    await runCollector(o);
  });

program
  .command('import')
  .description('load archived logs (NDJSON or plain lines, gzip or not) into a running daemon, e.g. tributary import app-2025-11-*.ndjson.gz')
  .argument('<files...>', 'files to load')
  .option('--aggregator <host:port>', "the daemon's gRPC address (repeatable; default 127.0.0.1:9095)", repeatable)
  .addOption(new Option('--format <format>', 'NDJSON, plain lines, or auto by the first byte').choices(['auto', 'ndjson', 'plain']).default('auto'))
  .option('--threads <n>', 'parse threads (default: cores)', positiveInt)
  .action(async (files: string[], o: ImportFlags) => {
    await importCommand(files, { ...o, aggregator: o.aggregator ?? [] });
  });

program
  .command('query')
  .description('query a running daemon with LogQL, e.g. tributary query \'{service="api"} |= "timeout" | level >= WARN\' --since 15m')
  .argument('<query>', 'a LogQL query (log or metric)')
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
  .action(async (query: string, o: Parameters<typeof queryCommand>[1] & ClientFlags) => {
    await queryCommand(query, { ...o, ...target(o), color: o.color && process.stdout.isTTY === true });
  });
clientOptions(program.commands.at(-1)!);

clientOptions(
  program
    .command('tail')
    .description('follow new entries live, in timestamp order behind a reorder window, e.g. tributary tail \'{service="api"} | level >= WARN\'')
    .argument('[query]', 'a LogQL log query', '{}')
    .option('--since <duration>', 'start this far back', '10s')
    .option('--delay <ms>', 'reorder window: entries arriving up to this late are still printed in order', positiveInt, 2000)
    .addOption(new Option('--output <format>', 'table or ndjson').choices(['table', 'ndjson']).default('table'))
    .option('--no-color', 'no colours'),
).action(async (query: string, o: Omit<TailCommandOptions, 'url' | 'token'> & ClientFlags) => {
  await tailCommand(query, { ...o, ...target(o), color: o.color && process.stdout.isTTY === true });
});

clientOptions(
  program
    .command('anomalies')
    .description('services flagged now and the recent flag/clear events; --follow for new ones as they happen')
    .option('--follow', 'keep printing events as they happen', false)
    .option('--limit <n>', 'recent events shown', positiveInt, 20)
    .option('--json', 'JSON (NDJSON with --follow)', false),
).action(async (o: { follow: boolean; json: boolean; limit: number } & ClientFlags) => {
  await anomaliesCommand({ ...o, ...target(o) });
});

clientOptions(
  program
    .command('status')
    .description('actors and their restarts, mailbox depths, shard sizes, ingest rates')
    .option('--interval <ms>', 'rates over this long', positiveInt, 1000)
    .option('--json', 'JSON', false),
).action(async (o: { json: boolean; interval: number } & ClientFlags) => {
  await statusCommand({ ...o, ...target(o), intervalMs: o.interval });
});

const cluster = program.command('cluster').description('a cluster of daemons on NATS JetStream');
clientOptions(
  cluster
    .command('status')
    .description('members (live or down, what each owns and holds), every shard with its owner and consumer lag')
    .option('--json', 'JSON', false),
).action(async (o: { json: boolean } & ClientFlags) => {
  await clusterStatusCommand({ ...o, ...target(o) });
});
clientOptions(
  cluster
    .command('forget')
    .description("remove a member that will not come back: queries stop reporting its shards' older entries as missing")
    .argument('<member>', 'member id, as `cluster status` lists it'),
).action(async (member: string, o: ClientFlags) => {
  await clusterForgetCommand(member, target(o));
});

program
  .command('produce')
  .description('a simulated fleet writing rotating pino log files for a collector to tail (the producers of docker-compose.yml)')
  .option('--dir <dir>', 'where the files go', './fleet-logs')
  .option('--rate <entries/s>', 'entries per second', positiveInt, 2000)
  .option('--servers <n>', 'servers (up to 100,000)', positiveInt, 1000)
  .option('--regions <n>', 'regions (up to 1,000)', positiveInt, 10)
  .option('--services <n>', 'services', positiveInt, 12)
  .option('--files <n>', 'files the servers are spread over', positiveInt, 4)
  .option('--seed <n>', 'seed of the level draws', positiveInt, 1)
  .action(async (o: ProduceOptions) => {
    await produceCommand(o);
  });

program
  .command('bench')
  .description('run the benchmark suite: ingest, query, storage, anomaly, restart; JSON in bench/results and a Markdown summary')
  .option('--quick', 'shorter runs (a smoke test of the suite)', false)
  .option('--only <names>', 'comma-separated: mailbox, actors, storage, query, ingest, anomaly, restart')
  .action(async (o: { quick: boolean; only?: string }) => {
    const { runSuite } = await import('../../bench/suite.js');
    process.exitCode = await runSuite({ quick: o.quick, only: o.only?.split(',').map((x) => x.trim()) });
  });

program
  .command('sources')
  .description('loss accounting per numbered source; with --collector-state, prove a collector lost nothing')
  .option('--prefix <id>', 'only sources whose id starts with this')
  .option('--collector-state <dir>', "a collector's state directory: check every entry it committed is stored")
  .option('--json', 'JSON instead of a table', false)
  .action(async (o: SourcesCommandOptions & ClientFlags) => {
    process.exitCode = await sourcesCommand({ ...o, ...target(o) });
  });
clientOptions(program.commands.at(-1)!);

try {
  await program.parseAsync();
} catch (err) {
  console.error(isTributaryError(err) ? `error ${err.code}: ${err.message}` : err instanceof Error ? `error: ${err.message}` : err);
  process.exit(1);
}
