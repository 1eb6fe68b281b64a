/**
 * LogQL as a typed tree (Loki 3's language, parse.ts builds it from
 * Grafana's grammar). Every node carries its span in the query text, so an
 * error or an unsupported feature can name where it is.
 */

/** A span [from, to) of the query text. */
export interface Span {
  readonly from: number;
  readonly to: number;
}

export type MatchOp = '=' | '!=' | '=~' | '!~';
export type CompareOp = '==' | '!=' | '>' | '>=' | '<' | '<=';

export interface Matcher extends Span {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
}

export interface Selector extends Span {
  readonly matchers: readonly Matcher[];
}

/** A line filter: its operator and the values it accepts (more than one when joined with `or`). */
export interface LineFilter extends Span {
  readonly kind: 'line';
  readonly op: '|=' | '!=' | '|~' | '!~' | '|>' | '!>';
  readonly values: readonly { readonly value: string; readonly ip: boolean }[];
}

export type LabelFilter =
  | (Span & { readonly kind: 'and' | 'or'; readonly left: LabelFilter; readonly right: LabelFilter })
  | (Span & { readonly kind: 'match'; readonly matcher: Matcher })
  | (Span & { readonly kind: 'number'; readonly name: string; readonly op: CompareOp; readonly value: number })
  /** Durations in seconds, as Loki compares them. */
  | (Span & { readonly kind: 'duration'; readonly name: string; readonly op: CompareOp; readonly seconds: number })
  | (Span & { readonly kind: 'bytes'; readonly name: string; readonly op: CompareOp; readonly bytes: number })
  | (Span & { readonly kind: 'ip'; readonly name: string; readonly op: '=' | '!='; readonly pattern: string });

export interface Extraction {
  readonly label: string;
  /** The JSON path or logfmt key (absent: the label's own name). */
  readonly expression?: string;
}

export type Stage =
  | LineFilter
  | (Span & { readonly kind: 'json' | 'logfmt'; readonly extract: readonly Extraction[]; readonly flags: readonly string[] })
  | (Span & { readonly kind: 'unpack' })
  | (Span & { readonly kind: 'pattern' | 'regexp'; readonly expression: string })
  | (Span & { readonly kind: 'labelFilter'; readonly filter: LabelFilter })
  | (Span & { readonly kind: 'lineFormat'; readonly template: string })
  | (Span & { readonly kind: 'labelFormat'; readonly items: readonly { readonly label: string; readonly rename?: string; readonly template?: string }[] })
  | (Span & { readonly kind: 'decolorize' })
  | (Span & { readonly kind: 'drop' | 'keep'; readonly labels: readonly { readonly name: string; readonly matcher?: Matcher }[] });

export interface LogExpr extends Span {
  readonly kind: 'log';
  readonly selector: Selector;
  readonly pipeline: readonly Stage[];
}

export type RangeOp =
  | 'count_over_time'
  | 'rate'
  | 'rate_counter'
  | 'bytes_over_time'
  | 'bytes_rate'
  | 'avg_over_time'
  | 'sum_over_time'
  | 'min_over_time'
  | 'max_over_time'
  | 'stddev_over_time'
  | 'stdvar_over_time'
  | 'quantile_over_time'
  | 'first_over_time'
  | 'last_over_time'
  | 'absent_over_time';

export type VectorOp = 'sum' | 'avg' | 'count' | 'max' | 'min' | 'stddev' | 'stdvar' | 'bottomk' | 'topk' | 'sort' | 'sort_desc';

export interface Grouping {
  readonly without: boolean;
  readonly labels: readonly string[];
}

export interface Unwrap extends Span {
  readonly label: string;
  readonly conversion?: 'bytes' | 'duration' | 'duration_seconds';
  /** Label filters after the unwrap (on the unwrapped samples' labels). */
  readonly filters: readonly LabelFilter[];
}

/** on / ignoring, and group_left / group_right, of a binary operator. */
export interface VectorMatching {
  readonly on: boolean;
  readonly labels: readonly string[];
  readonly group?: { readonly side: 'left' | 'right'; readonly labels: readonly string[] };
}

export type BinaryOp = 'or' | 'and' | 'unless' | '+' | '-' | '*' | '/' | '%' | '^' | CompareOp;

export type MetricExpr =
  | (Span & {
      readonly kind: 'range';
      readonly op: RangeOp;
      /** quantile_over_time's φ. */
      readonly param?: number;
      readonly log: LogExpr;
      /** The range, ns. */
      readonly range: bigint;
      readonly offset?: bigint;
      readonly unwrap?: Unwrap;
      readonly grouping?: Grouping;
    })
  | (Span & { readonly kind: 'vector'; readonly op: VectorOp; readonly param?: number; readonly inner: MetricExpr; readonly grouping?: Grouping })
  | (Span & {
      readonly kind: 'binary';
      readonly op: BinaryOp;
      readonly bool: boolean;
      readonly matching?: VectorMatching;
      readonly left: MetricExpr;
      readonly right: MetricExpr;
    })
  | (Span & { readonly kind: 'literal'; readonly value: number })
  | (Span & { readonly kind: 'vectorLiteral'; readonly value: number })
  | (Span & {
      readonly kind: 'labelReplace';
      readonly inner: MetricExpr;
      readonly dst: string;
      readonly replacement: string;
      readonly src: string;
      readonly regex: string;
    });

export type Expr = LogExpr | MetricExpr;
