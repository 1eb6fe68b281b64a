import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { z } from 'zod';
import { TributaryError } from '../errors.js';
import { configSchema, type Config } from './schema.js';
import { formatBytes, formatDuration } from './units.js';

/** One override: a key path ("http.port") and its value as written (parsed as a YAML scalar or flow value). */
export interface Override {
  readonly path: string;
  readonly value: string;
  /** Where it came from, for the error message ("--http-port", "env TRIBUTARY_HTTP__PORT"). */
  readonly origin: string;
}

export interface LoadOptions {
  /** A YAML or JSON file (JSON is YAML). */
  readonly file?: string;
  /** Variables named TRIBUTARY_<KEY>, with __ between levels: TRIBUTARY_HTTP__PORT=3200, TRIBUTARY_ANOMALY__DETECT_ON=commit. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flags, applied last. */
  readonly overrides?: readonly Override[];
}

/** `auto` worked out for this machine. */
export type ResolvedConfig = Omit<Config, 'workers' | 'shards' | 'replicas' | 'anomaly'> & {
  readonly workers: number;
  readonly shards: number;
  readonly replicas: number;
  readonly anomaly: Omit<Config['anomaly'], 'detectors'> & { readonly detectors: number };
};

const ENV_PREFIX = 'TRIBUTARY_';
/** Read by the CLI itself, not keys of the configuration. */
const ENV_RESERVED = new Set(['TRIBUTARY_CONFIG', 'TRIBUTARY_URL', 'TRIBUTARY_TOKEN']);

/** DATA_DIR -> dataDir. */
const camel = (snake: string) => snake.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The overrides the environment gives: TRIBUTARY_HTTP__PORT -> http.port. */
export function envOverrides(env: Readonly<Record<string, string | undefined>>): Override[] {
  const out: Override[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || ENV_RESERVED.has(name) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').map(camel).join('.');
    out.push({ path, value, origin: `env ${name}` });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** "500" -> 500, "true" -> true, "[a, b]" -> ['a', 'b'], "hello" -> 'hello'. */
function scalar(text: string): unknown {
  try {
    const v: unknown = parseYaml(text);
    return v === null ? text : v;
  } catch {
    return text;
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TributaryError('E_CONFIG_INVALID', `configuration ${file} cannot be read: ${(err as Error).message}`, { file }, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new TributaryError('E_CONFIG_INVALID', `configuration ${file} is not valid YAML or JSON: ${(err as Error).message}`, { file }, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new TributaryError(
      'E_CONFIG_INVALID',
      `configuration ${file}: expected a mapping of keys at the top, got ${Array.isArray(doc) ? 'a list' : typeof doc}`,
      {
        file,
      },
    );
  }
  return doc as Record<string, unknown>;
}

function describe(issue: z.core.$ZodIssue): { path: string; reason: string }[] {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({ path: at ? `${at}.${k}` : k, reason: 'unknown key' }));
  }
  return [{ path: at || '(top)', reason: issue.message }];
}

/**
 * The effective configuration: the schema's defaults, then the file, then
 * the environment, then the flags. Throws E_CONFIG_INVALID naming every bad
 * key with its path, the reason and where the value came from.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const raw: Record<string, unknown> = options.file ? readFile(options.file) : {};
  const origins = new Map<string, string>();
  for (const o of [...envOverrides(options.env ?? {}), ...(options.overrides ?? [])]) {
    setPath(raw, o.path, scalar(o.value));
    origins.set(o.path, o.origin);
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap(describe).map(({ path, reason }) => {
    const origin = origins.get(path) ?? (options.file ? options.file : 'defaults');
    return `  ${path}: ${reason} (${origin})`;
  });
  throw new TributaryError('E_CONFIG_INVALID', `configuration rejected:\n${problems.join('\n')}`, {
    file: options.file,
    keys: result.error.issues
      .flatMap(describe)
      .map((p) => p.path)
      .join(','),
  });
}

/** `auto` made concrete for a machine with `cores` cores. */
export function resolveConfig(config: Config, cores = availableParallelism()): ResolvedConfig {
  const workers = config.workers === 'auto' ? Math.max(1, cores) : config.workers;
  return {
    ...config,
    workers,
    shards: config.shards === 'auto' ? workers : config.shards,
    replicas: config.replicas === 'auto' ? (workers >= 2 ? 1 : 0) : config.replicas,
    anomaly: { ...config.anomaly, detectors: config.anomaly.detectors === 'auto' ? workers : config.anomaly.detectors },
  };
}

const BYTE_KEYS = new Set(['memory', 'maxBodyBytes', 'maxInflatedBytes', 'maxLineBytes', 'maxInFlightBytes', 'maxBytes', 'streamMaxBytes']);
const DURATION_KEYS = new Set(['maxFuture', 'groupCommit', 'sealAge', 'dedupWindow', 'maxAge', 'timeout', 'every', 'for', 'lease', 'checkpoint']);
const SECRET_KEYS = new Set(['tokens', 'headers', 'token', 'password']);

/** The configuration as YAML, in units again, with secrets hidden: what `tributary config print` shows. */
export function printConfig(config: ResolvedConfig | Config): string {
  const shown = JSON.parse(
    JSON.stringify(config, (key, value: unknown) => {
      if (SECRET_KEYS.has(key) && typeof value === 'string') return '<hidden>';
      if (SECRET_KEYS.has(key) && value && typeof value === 'object') {
        return Array.isArray(value) ? value.map(() => '<hidden>') : Object.fromEntries(Object.keys(value).map((k) => [k, '<hidden>']));
      }
      if (typeof value === 'number' && BYTE_KEYS.has(key)) return value === 0 ? 0 : formatBytes(value);
      if (typeof value === 'number' && DURATION_KEYS.has(key)) return value === 0 ? 0 : formatDuration(value);
      return value;
    }),
  ) as unknown;
  return stringifyYaml(shown, { lineWidth: 0 });
}
