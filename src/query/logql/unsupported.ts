import type { Expr, LabelFilter, LogExpr, MetricExpr, Span, Stage } from './ast.js';

/**
 * The first construct of a query (in the order written) that this build
 * parses but does not evaluate, as a feature name and where it is; null
 * when there is none. Only asked for a query the evaluator refused, so the
 * refusal can name what it lacks instead of a generic syntax error.
 */
export function firstUnsupported(e: Expr): { feature: string; at: number } | null {
  const found: { feature: string; at: number }[] = [];
  const note = (span: Span, feature: string) => found.push({ feature, at: span.from });
  if (e.kind === 'log') logExpr(e, note);
  else metric(e, note);
  found.sort((a, b) => a.at - b.at);
  return found[0] ?? null;
}

type Note = (span: Span, feature: string) => void;

function logExpr(e: LogExpr, note: Note): void {
  for (const s of e.pipeline) stage(s, note);
}

function stage(s: Stage, note: Note): void {
  switch (s.kind) {
    case 'line':
      if (s.values.length > 1) note(s, "'or' between line filters");
      if (s.values.some((v) => v.ip)) note(s, 'ip() in line filters');
      if (s.op === '|>' || s.op === '!>') note(s, `the pattern line filter ${s.op}`);
      return;
    case 'labelFilter':
      return labelFilter(s.filter, note);
    case 'json':
    case 'logfmt':
    case 'unpack':
    case 'pattern':
    case 'regexp':
      return note(s, `the ${s.kind} parser`);
    case 'lineFormat':
      return note(s, 'line_format');
    case 'labelFormat':
      return note(s, 'label_format');
    case 'decolorize':
      return note(s, 'decolorize');
    case 'drop':
    case 'keep':
      return note(s, s.kind);
  }
}

function labelFilter(f: LabelFilter, note: Note): void {
  switch (f.kind) {
    case 'and':
    case 'or':
      if (f.kind === 'or') note(f, "'or' between label filters");
      labelFilter(f.left, note);
      labelFilter(f.right, note);
      return;
    case 'match':
      return;
    case 'number':
    case 'duration':
    case 'bytes':
      if (f.name !== 'level') note(f, `${f.kind} label filters`);
      return;
    case 'ip':
      return note(f, 'ip() label filters');
  }
}

function metric(e: MetricExpr, note: Note): void {
  switch (e.kind) {
    case 'range':
      if (e.op !== 'count_over_time') note(e, e.op);
      if (e.unwrap) note(e.unwrap, 'unwrap');
      if (e.offset !== undefined) note(e, 'offset');
      if (e.grouping?.without) note(e, 'without');
      logExpr(e.log, note);
      return;
    case 'vector':
      if (e.op !== 'sum' && e.op !== 'topk') note(e, e.op);
      if (e.grouping?.without) note(e, 'without');
      metric(e.inner, note);
      return;
    case 'binary':
      note(e, `the binary operator ${e.op}`);
      metric(e.left, note);
      metric(e.right, note);
      return;
    case 'literal':
    case 'vectorLiteral':
      return; // alone they are constants, answered before this is asked; in a larger query its operator is named
    case 'labelReplace':
      note(e, 'label_replace');
      metric(e.inner, note);
      return;
  }
}
