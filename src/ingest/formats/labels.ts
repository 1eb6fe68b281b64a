import { Level, tryParseLevel } from '../../model/level.js';
import { UNKNOWN_REGION, UNKNOWN_SERVER, UNKNOWN_SERVICE } from './fields.js';

/** Where a stream's labels put an entry, and the level they name (undefined: detect it from the line). */
export interface StreamLabels {
  readonly service: string;
  readonly server: string;
  readonly region: string;
  /** From a level label; null when the label is there but names no level Tributary knows. */
  readonly level: Level | null | undefined;
  readonly levelText?: string;
}

// Label names as Loki and OpenTelemetry shippers send them, in order of preference.
const SERVICE_LABELS = ['service', 'service_name', 'service.name', 'app', 'application', 'job'];
const SERVER_LABELS = ['server', 'host', 'hostname', 'host.name', 'instance', 'node', 'pod'];
const REGION_LABELS = ['region', 'cloud.region', 'zone', 'datacenter', 'cluster'];
const LEVEL_LABELS = ['level', 'detected_level', 'severity', 'severity_text', 'lvl', 'loglevel'];

function first(labels: ReadonlyMap<string, string>, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = labels.get(n);
    if (v !== undefined && v.length > 0) return v;
  }
  return undefined;
}

/** Maps a label set (Loki stream labels, OTLP resource attributes) onto Tributary's stream. */
export function streamFromLabels(labels: ReadonlyMap<string, string>): StreamLabels {
  const levelText = first(labels, LEVEL_LABELS);
  return {
    service: first(labels, SERVICE_LABELS) ?? UNKNOWN_SERVICE,
    server: first(labels, SERVER_LABELS) ?? UNKNOWN_SERVER,
    region: first(labels, REGION_LABELS) ?? UNKNOWN_REGION,
    level: levelText === undefined ? undefined : (tryParseLevel(levelText) ?? null),
    levelText,
  };
}

/**
 * Parses a Prometheus-style label set, `{service="api", host="web-1"}`, as
 * the Loki protobuf push carries it. Returns undefined when it is not one.
 */
export function parseLabelSet(text: string): Map<string, string> | undefined {
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  const labels = new Map<string, string>();
  const body = t.slice(1, -1).trim();
  if (body.length === 0) return labels;
  const pair = /\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let at = 0;
  while (at < body.length) {
    pair.lastIndex = at;
    const m = pair.exec(body);
    if (!m) return undefined;
    let value = m[2]!;
    if (value.includes('\\')) {
      try {
        value = JSON.parse(`"${value}"`) as string;
      } catch {
        return undefined;
      }
    }
    labels.set(m[1]!, value);
    at = pair.lastIndex;
  }
  return labels;
}

const LEVEL_FIELD = /\b(?:level|lvl|severity|loglevel)["']?\s*[:=]\s*["']?([A-Za-z]{3,9})\b/;
const LEVEL_BRACKET = /\[(emerg|alert|crit|critical|error|err|warn|warning|notice|info|debug|trace)\]/i;
const LEVEL_WORD = /\b(FATAL|PANIC|CRITICAL|CRIT|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE)\b/;

/**
 * The level a line states, when its stream has no level label: a
 * `level=...` or `"level":"..."` field (logfmt, JSON), else a bracketed
 * level (`[error]`), else the first upper-case level word (`ERROR`, `WARN`...), else INFO. As Loki's
 * detected_level does, in spirit.
 */
export function detectLevel(line: string): Level {
  const head = line.length > 512 ? line.slice(0, 512) : line;
  const field = LEVEL_FIELD.exec(head);
  if (field) {
    const l = tryParseLevel(field[1]!);
    if (l !== undefined) return l;
  }
  // Apache and many daemons: `[error]`, `[warn]`, `[notice]`.
  const bracket = LEVEL_BRACKET.exec(head);
  if (bracket) return tryParseLevel(bracket[1]!) ?? Level.INFO;
  const word = LEVEL_WORD.exec(head);
  if (word) return tryParseLevel(word[1]!) ?? Level.INFO;
  return Level.INFO;
}
