import protobuf from 'protobufjs';
import { TributaryError } from '../errors.js';
import { PROTO_PATH } from '../grpc/proto.js';

export interface QueryCommandOptions {
  readonly url: string;
  readonly since: string;
  readonly from?: string;
  readonly to?: string;
  readonly limit: number;
  readonly direction: 'forward' | 'backward';
  readonly output: 'table' | 'ndjson' | 'proto';
  readonly color: boolean;
}

interface EntryJson {
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
  let res: Response;
  try {
    res = await fetch(`${o.url}/api/v1/${metric ? 'query_range' : 'query'}?${params}`);
  } catch (err) {
    throw new TributaryError('E_IO', `cannot reach the daemon at ${o.url}: ${(err as Error).message} (is it running? npm start)`, { url: o.url });
  }
  const body = (await res.json()) as { status: string; data?: any; error?: { code: string; message: string } };
  if (body.status !== 'success') throw new TributaryError((body.error?.code as never) ?? 'E_INTERNAL', body.error?.message ?? `HTTP ${res.status}`, {});
  if (metric) {
    for (const s of body.data.series as { labels: Record<string, string>; points: [string, number][] }[]) {
      const total = s.points.reduce((a, p) => a + p[1], 0);
      out(o.output === 'ndjson' ? JSON.stringify(s) + '\n' : `${JSON.stringify(s.labels)}  total ${total}  ${s.points.map((p) => p[1]).join(' ')}\n`);
    }
    return;
  }
  const entries = body.data.entries as EntryJson[];
  if (o.output === 'ndjson') {
    for (const e of entries) out(JSON.stringify(e) + '\n');
  } else if (o.output === 'proto') {
    const codec = await entryCodec();
    for (const e of entries) out(codec.encodeDelimited(e));
  } else {
    type Column = 'time' | 'level' | 'service' | 'server' | 'region';
    const w = (k: Column) => Math.max(k.length, ...entries.map((e) => e[k].length));
    const cols: Column[] = ['time', 'level', 'service', 'server', 'region'];
    const widths = cols.map(w);
    out(cols.map((c, i) => c.toUpperCase().padEnd(widths[i]!)).join('  ') + '  MESSAGE\n');
    for (const e of entries) {
      const cells = cols.map((c, i) => e[c].padEnd(widths[i]!));
      if (o.color) cells[1] = `${COLORS[e.level] ?? ''}${cells[1]}\x1b[0m`;
      out(cells.join('  ') + '  ' + e.message + '\n');
    }
  }
  if (body.data.partial) process.stderr.write(`partial answer: ${body.data.partial.reasons.join('; ')}\n`);
  if (body.data.nextCursor && o.output === 'table') process.stderr.write(`(more: --limit ${o.limit} reached)\n`);
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
