/**
 * JSON.parse that keeps every digit of large integers.
 *
 * JavaScript reads every JSON number as a double, so an int64 nanosecond
 * timestamp sent as a number (`{"ts":1767225600444512375}`) would be
 * rounded (to ...512256) before any of our code saw it. Node 20's JSON.parse
 * has no access to a number's source text, so integers of 16 digits or more
 * (the first length a double cannot always hold: 2^53 has 16) are turned
 * into strings of their digits before parsing. Every door reads times from
 * digit strings exactly (BigInt), and other fields keep their digits as text.
 *
 * Strings are matched whole first, so digits inside a string are never
 * touched; a number with a fraction or exponent stays a number. Text with no
 * run of 16 digits (the common case for non-timestamp bodies) is parsed as is.
 */
const LONG_DIGITS = /\d{16}/;
// A whole JSON string (unrolled loop: no backtracking per character), or an
// integer of 16+ digits that is not part of a fraction or exponent.
const STRING_OR_LONG_INT = /"[^"\\]*(?:\\.[^"\\]*)*"|(?<![\d.eE+\-])-?\d{16,}(?![\d.eE])/g;

export function parseJsonExact(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return JSON.parse(text.replace(STRING_OR_LONG_INT, quoteInteger));
}

function quoteInteger(match: string): string {
  return match.charCodeAt(0) === 0x22 /* " */ ? match : `"${match}"`;
}
