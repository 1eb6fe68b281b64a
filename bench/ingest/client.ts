// Child process of bench:ingest: a client that pushes `total` entries through
// one front door of a running daemon, `concurrency` requests in flight, and
// prints one JSON line: { entries, ms }. argv: door target total [path]
// (path: the files a collector tails, or the file an import loads).
import { credentials, type Client, type ServiceClientConstructor } from '@grpc/grpc-js';
import { encodeBatch } from '../../src/batch/encode.js';
import { loadTributaryPackage } from '../../src/grpc/proto.js';
import type { LogEntry } from '../../src/model/entry.js';
import { newSourceId } from '../../src/model/source.js';
import { fleetEntry } from '../lib/fleet.js';
import { HashRing, streamKey } from '../../src/shard/hash-ring.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TributaryClient } from '../../src/client/client.js';
import { Collector } from '../../src/collector/collector.js';
import { importFiles } from '../../src/import/importer.js';
import { pinoLineOf } from '../lib/fleet.js';

const [door, target, totalArg, path] = process.argv.slice(2) as [string, string, string, string | undefined];
const total = Number(totalArg);
const PER_REQUEST = 5000;
const CONCURRENCY = 8;
const T0 = BigInt(Date.now()) * 1_000_000n;
const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

function entry(n: number): LogEntry {
  return fleetEntry(n, T0 + BigInt(n));
}

/** Request bodies are built before the clock starts: the figure is the daemon's, not this client's. */
function bodies(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let n = 0; n < total; n += PER_REQUEST) {
    const es = Array.from({ length: Math.min(PER_REQUEST, total - n) }, (_, i) => entry(n + i));
    if (door === 'http-ndjson') {
      out.push(
        Buffer.from(
          es
            .map((e) => JSON.stringify({ ts: e.ts.toString(), level: LEVELS[e.level], service: e.service, server: e.server, region: e.region, msg: e.message }))
            .join('\n'),
        ),
      );
    } else if (door === 'loki-json') {
      const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
      for (const e of es) {
        const key = `${e.service}/${e.server}/${e.level}`;
        let s = streams.get(key);
        if (!s)
          streams.set(key, (s = { stream: { service_name: e.service, host: e.server, region: e.region, level: LEVELS[e.level]!.toLowerCase() }, values: [] }));
        s.values.push([e.ts.toString(), e.message]);
      }
      out.push(Buffer.from(JSON.stringify({ streams: [...streams.values()] })));
    }
  }
  return out;
}

async function overHttp(path: string, type: string): Promise<number> {
  const all = bodies();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < all.length) {
        const body = all[next++]!;
        for (;;) {
          const res = await fetch(`${target}${path}`, { method: 'POST', body, headers: { 'content-type': type } });
          await res.arrayBuffer();
          if (res.status === 429 || res.status === 503) continue; // backed off by the daemon: send again
          if (res.status >= 300) throw new Error(`${path}: HTTP ${res.status}`);
          break;
        }
      }
    }),
  );
  return performance.now() - t0;
}

async function overGrpcBatches(): Promise<number> {
  const Ingest = loadTributaryPackage().Ingest as ServiceClientConstructor;
  const client = new Ingest(target, credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 }) as Client & Record<string, any>;
  const ring = await new Promise<{ shards: string[]; virtual_nodes: number }>((res, rej) =>
    client.Ring({}, (e: Error | null, r: any) => (e ? rej(e) : res(r))),
  );
  const hash = new HashRing(ring.shards, ring.virtual_nodes);
  const sources = new Map(ring.shards.map((s) => [s, { id: newSourceId(), next: 0n }]));
  const frames: { shard: string; batch: Uint8Array; id: number; count: number }[] = [];
  const rate = Number(process.env.BENCH_RATE ?? 0);
  for (let n = 0; n < total; n += PER_REQUEST) {
    const per = new Map<string, LogEntry[]>();
    for (let i = n; i < Math.min(total, n + PER_REQUEST); i++) {
      const e = entry(i);
      const s = hash.lookup(streamKey(e.service, e.server));
      let g = per.get(s);
      if (!g) per.set(s, (g = []));
      g.push(e);
    }
    for (const [shard, es] of per) {
      const src = sources.get(shard)!;
      frames.push({ shard, batch: encodeBatch(es, { sourceId: src.id, firstSeq: src.next }), id: frames.length, count: es.length });
      src.next += BigInt(es.length);
    }
  }
  const t0 = performance.now();
  // bench:anomaly measures while this load runs: it is told when the pushing starts.
  if (process.env.BENCH_ANNOUNCE_START) process.stderr.write('pushing\n');
  await new Promise<void>((resolve, reject) => {
    const call = client.PushBatches();
    let acked = 0;
    let sent = 0;
    let entriesSent = 0;
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      while (sent < frames.length && sent - acked < 32) {
        // Paced (BENCH_RATE entries/s): a frame goes once the clock allows its entries.
        if (rate > 0 && entriesSent > (rate * (performance.now() - t0)) / 1000) {
          timer ??= setTimeout(() => {
            timer = undefined;
            pump();
          }, 1);
          return;
        }
        entriesSent += frames[sent]!.count;
        call.write(frames[sent++]);
      }
      if (sent === frames.length) call.end();
    };
    call.on('data', (a: { ok: boolean; message: string }) => {
      if (!a.ok) return reject(new Error(a.message));
      acked++;
      pump();
    });
    call.on('end', resolve);
    call.on('error', reject);
    pump();
  });
  const ms = performance.now() - t0;
  client.close();
  return ms;
}

/** The Node client (and so the pino transport): pino lines written in chunks, then flushed. */
async function overClient(): Promise<number> {
  const chunks: string[] = [];
  for (let n = 0; n < total; n += 1000) {
    let s = '';
    for (let i = n; i < Math.min(total, n + 1000); i++) s += pinoLineOf(entry(i)) + '\n';
    chunks.push(s);
  }
  const client = new TributaryClient({ aggregators: [target], maxBufferedBytes: 1 << 30, batchBytes: 1 << 20, maxInFlight: 8 });
  const t0 = performance.now();
  for (const c of chunks) client.write(c);
  await client.flush();
  const ms = performance.now() - t0;
  if (client.stats().acked !== total) throw new Error(`client: ${client.stats().acked} of ${total} acknowledged`);
  await client.close();
  return ms;
}

/** A collector tailing the files under `path` from their start, until every line is acknowledged. */
async function viaCollector(): Promise<number> {
  const state = mkdtempSync(join(tmpdir(), 'tributary-bench-collector-'));
  const t0 = performance.now();
  const c = await Collector.start({ include: [join(path!, '*.log')], stateDir: state, aggregators: [target] });
  while (c.stats().acked < total) await new Promise((r) => setTimeout(r, 5));
  const ms = performance.now() - t0;
  await c.stop();
  rmSync(state, { recursive: true, force: true });
  return ms;
}

/** `tributary import` of one NDJSON file. */
async function viaImport(): Promise<number> {
  const t0 = performance.now();
  const summary = await importFiles({ files: [path!], aggregators: [target] });
  if (summary.entries !== total) throw new Error(`import: ${summary.entries} of ${total} stored`);
  return performance.now() - t0;
}

const ms =
  door === 'client'
    ? await overClient()
    : door === 'collector'
      ? await viaCollector()
      : door === 'import'
        ? await viaImport()
        : door === 'http-ndjson'
          ? await overHttp('/api/v1/ingest', 'application/x-ndjson')
          : door === 'loki-json'
            ? await overHttp('/loki/api/v1/push', 'application/json')
            : await overGrpcBatches();
console.log(JSON.stringify({ entries: total, ms }));
