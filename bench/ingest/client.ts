// Child process of bench:ingest: a client that pushes the realistic fleet's
// NDJSON file through one front door of a running daemon and prints one JSON
// line: { entries, ms }. The clock runs from the first request to the last
// acknowledgement (for syslog, which has none: until the daemon counts every
// line as stored). argv: door addresses-json file [collector-dir]
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TributaryClient } from '../../src/client/client.js';
import { Collector } from '../../src/collector/collector.js';
import { importFiles } from '../../src/import/importer.js';
import type { LogEntry } from '../../src/model/entry.js';
import { ingestClient, ringFramer, streamFrames } from '../lib/batch-stream.js';
import { entryOfLine, fileLines, grpcEntry, lokiPushBody, otlpBody, syslogLine } from './requests.js';

const [door, addressesArg, file, collectorDir] = process.argv.slice(2) as [string, string, string, string | undefined];
const at = JSON.parse(addressesArg) as { http: string; grpc: string; syslog: number };
const PER_REQUEST = 5000;
const CONCURRENCY = 4;

/** The file in requests of `per` lines, each shaped by the door's client from its lines or its entries. */
function requests<T>(per: number, shape: (es: LogEntry[], lines: string[]) => T): { bodies: T[]; total: number } {
  const lines = fileLines(file);
  const bodies: T[] = [];
  for (let n = 0; n < lines.length; n += per) {
    const slice = lines.slice(n, n + per);
    bodies.push(shape(slice.map(entryOfLine), slice));
  }
  return { bodies, total: lines.length };
}

/** Sends `bodies` with CONCURRENCY requests in flight; a 429 or 503 (the daemon backing off) is sent again. */
async function concurrently<T>(bodies: T[], send: (body: T) => Promise<'ok' | 'again'>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        while ((await send(body)) === 'again');
      }
    }),
  );
  return performance.now() - t0;
}

function overHttp(path: string, type: string, bodies: (string | Uint8Array)[]): Promise<number> {
  return concurrently(bodies, async (body) => {
    const res = await fetch(`${at.http}${path}`, { method: 'POST', body, headers: { 'content-type': type } });
    await res.arrayBuffer();
    if (res.status === 429 || res.status === 503) return 'again';
    if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status}`);
    return 'ok';
  });
}

async function overGrpcPush(): Promise<{ ms: number; total: number }> {
  const client = ingestClient(at.grpc);
  const { bodies, total } = requests(1000, (es) => ({ entries: es.map(grpcEntry) }));
  const ms = await concurrently(
    bodies,
    (request) =>
      new Promise((resolve, reject) =>
        client.Push(request, (err: (Error & { code?: number }) | null) => (err ? (err.code === 8 ? resolve('again') : reject(err)) : resolve('ok'))),
      ),
  );
  client.close();
  return { ms, total };
}

async function overGrpcBatches(): Promise<{ ms: number; total: number }> {
  const client = ingestClient(at.grpc);
  const { frames, frame } = await ringFramer(client);
  const { total } = requests(PER_REQUEST, frame);
  const t0 = performance.now();
  await streamFrames(client, frames);
  const ms = performance.now() - t0;
  client.close();
  return { ms, total };
}

/** Syslog over CONCURRENCY TCP connections; done when the daemon's metrics count every line as stored, refused or repeated. */
async function overSyslog(): Promise<{ ms: number; total: number }> {
  const { bodies, total } = requests(PER_REQUEST, (es) => Buffer.from(es.map(syslogLine).join('')));
  const counted = async (): Promise<number> => {
    const text = await (await fetch(`${at.http}/metrics`)).text();
    let n = 0;
    for (const m of text.matchAll(/tributary_ingest_entries_total\{door="syslog",outcome="(\w+)"\} (\d+)/g)) if (m[1] !== 'overloaded') n += Number(m[2]);
    return n;
  };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      const socket = connect(at.syslog, '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      while (next < bodies.length) if (!socket.write(bodies[next++]!)) await new Promise((r) => socket.once('drain', r));
      await new Promise<void>((resolve) => socket.end(resolve));
    }),
  );
  while ((await counted()) < total) await new Promise((r) => setTimeout(r, 10));
  return { ms: performance.now() - t0, total };
}

/** The Node client (the pino transport's engine): NDJSON lines written in chunks, then flushed. */
async function overClient(): Promise<{ ms: number; total: number }> {
  const lines = fileLines(file);
  const chunks: string[] = [];
  for (let n = 0; n < lines.length; n += 1000) chunks.push(lines.slice(n, n + 1000).join('\n') + '\n');
  const client = new TributaryClient({ aggregators: [at.grpc], maxBufferedBytes: 1 << 30, batchBytes: 1 << 20, maxInFlight: 8 });
  const t0 = performance.now();
  for (const c of chunks) client.write(c);
  await client.flush();
  const ms = performance.now() - t0;
  if (client.stats().acked !== lines.length) throw new Error(`client: ${client.stats().acked} of ${lines.length} acknowledged`);
  await client.close();
  return { ms, total: lines.length };
}

/** A collector tailing the files under collectorDir from their start, until every line is acknowledged. */
async function viaCollector(): Promise<{ ms: number; total: number }> {
  const total = fileLines(file).length;
  const state = mkdtempSync(join(tmpdir(), 'tributary-bench-collector-'));
  const t0 = performance.now();
  const c = await Collector.start({ include: [join(collectorDir!, '*.log')], stateDir: state, aggregators: [at.grpc] });
  while (c.stats().acked < total) await new Promise((r) => setTimeout(r, 5));
  const ms = performance.now() - t0;
  await c.stop();
  rmSync(state, { recursive: true, force: true });
  return { ms, total };
}

/** `tributary import` of the file. */
async function viaImport(): Promise<{ ms: number; total: number }> {
  const t0 = performance.now();
  const summary = await importFiles({ files: [file], aggregators: [at.grpc] });
  return { ms: performance.now() - t0, total: summary.entries };
}

const http = (path: string, type: string, shape: (es: LogEntry[], lines: string[]) => string | Uint8Array) => async () => {
  const { bodies, total } = requests(PER_REQUEST, shape);
  return { ms: await overHttp(path, type, bodies), total };
};
const DOORS: Record<string, () => Promise<{ ms: number; total: number }>> = {
  import: viaImport,
  'http-ndjson': http('/api/v1/ingest', 'application/x-ndjson', (_, lines) => lines.join('\n')),
  'loki-json': http('/loki/api/v1/push', 'application/json', lokiPushBody),
  'otlp-protobuf': http('/v1/logs', 'application/x-protobuf', otlpBody),
  'grpc-batches': overGrpcBatches,
  'grpc-push': overGrpcPush,
  syslog: overSyslog,
  collector: viaCollector,
  client: overClient,
};
const { ms, total } = await DOORS[door]!();
console.log(JSON.stringify({ entries: total, ms }));
