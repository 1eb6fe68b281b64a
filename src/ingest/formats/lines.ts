import type { ShardSink } from '../sink.js';

/**
 * Calls `each` for every non-blank line of a UTF-8 body or a string (LF or CRLF),
 * numbering lines from `firstLine`. A line longer than the sink's limit
 * (plus `slack` for the syntax around a message) is refused here, unread.
 */
export function forEachLine(sink: ShardSink, body: Uint8Array | string, firstLine: number, slack: number, each: (raw: string, line: number) => void): void {
  // Text already decoded (the client's lines) is not encoded and decoded again.
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const maxChars = sink.maxLineBytes + slack;
  let line = firstLine - 1;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    let stop = end;
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--; // CRLF
    if (stop > start) {
      if (stop - start > maxChars) sink.reject(line, 'line_too_long', `line ${line} is ${stop - start} characters, over the limit`);
      else each(text.slice(start, stop), line);
    }
    start = end + 1;
  }
}
