import type { Command } from 'commander';
import { repeatable } from './format.js';
import { loadConfig, resolveConfig, type Override, type ResolvedConfig } from '../config/load.js';

/** Flags of the daemon's commands, each the shorthand for a configuration key (applied after the file and the environment). */
const FLAGS: readonly { flag: string; description: string; attr: string; path: string; value?: (v: unknown) => string }[] = [
  { flag: '--data-dir <dir>', description: 'data directory (dataDir; default ./data)', attr: 'dataDir', path: 'dataDir' },
  { flag: '--http-host <host>', description: 'HTTP listen address (http.host; default 127.0.0.1)', attr: 'httpHost', path: 'http.host' },
  { flag: '--http-port <port>', description: 'HTTP port: query API, push doors, UI (http.port; default 3100)', attr: 'httpPort', path: 'http.port' },
  { flag: '--grpc-port <port>', description: 'gRPC port (grpc.port; default 9095)', attr: 'grpcPort', path: 'grpc.port' },
  { flag: '--no-grpc', description: 'no gRPC service (grpc.enabled)', attr: 'grpc', path: 'grpc.enabled' },
  { flag: '--syslog-port <port>', description: 'syslog over TCP (syslog.port; default 1514)', attr: 'syslogPort', path: 'syslog.port' },
  { flag: '--no-syslog', description: 'no syslog listener (syslog.enabled)', attr: 'syslog', path: 'syslog.enabled' },
  { flag: '--memory <size>', description: 'memory budget, e.g. 2GiB (memory; default 512MiB)', attr: 'memory', path: 'memory' },
  { flag: '--workers <n>', description: 'worker threads (workers; default: cores)', attr: 'workers', path: 'workers' },
  { flag: '--shards <n>', description: 'shards taking writes (shards; default: workers)', attr: 'shards', path: 'shards' },
  {
    flag: '--cluster <urls>',
    description: 'join the cluster on these NATS servers, e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222 (cluster.servers)',
    attr: 'cluster',
    path: 'cluster.servers',
    value: (urls) =>
      JSON.stringify(
        String(urls)
          .split(',')
          .map((u) => u.trim()),
      ),
  },
  {
    flag: '--collect <glob>',
    description: "tail this host's files matching the glob (collectors; repeatable)",
    attr: 'collect',
    path: 'collectors',
    value: (globs) => JSON.stringify([{ include: globs }]),
  },
];

/** Adds the configuration flags to a daemon command. */
export function withDaemonFlags(cmd: Command): Command {
  cmd.option('--config <file>', 'configuration file, YAML or JSON (env TRIBUTARY_CONFIG)');
  for (const f of FLAGS) {
    if (f.attr === 'collect') cmd.option(f.flag, f.description, repeatable);
    else cmd.option(f.flag, f.description);
  }
  return cmd.option('--set <key=value>', 'set any configuration key, e.g. --set anomaly.window=500 (repeatable)', repeatable);
}

/** The effective configuration of a daemon command: defaults, file, environment (TRIBUTARY_*), then these flags. */
export function configFromFlags(cmd: Command, env: NodeJS.ProcessEnv = process.env): { config: ResolvedConfig; file?: string } {
  const o = cmd.opts<Record<string, unknown>>();
  const overrides: Override[] = [];
  for (const f of FLAGS) {
    if (cmd.getOptionValueSource(f.attr) !== 'cli') continue;
    const v = o[f.attr];
    overrides.push({ path: f.path, value: f.value ? f.value(v) : String(v), origin: f.flag.split(' ')[0]! });
  }
  for (const kv of (o.set as string[] | undefined) ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${kv}: expected key=value, e.g. --set anomaly.window=500`);
    overrides.push({ path: kv.slice(0, eq).trim(), value: kv.slice(eq + 1), origin: `--set ${kv.slice(0, eq).trim()}` });
  }
  const file = (o.config as string | undefined) ?? env.TRIBUTARY_CONFIG;
  return { config: resolveConfig(loadConfig({ file, env, overrides })), file };
}
