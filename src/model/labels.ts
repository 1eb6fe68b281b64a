/**
 * Label pairs beyond service, server and region: a stream's other labels
 * (Loki stream labels, OTLP resource attributes, a collector's own labels)
 * and an entry's structured metadata (Loki 3's model: pairs that belong to
 * one entry, not to its stream).
 *
 * Both travel and are stored as one canonical string: pairs sorted by name,
 * each `name=value`, joined by NUL. Names follow Prometheus' rule
 * ([a-zA-Z_][a-zA-Z0-9_]*), so `=` ends a name unambiguously; values may be
 * any text but NUL. One string per set means a stream's labels are one
 * dictionary entry in a batch and one id in a shard, compared as integers.
 * The empty string is the empty set.
 */
export type Labels = Readonly<Record<string, string>>;

/** The empty set, encoded. */
export const NO_PAIRS = '';
const SEP = '\u0000';

/** Labels that are columns of their own, never part of an encoded set. */
export const FIRST_CLASS_LABELS: ReadonlySet<string> = new Set(['service', 'server', 'region', 'level', 'detected_level']);

const VALID_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Whether a name follows Prometheus' rule and is not reserved (`__` names are, as in Prometheus and Loki). */
export function isLabelName(name: string): boolean {
  return VALID_NAME.test(name) && !name.startsWith('__');
}

/**
 * A name as Loki and Prometheus accept it: every character outside
 * [a-zA-Z0-9_] becomes `_`, and a leading digit gets a `_` before it
 * (`k8s.pod.name` -> `k8s_pod_name`, as Loki 3 maps OTLP attributes).
 */
export function sanitizeLabelName(name: string): string {
  if (VALID_NAME.test(name)) return name;
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return s.length === 0 || (s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57) ? `_${s}` : s;
}

/**
 * Encodes pairs whose names are already valid (see sanitizeLabelName) and
 * whose values hold no NUL. A repeated name keeps its last value.
 */
export function encodePairs(pairs: Iterable<readonly [string, string]>): string {
  const byName = new Map<string, string>();
  for (const [k, v] of pairs) byName.set(k, v);
  if (byName.size === 0) return NO_PAIRS;
  const names = [...byName.keys()].sort();
  let out = '';
  for (let i = 0; i < names.length; i++) out += `${i === 0 ? '' : SEP}${names[i]!}=${byName.get(names[i]!)!}`;
  return out;
}

/** The pairs of an encoded set, in name order. */
export function decodePairs(encoded: string): [string, string][] {
  if (encoded.length === 0) return [];
  const out: [string, string][] = [];
  for (const pair of encoded.split(SEP)) {
    const eq = pair.indexOf('=');
    out.push(eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)]);
  }
  return out;
}

/** An encoded set as a plain object (frozen: sets decoded once are shared between entries). */
export function pairsObject(encoded: string): Labels {
  return Object.freeze(Object.fromEntries(decodePairs(encoded)));
}

/** The encoded form of a labels object (names sanitized). */
export function encodeLabels(labels: Labels | undefined): string {
  if (labels === undefined) return NO_PAIRS;
  const pairs: [string, string][] = [];
  for (const k of Object.keys(labels)) pairs.push([sanitizeLabelName(k), String(labels[k])]);
  return encodePairs(pairs);
}

/** The value of one name in an encoded set, or undefined. Scans the string: no decode, no allocation but the result. */
export function pairValue(encoded: string, name: string): string | undefined {
  if (encoded.length === 0) return undefined;
  const key = `${name}=`;
  let start: number;
  if (encoded.startsWith(key)) start = key.length;
  else {
    const at = encoded.indexOf(SEP + key);
    if (at < 0) return undefined;
    start = at + 1 + key.length;
  }
  const end = encoded.indexOf(SEP, start);
  return encoded.slice(start, end < 0 ? encoded.length : end);
}

/** A cache of decoded sets, bounded: sets decoded for one answer are shared by its entries. */
export class PairsCache {
  private readonly map = new Map<string, Labels>();
  constructor(private readonly limit = 4096) {}
  get(encoded: string): Labels {
    let v = this.map.get(encoded);
    if (v === undefined) {
      if (this.map.size >= this.limit) this.map.clear();
      this.map.set(encoded, (v = pairsObject(encoded)));
    }
    return v;
  }
}
