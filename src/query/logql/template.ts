import { TributaryError } from '../../errors.js';
import { callTemplateFunction, isTemplateFunction, type Value } from './template-functions.js';

/**
 * The Go text/template subset that Loki's line_format and label_format
 * take: text and {{ actions }} (with {{- -}} trimming and comments), field
 * references (.label), string, raw and number literals, pipelines with `|`,
 * parenthesised pipelines, if / else if / else / end, and the functions of
 * template-functions.ts. Templates are compiled once per query; a feature
 * outside the subset (range, with, variables, define) is refused by name.
 */
export interface TemplateData {
  /** The entry's labels (a missing one reads as "", as Go reads a missing key of a map[string]string). */
  label(name: string): string;
  readonly line: string;
  readonly ts: bigint;
}

export type Template = (data: TemplateData) => string;

type Operand =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'literal'; readonly value: Value }
  | { readonly kind: 'call'; readonly fn: string; readonly args: readonly Operand[] }
  | { readonly kind: 'pipe'; readonly commands: readonly Operand[] };

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'print'; readonly pipe: Operand }
  | { readonly kind: 'if'; readonly branches: readonly { readonly cond: Operand | null; readonly body: readonly Node[] }[] };

function bad(template: string, message: string): TributaryError {
  return new TributaryError('E_QUERY_INVALID', `template ${JSON.stringify(template.length > 60 ? `${template.slice(0, 57)}...` : template)}: ${message}`, {
    field: 'query',
  });
}

/** Compiles a template; throws E_QUERY_INVALID naming what is wrong or not supported. */
export function compileTemplate(source: string): Template {
  const nodes = parseNodes(source);
  return (data) => render(nodes, data);
}

interface Action {
  readonly text: string;
}

/** Splits the source into text and actions, applying {{- and -}} trimming. */
function split(source: string): (string | Action)[] {
  const out: (string | Action)[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      out.push(source.slice(i));
      break;
    }
    let text = source.slice(i, open);
    let start = open + 2;
    if (source[start] === '-' && /\s/.test(source[start + 1] ?? '')) {
      text = text.trimEnd();
      start++;
    }
    const close = source.indexOf('}}', start);
    if (close < 0) throw bad(source, 'unclosed action: {{ without }}');
    let end = close;
    let trimAfter = false;
    if (source[close - 1] === '-' && /\s/.test(source[close - 2] ?? '')) {
      end = close - 1;
      trimAfter = true;
    }
    if (text !== '') out.push(text);
    const body = source.slice(start, end).trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ text: body });
    i = close + 2;
    if (trimAfter) while (i < source.length && /\s/.test(source[i]!)) i++;
  }
  return out;
}

function parseNodes(source: string): Node[] {
  const parts = split(source);
  let k = 0;
  const block = (inIf: boolean): { nodes: Node[]; end: string | null } => {
    const nodes: Node[] = [];
    while (k < parts.length) {
      const p = parts[k++]!;
      if (typeof p === 'string') {
        nodes.push({ kind: 'text', text: p });
        continue;
      }
      const word = /^[a-z]+/.exec(p.text)?.[0];
      if (word === 'end' || word === 'else') {
        if (!inIf) throw bad(source, `{{${word}}} without {{if}}`);
        return { nodes, end: p.text };
      }
      if (word === 'if') {
        const branches: { cond: Operand | null; body: Node[] }[] = [];
        let cond: Operand | null = parsePipe(source, p.text.slice(2));
        for (;;) {
          const inner = block(true);
          branches.push({ cond, body: inner.nodes });
          if (inner.end === null) throw bad(source, '{{if}} without {{end}}');
          if (inner.end === 'end') break;
          const rest = inner.end.slice(4).trim();
          if (rest === '') cond = null;
          else if (rest.startsWith('if ')) cond = parsePipe(source, rest.slice(3));
          else throw bad(source, `unexpected {{${inner.end}}}`);
          if (cond === null) {
            const last = block(true);
            branches.push({ cond: null, body: last.nodes });
            if (last.end !== 'end') throw bad(source, '{{else}} must be followed by {{end}}');
            break;
          }
        }
        nodes.push({ kind: 'if', branches });
        continue;
      }
      if (word === 'range' || word === 'with' || word === 'define' || word === 'template' || word === 'block' || p.text.startsWith('$'))
        throw bad(source, `{{${word ?? p.text.split(/\s/)[0]}}} is not supported (Tributary's templates take fields, functions, pipelines and if/else)`);
      nodes.push({ kind: 'print', pipe: parsePipe(source, p.text) });
    }
    return { nodes, end: null };
  };
  const { nodes, end } = block(false);
  if (end !== null) throw bad(source, `unexpected {{${end}}}`);
  return nodes;
}

type Token = { kind: 'field' | 'ident' | 'string' | 'number' | '(' | ')' | '|'; text: string; value?: Value };

function tokenize(source: string, text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === '|') {
      out.push({ kind: c, text: c });
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw bad(source, 'unterminated string');
      let value: string;
      try {
        value = JSON.parse(text.slice(i, j + 1)) as string;
      } catch {
        throw bad(source, `bad string ${text.slice(i, j + 1)}`);
      }
      out.push({ kind: 'string', text: text.slice(i, j + 1), value });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j < 0) throw bad(source, 'unterminated raw string');
      out.push({ kind: 'string', text: text.slice(i, j + 1), value: text.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const field = /^\.[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (field) {
      out.push({ kind: 'field', text: field[0] });
      i += field[0].length;
      continue;
    }
    const num = /^-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
    if (num) {
      out.push({ kind: 'number', text: num[0], value: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (ident) {
      out.push({ kind: 'ident', text: ident[0] });
      i += ident[0].length;
      continue;
    }
    throw bad(source, `unexpected ${JSON.stringify(c)} in {{${text}}}`);
  }
  return out;
}

function parsePipe(source: string, text: string): Operand {
  const tokens = tokenize(source, text);
  let k = 0;
  const pipe = (): Operand => {
    const commands: Operand[] = [command()];
    while (tokens[k]?.kind === '|') {
      k++;
      commands.push(command());
    }
    return commands.length === 1 ? commands[0]! : { kind: 'pipe', commands };
  };
  const operand = (): Operand => {
    const t = tokens[k++];
    if (t === undefined) throw bad(source, `missing value in {{${text}}}`);
    if (t.kind === 'field') return { kind: 'field', name: t.text.slice(1) };
    if (t.kind === 'string' || t.kind === 'number') return { kind: 'literal', value: t.value! };
    if (t.kind === '(') {
      const p = pipe();
      if (tokens[k++]?.kind !== ')') throw bad(source, `missing ) in {{${text}}}`);
      return p;
    }
    if (t.kind === 'ident') {
      if (t.text === 'true' || t.text === 'false') return { kind: 'literal', value: t.text === 'true' };
      if (!isTemplateFunction(t.text)) throw bad(source, `function ${JSON.stringify(t.text)} is not supported`);
      return { kind: 'call', fn: t.text, args: [] };
    }
    throw bad(source, `unexpected ${t.text} in {{${text}}}`);
  };
  const command = (): Operand => {
    const head = operand();
    const args: Operand[] = [];
    while (k < tokens.length && tokens[k]!.kind !== '|' && tokens[k]!.kind !== ')') args.push(operand());
    if (head.kind === 'call') return { kind: 'call', fn: head.fn, args };
    if (args.length > 0) throw bad(source, `{{${text}}}: only a function takes arguments`);
    return head;
  };
  const p = pipe();
  if (k < tokens.length) throw bad(source, `unexpected ${tokens[k]!.text} in {{${text}}}`);
  return p;
}

function evaluate(op: Operand, data: TemplateData, piped?: Value): Value {
  switch (op.kind) {
    case 'field':
      return data.label(op.name);
    case 'literal':
      return op.value;
    case 'call': {
      const args = op.args.map((a) => evaluate(a, data));
      if (piped !== undefined) args.push(piped);
      return callTemplateFunction(op.fn, args, data);
    }
    case 'pipe': {
      let v: Value | undefined;
      for (const c of op.commands) v = c.kind === 'call' ? evaluate(c, data, v) : evaluate(c, data);
      return v!;
    }
  }
}

/** Go's truth: false, 0, "" and nil are false. */
function truthy(v: Value): boolean {
  return !(v === false || v === 0 || v === '' || v === null);
}

function show(v: Value): string {
  if (v === null) return '<no value>';
  if (typeof v === 'object') return v.toString();
  return String(v);
}

function render(nodes: readonly Node[], data: TemplateData): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'print') out += show(evaluate(n.pipe, data));
    else {
      for (const b of n.branches) {
        if (b.cond === null || truthy(evaluate(b.cond, data))) {
          out += render(b.body, data);
          break;
        }
      }
    }
  }
  return out;
}
