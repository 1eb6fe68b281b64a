import { Level } from '../../model/level.js';
import { labelAlias } from '../logql.js';
import { isColumnLabel, toRegExp, type LabelMatcher, type LineFilter, type LogQuery } from '../model.js';
import type { LogExpr, Matcher, Stage } from './ast.js';

/**
 * A log expression split at the storage boundary: what the storage can
 * filter by itself (stream matchers, levels, the line filters before any
 * stage that changes the line or the labels, matchers on the column
 * labels) and the stages left to run on each entry.
 */
export interface SplitLog {
  readonly query: Omit<LogQuery, 'from' | 'to'>;
  readonly stages: readonly Stage[];
}

const ALL_LEVELS = [Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR];
const LEVEL_TEXT = ['debug', 'info', 'warn', 'error'];

/** The levels a matcher on `level` accepts (Loki's level values in lower case; warning is warn). */
function levelsOf(m: Pick<Matcher, 'op' | 'value'>): Level[] {
  const re = m.op === '=~' || m.op === '!~' ? toRegExp(m.value, true) : null;
  const hit = ALL_LEVELS.filter((l) => {
    const names = l === Level.WARN ? ['warn', 'warning'] : [LEVEL_TEXT[l]!];
    return names.some((n) => (re ? re.test(n) || re.test(n.toUpperCase()) : n === m.value.toLowerCase()));
  });
  return m.op === '=' || m.op === '=~' ? hit : ALL_LEVELS.filter((l) => !hit.includes(l));
}

function intersect(a: Level[] | undefined, b: Level[]): Level[] {
  return a === undefined ? b : a.filter((l) => b.includes(l));
}

export function splitLog(e: LogExpr): SplitLog {
  const labels: LabelMatcher[] = [];
  let levels: Level[] | undefined;
  for (const m of e.selector.matchers) {
    const name = labelAlias(m.name) ?? m.name;
    if (name === 'level') levels = intersect(levels, levelsOf(m));
    else labels.push({ name, op: m.op, value: m.value });
  }
  const lineFilters: LineFilter[] = [];
  let k = 0;
  for (; k < e.pipeline.length; k++) {
    const s = e.pipeline[k]!;
    if (s.kind === 'line' && s.values.length === 1 && !s.values[0]!.ip && (s.op === '|=' || s.op === '!=' || s.op === '|~' || s.op === '!~')) {
      lineFilters.push({ op: s.op, value: s.values[0]!.value });
      continue;
    }
    // Before any parser, a matcher on a column label reads the column (nothing can have changed it yet).
    if (s.kind === 'labelFilter' && s.filter.kind === 'match') {
      const name = labelAlias(s.filter.matcher.name) ?? s.filter.matcher.name;
      if (isColumnLabel(name)) {
        labels.push({ name, op: s.filter.matcher.op, value: s.filter.matcher.value });
        continue;
      }
      if (name === 'level') {
        levels = intersect(levels, levelsOf(s.filter.matcher));
        continue;
      }
    }
    // A drop of the error labels before any parser changes nothing (Grafana's log-volume query sends one).
    if (s.kind === 'drop' && s.labels.every((l) => l.name === '__error__' || l.name === '__error_details__')) continue;
    break;
  }
  return {
    query: { labels, lineFilters, ...(levels !== undefined ? { levels } : {}) },
    stages: e.pipeline.slice(k),
  };
}
