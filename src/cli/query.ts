import protobuf from 'protobufjs';
import { TributaryError } from '../errors.js';
import { PROTO_PATH } from '../grpc/proto.js';
import { getJson, type DaemonTarget } from './http-client.js';

export interface QueryCommandOptions extends DaemonTarget {
  readonly since: string;
  readonly from?: string;
  readonly to?: string;
  readonly limit: number;
  readonly direction: 'forward' | 'backward';
  readonly output: 'table' | 'ndjson' | 'proto';
  readonly color: boolean;
}

export interface EntryJson {
  ts: string;
  source?: string;
  seq?: string;
  time: string;
  level: string;
  service: string;
  server: string;
  region: string;
  message: string;
}

const COLORS: Record<string, string> = { DEBUG: '\x1b[90m', INFO: '\x1b[32m', WARN: '\x1b[33m', ERROR: '\x1b[31m' };

/** `tributary query`: asks a running daemon and prints an aligned table, or NDJSON for pipes. */
export async function queryCommand(
  query: string,
  o: QueryCommandOptions,
  out: (s: string | Uint8Array) => void = (s) => process.stdout.write(s),
): Promise<void> {
  const params = new URLSearchParams({ query, limit: String(o.limit), direction: o.direction });
  if (o.from) params.set('from', o.from);
  else params.set('since', o.since);
  if (o.to) params.set('to', o.to);
  const metric = /^\s*(count_over_time|sum|topk)\b/.test(query);
  if (metric && o.output === 'proto') throw new TributaryError('E_INVALID_ARGUMENT', '--output proto is for log queries; use ndjson for a metric query', {});
  const data = await getJson<any>(o, `/api/v1/${metric ? 'query_range' : 'query'}`, Object.fromEntries(params));
  if (metric) {
    for (const s of data.series as { labels: Record<string, string>; points: [string, number][] }[]) {
      const total = s.points.reduce((a, p) => a + p[1], 0);
      out(o.output === 'ndjson' ? JSON.stringify(s) + '\n' : `${JSON.stringify(s.labels)}  total ${total}  ${s.points.map((p) => p[1]).join(' ')}\n`);
    }
    return;
  }
  const entries = data.entries as EntryJson[];
  if (o.output === 'ndjson') {
    for (const e of entries) out(JSON.stringify(e) + '\n');
  } else if (o.output === 'proto') {
    const codec = await entryCodec();
    for (const e of entries) out(codec.encodeDelimited(e));
  } else {
    out(entryTable(entries, o.color));
  }
  if (data.partial) process.stderr.write(`partial answer: ${data.partial.reasons.join('; ')}\n`);
  if (data.nextCursor && o.output === 'table') process.stderr.write(`(more: --limit ${o.limit} reached)\n`);
}

const COLUMNS = ['time', 'level', 'service', 'server', 'region'] as const;

/** Entries as aligned columns (the header first when `header`); `widths` grow as wider cells come, for a tail. */
export function entryTable(entries: readonly EntryJson[], color: boolean, widths: number[] = COLUMNS.map((c) => c.length), header = true): string {
  for (const e of entries) COLUMNS.forEach((c, i) => (widths[i] = Math.max(widths[i]!, e[c].length)));
  let text = header ? COLUMNS.map((c, i) => c.toUpperCase().padEnd(widths[i]!)).join('  ') + '  MESSAGE\n' : '';
  for (const e of entries) {
    const cells = COLUMNS.map((c, i) => e[c].padEnd(widths[i]!));
    if (color) cells[1] = `${COLORS[e.level] ?? ''}${cells[1]}\x1b[0m`;
    text += cells.join('  ') + '  ' + e.message + '\n';
  }
  return text;
}

/**
 * tributary.v1.LogEntry from proto/tributary/v1/tributary.proto, each
 * message preceded by its length as a varint (protobuf's delimited stream,
 * as Java's writeDelimitedTo and protobufjs's decodeDelimited read it).
 */
export async function entryCodec(): Promise<{ encodeDelimited(e: EntryJson & { source?: string; seq?: string }): Uint8Array }> {
  const root = await protobuf.load(PROTO_PATH);
  const type = root.lookupType('tributary.v1.LogEntry');
  return {
    encodeDelimited: (e) =>
      type
        .encodeDelimited(
          type.fromObject({
            ts: e.ts,
            level: e.level,
            service: e.service,
            server: e.server,
            region: e.region,
            message: e.message,
            source: e.source ?? '',
            seq: e.seq ?? '0',
          }),
        )
        .finish(),
  };
}
