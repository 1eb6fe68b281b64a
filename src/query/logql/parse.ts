import { parser } from '@grafana/lezer-logql';
import { TributaryError } from '../../errors.js';
import type { Expr, Extraction, Grouping, LabelFilter, LineFilter, LogExpr, Matcher, MetricExpr, Selector, Span, Stage, Unwrap } from './ast.js';
import {
  BINARY_OPS,
  COMPARE_OPS,
  LINE_OPS,
  MATCH_OPS,
  PRECEDENCE,
  RANGE_OPS,
  VECTOR_OPS,
  decodeBytes,
  decodeNumber,
  decodeSeconds,
  decodeString,
  lineColumn,
  type Operator,
} from './tokens.js';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/**
 * Parses LogQL with Grafana's own grammar (@grafana/lezer-logql: the one
 * Grafana's query editor highlights and completes with, so a query it
 * accepts parses here the same way) into the typed tree of ast.ts.
 *
 * Lezer recovers from errors and marks them in the tree; the first one is
 * reported as E_QUERY_INVALID with its line and column. A construct the
 * grammar knows that this build does not evaluate is refused by the
 * evaluator, naming it and its position; the parser itself knows it all.
 */
export function parseLogQLTree(source: string): Expr {
  const tree = parser.parse(source);
  let bad: SyntaxNode | null = null;
  tree.iterate({
    enter: (n) => {
      if (bad !== null) return false;
      if (n.type.isError) bad = n.node;
      return undefined;
    },
  });
  if (bad !== null) throw syntaxError(source, bad);
  const top = tree.topNode.getChild('Expr');
  if (top === null) throw invalid(source, 0, 'the query is empty');
  return new Builder(source).expr(top);
}

function invalid(source: string, pos: number, why: string): TributaryError {
  return new TributaryError('E_QUERY_INVALID', `logql ${lineColumn(source, pos)}: ${why}`, { position: pos, field: 'query' });
}

function syntaxError(source: string, n: SyntaxNode): TributaryError {
  if (n.from >= source.length) return invalid(source, source.length, 'the query ends too early');
  const near = source.slice(n.from, Math.max(n.to, n.from + 1)).slice(0, 20);
  return invalid(source, n.from, `syntax error near ${JSON.stringify(near)}`);
}

class Builder {
  constructor(private readonly src: string) {}

  private text(n: SyntaxNode): string {
    return this.src.slice(n.from, n.to);
  }

  private span(n: SyntaxNode): Span {
    return { from: n.from, to: n.to };
  }

  private kids(n: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = n.firstChild; c !== null; c = c.nextSibling) if (c.name !== 'LineComment') out.push(c);
    return out;
  }

  /** The descendants named one of `names`, in order, not looking inside them (lists nest: ((a, b), c)). */
  private leaves(n: SyntaxNode, names: readonly string[]): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (const c of this.kids(n)) {
      if (names.includes(c.name)) out.push(c);
      else out.push(...this.leaves(c, names));
    }
    return out;
  }

  /** The first child that is not a comment. */
  private first(n: SyntaxNode): SyntaxNode {
    const c = this.kids(n)[0];
    if (c === undefined) throw invalid(this.src, n.from, `nothing inside ${JSON.stringify(this.text(n).slice(0, 30))}`);
    return c;
  }

  private one(n: SyntaxNode, name: string): SyntaxNode {
    const c = n.getChild(name);
    if (c === null) throw invalid(this.src, n.from, `expected ${name} in ${JSON.stringify(this.text(n).slice(0, 30))}`);
    return c;
  }

  private string(n: SyntaxNode): string {
    const v = decodeString(this.text(n));
    if (v === null) throw invalid(this.src, n.from, `bad string ${this.text(n).slice(0, 30)}: use "double quotes" with JSON escapes, or \`backticks\``);
    return v;
  }

  private number(n: SyntaxNode): number {
    const v = decodeNumber(this.text(n));
    if (v === null) throw invalid(this.src, n.from, `bad number ${this.text(n)}`);
    return v;
  }

  /** A duration in seconds. */
  private seconds(n: SyntaxNode): number {
    const v = decodeSeconds(this.text(n));
    if (v === null) throw invalid(this.src, n.from, `bad duration ${this.text(n)}`);
    return v;
  }

  private durationNs(n: SyntaxNode): bigint {
    return BigInt(Math.round(this.seconds(n) * 1e9));
  }

  private bytes(n: SyntaxNode): number {
    const v = decodeBytes(this.text(n));
    if (v === null) throw invalid(this.src, n.from, `bad size ${this.text(n)}`);
    return v;
  }

  expr(n: SyntaxNode): Expr {
    const c = this.first(n);
    if (c.name === 'LogExpr') return this.logExpr(c);
    if (c.name === 'MetricExpr') return this.metric(c);
    throw invalid(this.src, n.from, `unexpected ${c.name}`);
  }

  private logExpr(n: SyntaxNode): LogExpr {
    const inner = n.getChild('LogExpr');
    if (inner !== null) return { ...this.logExpr(inner), from: n.from, to: n.to };
    const pipeline = n.getChild('PipelineExpr');
    return { kind: 'log', ...this.span(n), selector: this.selector(this.one(n, 'Selector')), pipeline: pipeline ? this.pipeline(pipeline) : [] };
  }

  private selector(n: SyntaxNode): Selector {
    const ms = n.getChild('Matchers');
    return { ...this.span(n), matchers: ms ? this.matchers(ms) : [] };
  }

  private matchers(n: SyntaxNode): Matcher[] {
    return this.leaves(n, ['Matcher']).map((m) => this.matcher(m));
  }

  private matcher(n: SyntaxNode): Matcher {
    const [id, op, value] = this.kids(n);
    return { ...this.span(n), name: this.text(id!), op: MATCH_OPS[op!.name]!, value: this.string(value!) };
  }

  /** PipelineExpr nests to the left: (((stage) stage) stage). */
  /** PipelineExpr nests to the left: (((stage) stage) stage). */
  private pipeline(n: SyntaxNode): Stage[] {
    return this.leaves(n, ['PipelineStage']).flatMap((st) => this.stage(st));
  }

  private stage(n: SyntaxNode): Stage[] {
    const kids = this.kids(n).filter((c) => c.name !== 'Pipe');
    const c = kids[0]!;
    const span = this.span(n);
    switch (c.name) {
      case 'LineFilters':
        return this.lineFilters(c);
      case 'LabelParser': {
        const p = this.first(c);
        if (p.name === 'Json' || p.name === 'Logfmt') return [{ kind: p.name === 'Json' ? 'json' : 'logfmt', ...span, extract: [], flags: [] }];
        if (p.name === 'Unpack') return [{ kind: 'unpack', ...span }];
        if (p.name === 'Pattern' || p.name === 'Regexp')
          return [{ kind: p.name === 'Pattern' ? 'pattern' : 'regexp', ...span, expression: this.string(this.one(c, 'String')) }];
        break;
      }
      case 'JsonExpressionParser':
      case 'LogfmtParser':
      case 'LogfmtExpressionParser': {
        const fl = c.getChild('LogfmtParserFlags');
        const flags = fl ? this.leaves(fl, ['ParserFlag']).map((f) => this.text(f)) : [];
        const list = c.getChild('LabelExtractionExpressionList') ?? c.getChild('JsonExpressionList');
        return [{ kind: c.getChild('Json') ? 'json' : 'logfmt', ...span, extract: list ? this.extractions(list) : [], flags }];
      }
      case 'LabelFilter':
        return [{ kind: 'labelFilter', ...span, filter: this.labelFilter(c) }];
      case 'LineFormatExpr':
        return [{ kind: 'lineFormat', ...span, template: this.string(this.one(c, 'String')) }];
      case 'LabelFormatExpr':
        return [{ kind: 'labelFormat', ...span, items: this.labelsFormat(this.one(c, 'LabelsFormat')) }];
      case 'DecolorizeExpr':
        return [{ kind: 'decolorize', ...span }];
      case 'DropLabelsExpr':
      case 'KeepLabelsExpr': {
        const drop = c.name === 'DropLabelsExpr';
        return [{ kind: drop ? 'drop' : 'keep', ...span, labels: this.dropLabels(this.one(c, drop ? 'DropLabels' : 'KeepLabels')) }];
      }
    }
    throw invalid(this.src, n.from, `unexpected pipeline stage ${JSON.stringify(this.text(n).slice(0, 30))}`);
  }

  private lineFilters(n: SyntaxNode): LineFilter[] {
    return this.leaves(n, ['LineFilter']).map((f) => this.lineFilter(f));
  }

  private lineFilter(n: SyntaxNode): LineFilter {
    const op = LINE_OPS[this.first(this.one(n, 'Filter')).name];
    if (op === undefined) throw invalid(this.src, n.from, `unknown line filter ${this.text(this.first(n))}`);
    const values: { value: string; ip: boolean }[] = [];
    let ip = false;
    const walk = (m: SyntaxNode) => {
      for (const k of this.kids(m)) {
        if (k.name === 'FilterOp') ip = true;
        else if (k.name === 'String') {
          values.push({ value: this.string(k), ip });
          ip = false;
        } else if (k.name === 'OrFilter') walk(k);
      }
    };
    walk(n);
    return { kind: 'line', ...this.span(n), op, values };
  }

  private extractions(n: SyntaxNode): Extraction[] {
    return this.leaves(n, ['LabelExtractionExpression', 'JsonExpression']).map((c) => {
      const value = c.getChild('String');
      return { label: this.text(this.one(c, 'Identifier')), ...(value ? { expression: this.string(value) } : {}) };
    });
  }

  private labelsFormat(n: SyntaxNode): { label: string; rename?: string; template?: string }[] {
    return this.leaves(n, ['LabelFormatMatcher']).map((c) => {
      const ids = c.getChildren('Identifier');
      const value = c.getChild('String');
      return value ? { label: this.text(ids[0]!), template: this.string(value) } : { label: this.text(ids[0]!), rename: this.text(ids[1]!) };
    });
  }

  private dropLabels(n: SyntaxNode): { name: string; matcher?: Matcher }[] {
    return this.leaves(n, ['DropLabel', 'KeepLabel']).map((c) => {
      const m = c.getChild('Matcher');
      return m ? { name: this.text(this.one(m, 'Identifier')), matcher: this.matcher(m) } : { name: this.text(this.one(c, 'Identifier')) };
    });
  }

  private labelFilter(n: SyntaxNode): LabelFilter {
    const kids = this.kids(n);
    const span = this.span(n);
    const subs = kids.filter((k) => k.name === 'LabelFilter');
    // Two filters joined by 'and', 'or' or a comma (an unnamed token, so absent from the tree: it means and).
    if (subs.length === 2)
      return { kind: kids.some((k) => k.name === 'Or') ? 'or' : 'and', ...span, left: this.labelFilter(subs[0]!), right: this.labelFilter(subs[1]!) };
    if (subs.length === 1) return this.labelFilter(subs[0]!); // parenthesised
    const c = kids[0]!;
    if (c.name === 'Matcher') return { kind: 'match', ...span, matcher: this.matcher(c) };
    if (c.name === 'IpLabelFilter') {
      return {
        kind: 'ip',
        ...span,
        name: this.text(this.one(c, 'Identifier')),
        op: c.getChild('Neq') ? '!=' : '=',
        pattern: this.string(this.one(c, 'String')),
      };
    }
    const f = c.name === 'UnitFilter' ? this.first(c) : c;
    const [id, op, value] = this.kids(f);
    const name = this.text(id!);
    const cmp = COMPARE_OPS[op!.name];
    if (cmp === undefined) throw invalid(this.src, op!.from, `unknown comparison ${this.text(op!)}`);
    if (f.name === 'DurationFilter') return { kind: 'duration', ...span, name, op: cmp, seconds: this.seconds(value!) };
    if (f.name === 'BytesFilter') return { kind: 'bytes', ...span, name, op: cmp, bytes: this.bytes(value!) };
    if (f.name === 'NumberFilter') return { kind: 'number', ...span, name, op: cmp, value: this.literal(value!) };
    throw invalid(this.src, n.from, `unexpected label filter ${JSON.stringify(this.text(n).slice(0, 30))}`);
  }

  /** A LiteralExpr (a number with an optional sign) or a bare Number. */
  private literal(n: SyntaxNode): number {
    if (n.name === 'Number') return this.number(n);
    const v = this.number(this.one(n, 'Number'));
    return n.getChild('Sub') ? -v : v;
  }

  private metric(n: SyntaxNode): MetricExpr {
    const c = this.first(n);
    switch (c.name) {
      case 'MetricExpr':
        return { ...this.metric(c), from: n.from, to: n.to }; // parenthesised
      case 'RangeAggregationExpr':
        return this.rangeAggregation(c);
      case 'VectorAggregationExpr': {
        const op = VECTOR_OPS[this.first(this.one(c, 'VectorOp')).name]!;
        const param = c.getChild('Number');
        const g = c.getChild('Grouping');
        return {
          kind: 'vector',
          ...this.span(c),
          op,
          ...(param ? { param: this.number(param) } : {}),
          inner: this.metric(this.one(c, 'MetricExpr')),
          ...(g ? { grouping: this.grouping(g) } : {}),
        };
      }
      case 'BinOpExpr':
        return this.binary(c);
      case 'LiteralExpr':
        return { kind: 'literal', ...this.span(c), value: this.literal(c) };
      case 'VectorExpr':
        return { kind: 'vectorLiteral', ...this.span(c), value: this.number(this.one(c, 'Number')) };
      case 'LabelReplaceExpr': {
        const [dst, replacement, src, regex] = c.getChildren('String').map((s) => this.string(s));
        return {
          kind: 'labelReplace',
          ...this.span(c),
          inner: this.metric(this.one(c, 'MetricExpr')),
          dst: dst!,
          replacement: replacement!,
          src: src!,
          regex: regex!,
        };
      }
    }
    throw invalid(this.src, n.from, `unexpected expression ${JSON.stringify(this.text(n).slice(0, 30))}`);
  }

  private rangeAggregation(n: SyntaxNode): MetricExpr {
    const op = RANGE_OPS[this.first(this.one(n, 'RangeOp')).name]!;
    const param = n.getChild('Number');
    const g = n.getChild('Grouping');
    let r = this.one(n, 'LogRangeExpr');
    for (let inner = r.getChild('LogRangeExpr'); inner !== null; inner = r.getChild('LogRangeExpr')) r = inner;
    const pipeline = r.getChild('PipelineExpr');
    const log: LogExpr = { kind: 'log', ...this.span(r), selector: this.selector(this.one(r, 'Selector')), pipeline: pipeline ? this.pipeline(pipeline) : [] };
    const offset = r.getChild('OffsetExpr');
    const unwrap = r.getChild('UnwrapExpr');
    return {
      kind: 'range',
      ...this.span(n),
      op,
      ...(param ? { param: this.number(param) } : {}),
      log,
      range: this.durationNs(this.one(this.one(r, 'Range'), 'Duration')),
      ...(offset ? { offset: this.durationNs(this.one(offset, 'Duration')) } : {}),
      ...(unwrap ? { unwrap: this.unwrap(unwrap) } : {}),
      ...(g ? { grouping: this.grouping(g) } : {}),
    };
  }

  /** UnwrapExpr nests to the left too: ((| unwrap x) | filter) | filter. */
  private unwrap(n: SyntaxNode): Unwrap {
    const inner = n.getChild('UnwrapExpr');
    if (inner !== null) {
      const base = this.unwrap(inner);
      return { ...base, to: n.to, filters: [...base.filters, this.labelFilter(this.one(n, 'LabelFilter'))] };
    }
    const convOp = n.getChild('ConvOp');
    const conv = convOp ? this.first(convOp).name : undefined;
    const conversion = conv === 'BytesConv' ? 'bytes' : conv === 'DurationConv' ? 'duration' : conv === 'DurationSecondsConv' ? 'duration_seconds' : undefined;
    return { ...this.span(n), label: this.text(this.one(n, 'Identifier')), ...(conversion ? { conversion } : {}), filters: [] };
  }

  private grouping(n: SyntaxNode): Grouping {
    const ls = n.getChild('Labels');
    return { without: n.getChild('Without') !== null, labels: ls ? this.leaves(ls, ['Identifier', 'LabelName']).map((k) => this.text(k)) : [] };
  }

  /**
   * A chain of binary operators, rebuilt with PromQL's precedence and
   * associativity: the grammar (written for highlighting) groups every
   * operator alike, so `1 + 2 * 3` would come out as (1 + 2) * 3. Only
   * parentheses group here; within a chain, ^ binds tightest (to the right),
   * then * / %, + -, comparisons, and/unless, or.
   */
  private binary(n: SyntaxNode): MetricExpr {
    const operands: MetricExpr[] = [];
    const ops: Operator[] = [];
    this.flatten(n, operands, ops);
    let at = 0;
    const climb = (min: number): MetricExpr => {
      let left = operands[at]!;
      while (at < ops.length && PRECEDENCE[ops[at]!.op] >= min) {
        const o = ops[at]!;
        const p = PRECEDENCE[o.op];
        at++;
        const right = climb(o.op === '^' ? p : p + 1);
        left = { kind: 'binary', from: left.from, to: right.to, op: o.op, bool: o.bool, ...(o.matching ? { matching: o.matching } : {}), left, right };
      }
      return left;
    };
    const out = climb(0);
    return { ...out, from: n.from, to: n.to };
  }

  /** The operands and operators of an unparenthesised chain, in the order written. */
  private flatten(n: SyntaxNode, operands: MetricExpr[], ops: Operator[]): void {
    const kids = this.kids(n);
    const [left, right] = kids.filter((k) => k.name === 'Expr');
    const side = (e: SyntaxNode) => {
      const m = e.getChild('MetricExpr');
      const chain = m !== null ? this.first(m) : null;
      if (chain !== null && chain.name === 'BinOpExpr') return this.flatten(chain, operands, ops);
      const x = this.expr(e);
      if (x.kind === 'log')
        throw invalid(this.src, e.from, 'a log query cannot be an operand: wrap it in a range aggregation such as count_over_time(...[1m])');
      operands.push(x);
    };
    side(left!);
    const opNode = kids.find((k) => BINARY_OPS[k.name] !== undefined)!;
    const mod = n.getChild('BinOpModifier');
    let matching: Operator['matching'];
    const oi = mod?.getChild('OnOrIgnoringModifier');
    if (mod && oi) {
      const groupSide = mod.getChild('GroupLeft') ? 'left' : mod.getChild('GroupRight') ? 'right' : null;
      matching = {
        on: oi.getChild('On') !== null,
        labels: this.groupingLabels(oi.getChild('GroupingLabels')),
        ...(groupSide ? { group: { side: groupSide, labels: this.groupingLabels(mod.getChild('GroupingLabels')) } } : {}),
      };
    }
    ops.push({ op: BINARY_OPS[opNode.name]!, bool: mod?.getChild('Bool') != null, ...(matching ? { matching } : {}) });
    side(right!);
  }

  private groupingLabels(n: SyntaxNode | null): string[] {
    return n === null ? [] : this.leaves(n, ['LabelName', 'Identifier']).map((k) => this.text(k));
  }
}
