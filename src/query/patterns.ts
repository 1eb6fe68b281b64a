/**
 * The pattern of a log line, as Loki's patterns endpoint shows it: the
 * words that vary (anything with a digit, or a long token such as an id)
 * become <_>, in key=value pairs only the value, and the rest is kept, so
 * lines printed by the same statement share one pattern. The pattern is
 * itself a LogQL pattern expression (`|> "..."`) matching those lines.
 */
const MAX_TOKENS = 48;

function varies(token: string): boolean {
  return /\d/.test(token) || token.length > 32;
}

function mask(token: string): string {
  const eq = token.indexOf('=');
  if (eq > 0) {
    const value = token.slice(eq + 1);
    return value !== '' && varies(value) ? `${token.slice(0, eq + 1)}<_>` : token;
  }
  return varies(token) ? '<_>' : token;
}

export function patternOf(line: string): string {
  const parts = line.split(/(\s+)/);
  let out = '';
  let tokens = 0;
  let lastWasCapture = false;
  for (const part of parts) {
    if (part === '') continue;
    if (/^\s+$/.test(part)) {
      out += ' ';
      continue;
    }
    if (++tokens > MAX_TOKENS) {
      if (!lastWasCapture) out += '<_>';
      return out;
    }
    const m = mask(part);
    // Two captures with only a space between are one (a pattern cannot hold captures side by side).
    if (m === '<_>' && lastWasCapture) {
      out = out.trimEnd();
      continue;
    }
    out += m;
    lastWasCapture = m.endsWith('<_>') && m === '<_>';
  }
  return out.trim();
}
