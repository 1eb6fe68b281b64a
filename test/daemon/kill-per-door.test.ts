import test, { type ExecutionContext } from 'ava';
import { credentials, type Client, type ServiceClientConstructor } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { encodeBatch } from '../../src/batch/encode.js';
import { loadTributaryPackage } from '../../src/grpc/proto.js';
import type { LogEntry } from '../../src/model/entry.js';
import { newSourceId } from '../../src/model/source.js';
import { HashRing, streamKey } from '../../src/shard/hash-ring.js';
import { startCli, type Running } from '../helpers/cli-daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

/**
 * kill -9 of the daemon process while clients push through each front door.
 * After the restart, every entry the door acknowledged is stored exactly
 * once, and nothing is stored twice or stored that was never sent. Each
 * request carries entries with unique messages, so the stored set can be
 * checked entry by entry. The kill comes after a number of acknowledgements,
 * with requests of every client still in flight.
 */

const FLAGS = ['--http-port', '0', '--grpc-port', '0', '--syslog-port', '0', '--workers', '2'];
const PER_REQUEST = 200;
const CLIENTS = 4;
const KILL_AFTER_ACKS = 12;

interface Addresses {
  http: string;
  grpc: string;
  syslog: number;
}

async function started(t: ExecutionContext, dataDir: string): Promise<{ daemon: Running; at: Addresses }> {
  const daemon = startCli(t, dataDir, FLAGS);
  const l = (await daemon.line((l) => l.msg.startsWith('tributary ready'))) as { http: string; grpc: string | null; syslog?: number | null };
  return { daemon, at: { http: l.http.replace('0.0.0.0', '127.0.0.1'), grpc: l.grpc!, syslog: l.syslog! } };
}

/** The request's entries: unique messages `<door> r<request> e<i>`, timestamps now (inside the accepted window) and distinct. */
function requestEntries(door: string, request: number, t0: bigint): LogEntry[] {
  return Array.from({ length: PER_REQUEST }, (_, i) => ({
    ts: t0 + BigInt(request * PER_REQUEST + i) * 1000n,
    level: i % 7 === 0 ? 3 : 1,
    service: `kill-${door}`,
    server: `web-${request % 5}`,
    region: 'eu-1',
    message: `${door} r${request} e${i}`,
  }));
}

/** Every stored message of the door's service, as a count per message. */
async function storedMessages(http: string, door: string): Promise<Map<string, number>> {
  const res = await fetch(`${http}/api/v1/query?${new URLSearchParams({ query: `{service="kill-${door}"}`, since: '1h', limit: '100000' })}`);
  if (!res.ok) throw new Error(`query answered ${res.status}: ${await res.text()}`);
  const counts = new Map<string, number>();
  for (const e of ((await res.json()) as { data: { entries: { message: string }[] } }).data.entries) counts.set(e.message, (counts.get(e.message) ?? 0) + 1);
  return counts;
}

/** What each door-specific client does with one request: resolves true once acknowledged, false if it failed (the daemon died). */
type Send = (entries: LogEntry[], request: number) => Promise<boolean>;

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const otlp = protobuf.loadSync(fileURLToPath(new URL('../../../proto/otlp/logs.proto', import.meta.url)));

async function posted(url: string, body: string | Uint8Array, type: string, ok: (res: Response) => Promise<boolean>): Promise<boolean> {
  try {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': type } });
    return await ok(res);
  } catch {
    return false; // the connection died with the daemon
  }
}

const httpDoors: Record<string, (at: Addresses) => Send> = {
  'http-ndjson': (at) => (es) =>
    posted(
      `${at.http}/api/v1/ingest`,
      es
        .map((e) => JSON.stringify({ ts: e.ts.toString(), level: LEVELS[e.level], service: e.service, server: e.server, region: e.region, msg: e.message }))
        .join('\n'),
      'application/x-ndjson',
      async (res) => res.ok && ((await res.json()) as { accepted: number }).accepted === es.length,
    ),
  'loki-push-json': (at) => (es) =>
    posted(
      `${at.http}/loki/api/v1/push`,
      JSON.stringify({
        streams: es.map((e) => ({
          stream: { service_name: e.service, host: e.server, region: e.region, level: LEVELS[e.level]!.toLowerCase() },
          values: [[e.ts.toString(), e.message]],
        })),
      }),
      'application/json',
      async (res) => (await res.arrayBuffer(), res.status === 204),
    ),
  'otlp-http-protobuf': (at) => (es) => {
    const Req = otlp.lookupType('otlp.logs.ExportLogsServiceRequest');
    const body = Req.encode(
      Req.fromObject({
        resourceLogs: [
          {
            resource: {
              attributes: [
                { key: 'service.name', value: { stringValue: es[0]!.service } },
                { key: 'cloud.region', value: { stringValue: 'eu-1' } },
              ],
            },
            scopeLogs: [
              {
                logRecords: es.map((e) => ({
                  timeUnixNano: e.ts.toString(),
                  severityText: LEVELS[e.level],
                  body: { stringValue: e.message },
                  attributes: [{ key: 'host.name', value: { stringValue: e.server } }],
                })),
              },
            ],
          },
        ],
      }),
    ).finish();
    return posted(`${at.http}/v1/logs`, body, 'application/x-protobuf', async (res) => (await res.arrayBuffer(), res.status === 200));
  },
};

function grpcClient(t: ExecutionContext, at: Addresses): Client & Record<string, any> {
  const Ingest = loadTributaryPackage().Ingest as ServiceClientConstructor;
  const client = new Ingest(at.grpc, credentials.createInsecure()) as Client & Record<string, any>;
  t.teardown(() => client.close());
  return client;
}

const grpcPush = (client: Record<string, any>): Send => {
  return (es) =>
    new Promise((resolve) =>
      client.Push(
        {
          entries: es.map((e) => ({ ts: e.ts.toString(), level: LEVELS[e.level], service: e.service, server: e.server, region: e.region, message: e.message })),
        },
        (err: Error | null, r: { accepted: string }) => resolve(!err && Number(r.accepted) === es.length),
      ),
    );
};

/** Pushes from CLIENTS loops until the daemon is killed, which happens once KILL_AFTER_ACKS requests are acknowledged. */
async function pushUntilKilled(daemon: Running, send: Send, door: string, t0: bigint): Promise<{ sent: Set<string>; acked: Set<string> }> {
  const sent = new Set<string>();
  const acked = new Set<string>();
  let next = 0;
  let acks = 0;
  let killed = false;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (!killed) {
        const request = next++;
        const es = requestEntries(door, request, t0);
        for (const e of es) sent.add(e.message);
        if (await send(es, request)) {
          for (const e of es) acked.add(e.message);
          if (++acks === KILL_AFTER_ACKS) {
            daemon.child.kill('SIGKILL');
            killed = true;
          }
        } else if (!killed) throw new Error(`${door}: request ${request} failed before the kill`);
      }
    }),
  );
  await daemon.exited;
  return { sent, acked };
}

function checkStored(t: ExecutionContext, stored: Map<string, number>, sent: Set<string>, acked: Set<string>): void {
  const missing = [...acked].filter((m) => !stored.has(m));
  const twice = [...stored].filter(([, n]) => n > 1).map(([m]) => m);
  const invented = [...stored.keys()].filter((m) => !sent.has(m));
  t.deepEqual(missing, [], 'every acknowledged entry is stored');
  t.deepEqual(twice, [], 'no entry is stored twice');
  t.deepEqual(invented, [], 'nothing is stored that was not sent');
  t.true(acked.size >= KILL_AFTER_ACKS * PER_REQUEST);
  t.true(sent.size > acked.size, 'requests were in flight at the kill');
}

for (const door of Object.keys(httpDoors)) {
  test.serial(`kill -9 while ${door} pushes: every acknowledged entry is stored exactly once after the restart`, async (t) => {
    const dataDir = tempDir(t);
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const first = await started(t, dataDir);
    const { sent, acked } = await pushUntilKilled(first.daemon, httpDoors[door]!(first.at), door, t0);
    const second = await started(t, dataDir);
    checkStored(t, await storedMessages(second.at.http, door), sent, acked);
  });
}

test.serial('kill -9 while gRPC unary Push pushes: every acknowledged entry is stored exactly once after the restart', async (t) => {
  const dataDir = tempDir(t);
  const t0 = BigInt(Date.now()) * 1_000_000n;
  const first = await started(t, dataDir);
  const { sent, acked } = await pushUntilKilled(first.daemon, grpcPush(grpcClient(t, first.at)), 'grpc-push', t0);
  const second = await started(t, dataDir);
  checkStored(t, await storedMessages(second.at.http, 'grpc-push'), sent, acked);
});

test.serial(
  'kill -9 while gRPC PushBatches streams: every acknowledged batch is stored exactly once, and resending the rest after the restart stores every entry exactly once',
  async (t) => {
    const dataDir = tempDir(t);
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const first = await started(t, dataDir);
    const client = grpcClient(t, first.at);
    const ring = await new Promise<{ shards: string[]; virtual_nodes: number }>((res, rej) =>
      client.Ring({}, (e: Error | null, r: any) => (e ? rej(e) : res(r))),
    );
    const hash = new HashRing(ring.shards, ring.virtual_nodes);
    // One source per shard, numbered contiguously, as a routing client (the collector, the importer) does.
    const sources = new Map(ring.shards.map((s) => [s, { id: newSourceId(), next: 0n }]));
    const frames: { shard: string; batch: Uint8Array; id: number }[] = [];
    const entriesOf = new Map<number, LogEntry[]>();
    /** Splits a request by shard into frames; returns their ids. */
    const framed = (es: LogEntry[]): number[] => {
      const per = new Map<string, LogEntry[]>();
      for (const e of es) {
        const s = hash.lookup(streamKey(e.service, e.server));
        per.set(s, [...(per.get(s) ?? []), e]);
      }
      return [...per].map(([shard, group]) => {
        const src = sources.get(shard)!;
        const id = frames.length;
        frames.push({ shard, batch: encodeBatch(group, { sourceId: src.id, firstSeq: src.next }), id });
        entriesOf.set(id, group);
        src.next += BigInt(group.length);
        return id;
      });
    };
    const stream = (c: Record<string, any>, ids: number[], onAck: (id: number) => void): Promise<void> =>
      new Promise((resolve) => {
        const call = c.PushBatches();
        call.on('data', (a: { id: string; ok: boolean }) => a.ok && onAck(Number(a.id))); // uint64 ids arrive as strings
        call.on('end', resolve);
        call.on('error', () => resolve()); // the daemon died
        for (const id of ids) call.write(frames[id]);
        call.end();
      });

    // Requests of PER_REQUEST entries, each split by shard into frames; a stream of 16 requests at a time. The kill
    // comes at the first acknowledgement of the second stream, with the rest of its frames outstanding.
    const sent = new Set<string>();
    const acked = new Set<string>();
    const ackedFrames = new Set<number>();
    let request = 0;
    let killed = false;
    let firstStream = 0;
    while (!killed) {
      const ids: number[] = [];
      for (let i = 0; i < 16; i++) {
        const es = requestEntries('grpc-batches', request++, t0);
        for (const e of es) sent.add(e.message);
        ids.push(...framed(es));
      }
      await stream(client, ids, (id) => {
        ackedFrames.add(id);
        for (const e of entriesOf.get(id)!) acked.add(e.message);
        if (firstStream > 0 && ackedFrames.size === firstStream + 1 && !killed) {
          first.daemon.child.kill('SIGKILL');
          killed = true;
        }
      });
      firstStream ||= ackedFrames.size;
    }
    await first.daemon.exited;

    const second = await started(t, dataDir);
    checkStored(t, await storedMessages(second.at.http, 'grpc-batches'), sent, acked);

    // The client resends every frame it holds no acknowledgement for (a collector's disk buffer does): sequence numbers make it exact.
    const unacked = frames.map((f) => f.id).filter((id) => !ackedFrames.has(id));
    const resent = new Set<number>();
    await stream(grpcClient(t, second.at), unacked, (id) => resent.add(id));
    t.is(resent.size, unacked.length);
    const stored = await storedMessages(second.at.http, 'grpc-batches');
    t.deepEqual(
      [...sent].filter((m) => stored.get(m) !== 1),
      [],
      'after the resend every entry sent is stored exactly once',
    );
    t.is(stored.size, sent.size);
  },
);

test.serial('kill -9 while syslog streams over TCP: every entry the daemon counted as stored survives, none twice, none invented', async (t) => {
  const dataDir = tempDir(t);
  const first = await started(t, dataDir);
  const socket: Socket = connect(first.at.syslog, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let dead = false;
  socket.on('error', () => (dead = true));
  socket.on('close', () => (dead = true));
  // Syslog has no acknowledgement: what the daemon stored is its own count of accepted syslog entries, read from /metrics.
  const acceptedSyslog = async (): Promise<number> => {
    const text = await (await fetch(`${first.at.http}/metrics`)).text();
    return Number(/tributary_ingest_entries_total\{door="syslog",outcome="accepted"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  const sent = new Set<string>();
  const writing = (async () => {
    for (let request = 0; !dead; request++) {
      let chunk = '';
      for (let i = 0; i < PER_REQUEST; i++) {
        const message = `syslog r${request} e${i}`;
        sent.add(message);
        chunk += `<${i % 7 === 0 ? 11 : 14}>1 ${new Date().toISOString()} web-${request % 5} kill-syslog 42 - - ${message}\n`;
      }
      if (!socket.write(chunk)) await new Promise<void>((resolve) => (socket.once('drain', resolve), socket.once('close', resolve)));
    }
  })();
  const target = KILL_AFTER_ACKS * PER_REQUEST;
  let countedBeforeKill = 0;
  await waitUntil(`${target} syslog entries counted as stored`, async () => (countedBeforeKill = await acceptedSyslog()) >= target, 60_000, 20);
  first.daemon.child.kill('SIGKILL');
  await first.daemon.exited;
  await writing;
  socket.destroy();

  const second = await started(t, dataDir);
  const stored = await storedMessages(second.at.http, 'syslog');
  t.true(stored.size >= countedBeforeKill, `${stored.size} stored, ${countedBeforeKill} counted before the kill`);
  t.deepEqual(
    [...stored].filter(([, n]) => n > 1),
    [],
    'no entry is stored twice',
  );
  t.deepEqual(
    [...stored.keys()].filter((m) => !sent.has(m)),
    [],
    'nothing is stored that was not sent',
  );
  t.true(sent.size > stored.size, 'lines were in flight at the kill');
});
