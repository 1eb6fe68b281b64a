// npm run bench:cluster — a Tributary cluster on this machine: a 3-node NATS
// cluster with JetStream (R=3) and 3 `tributary start --cluster` processes on
// 127.0.0.1, loaded with the realistic fleet (10,000 servers, Loghub
// messages). Measures entries/s through the JetStream edge (acknowledged by
// JetStream, then stored by the shards' owners), the consumer lag under that
// load, the bytes every entry takes across the cluster once archived (the
// daemons' disks and JetStream's), and how long a SIGKILLed daemon's shards
// take to find new owners and an entry written to them to become visible.
// In the same run: one single-host daemon fed by the same edge writer over
// gRPC (the baseline), and two such daemons each fed every entry: what a
// design keeping a second owner's copy of every shard (instead of an
// archive in JetStream) costs in storing work and bytes.
// --quick: 100 k entries and one takeover.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamTransport } from '../../src/cluster/jetstream-transport.js';
import { findNatsServer, LocalNatsCluster } from '../../src/cluster/local-nats.js';
import { connectNats, names as natsNames } from '../../src/cluster/nats.js';
import { GrpcTransport, TransportSink, type BatchTransport } from '../../src/collector/transport.js';
import { spawnDaemon, type DaemonProcess } from '../../src/daemon/daemon-process.js';
import type { ClusterStatus } from '../../src/http/cluster.js';
import type { LogEntry } from '../../src/model/entry.js';
import { ShardedWriter } from '../../src/shard/sharded-writer.js';
import { fleetEntry } from '../lib/fleet.js';
import { HOUR_NS, RealisticFleet } from '../lib/realistic.js';
import { dirBytes, median, printTable, si, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
const TOTAL = quick ? 100_000 : 1_000_000;
/** Entries per write (split by the writer into one batch per shard), and writes in flight: a busy collector's shape. */
const PER_WRITE = 5000;
const CONCURRENCY = 8;
const TAKEOVERS = quick ? 1 : 3;
const DAEMONS = 3;
const log = (s: string) => process.stderr.write(`  ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (!findNatsServer()) {
  // Not a failure of the suite: this machine cannot run a cluster. Said in the results, so no old figure passes for this run's.
  log('skipped: nats-server not found (Debian package nats-server, or set NATS_SERVER)');
  writeResults(quick ? 'cluster-quick' : 'cluster', { quick, skipped: 'nats-server not found' });
  process.exit(0);
}

const root = mkdtempSync(join(tmpdir(), 'tributary-bench-cluster-'));
const running: DaemonProcess[] = [];
let nats: LocalNatsCluster | undefined;
const cleanup = async () => {
  for (const d of running) d.kill();
  await Promise.all(running.map((d) => d.exited));
  await nats?.stop();
  rmSync(root, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

/**
 * The realistic fleet's TOTAL entries over the hour before now, one array
 * per write; built before any clock starts: the figure is the cluster's,
 * not this generator's.
 */
function fleetWrites(startNs: bigint): LogEntry[][] {
  const out: LogEntry[][] = [];
  new RealisticFleet({ entries: TOTAL, startNs }).forEach((e, i) => {
    if (i % PER_WRITE === 0) out.push([]);
    out[out.length - 1]!.push({ ts: e.ts, service: e.service, server: e.server, region: e.region, level: e.level as LogEntry['level'], message: e.message });
  });
  return out;
}

/** Entries `from` to `from + total` of the small fleet, timestamped T0 onwards, one array per write (the takeover probes). */
function writes(T0: bigint, from = 0, total = TOTAL): LogEntry[][] {
  const out: LogEntry[][] = [];
  for (let k = 0; k < total; k += PER_WRITE) {
    out.push(Array.from({ length: Math.min(PER_WRITE, total - k) }, (_, i) => fleetEntry(from + k + i, T0 + BigInt(k + i))));
  }
  return out;
}

/** Writes everything through `transport`, CONCURRENCY writes in flight; resolves with the ms until the last was acknowledged. */
async function pump(transport: BatchTransport, all: LogEntry[][]): Promise<number> {
  const ring = await transport.ring(10_000);
  const writer = new ShardedWriter(new TransportSink(transport, { attempts: 30, timeoutMs: 10_000 }), ring.shards);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < all.length) await writer.write(all[next++]!);
    }),
  );
  return performance.now() - t0;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: T }).data;
}

const status = (url: string) => getJson<ClusterStatus>(`${url}/api/v1/cluster`);

/** Entries stored between `from` and `to` (ns), counted by the daemon at `url` (across the cluster, if it is in one). */
async function count(url: string, from: bigint, to: bigint, timeoutMs = 10_000): Promise<{ entries: number; partial: boolean }> {
  const params = new URLSearchParams({ query: 'sum(count_over_time({}[1h]))', from: String(from), to: String(to), timeout_ms: String(timeoutMs) });
  const data = await getJson<{ series: { points: [string, number][] }[]; partial?: unknown }>(`${url}/api/v1/query_range?${params}`);
  return { entries: data.series.reduce((a, s) => a + s.points.reduce((b, p) => b + p[1], 0), 0), partial: data.partial !== undefined };
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(everyMs);
  }
}

const lag = (s: ClusterStatus) => s.shardOwners.reduce((n, x) => n + (x.pending ?? 0), 0);
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

// Every daemon seals within seconds of the load, so bytes on disk are blocks, not a write-ahead log.
const SEAL_AGE_MS = 3000;
const daemonFlags = ['--http-port', '0', '--no-syslog', '--memory', '512MiB', '--set', `storage.sealAge=${SEAL_AGE_MS}ms`];
const fleetStart = nowNs() - HOUR_NS;
const fleetRange = [fleetStart - 10_000_000_000n, fleetStart + HOUR_NS + 10_000_000_000n] as const;
const fleet = fleetWrites(fleetStart);

/** Bytes of a daemon's shards that stay (blocks and label logs), and of its write-ahead logs (the unsealed tail, trimmed as it seals). */
function shardBytes(dataDir: string): { kept: number; wal: number } {
  const shards = join(dataDir, 'shards');
  let kept = 0;
  let wal = 0;
  for (const d of readdirSync(shards).filter((n) => n.startsWith('shard-'))) {
    kept += dirBytes(join(shards, d, 'blocks')) + dirBytes(join(shards, d, 'labels'));
    wal += dirBytes(join(shards, d, 'wal'));
  }
  return { kept, wal };
}

/**
 * What the cluster keeps: the owners' shards, and what JetStream holds
 * (per replica, times R): the archive (blocks and label logs) and what the
 * shards' streams still hold; and all of JetStream's files, with the Raft
 * logs it has not compacted yet.
 */
async function clusterBytes(): Promise<{ kept: number; wal: number; archive: number; streams: number; jetstreamFiles: number }> {
  const nc = await connectNats({ servers: nats!.servers });
  try {
    const jsm = await jetstreamManager(nc);
    const r = shape.streamReplicas;
    const archive = (await jsm.streams.info(`OBJ_${natsNames.blocksBucket}`)).state.bytes * r;
    let streams = 0;
    for (let i = 0; i < shape.shards; i++) streams += (await jsm.streams.info(natsNames.stream(`shard-${i}`))).state.bytes * r;
    const local = Array.from({ length: DAEMONS }, (_, i) => shardBytes(join(root, `d${i}`)));
    return {
      kept: local.reduce((n, x) => n + x.kept, 0),
      wal: local.reduce((n, x) => n + x.wal, 0),
      archive,
      streams,
      jetstreamFiles: dirBytes(join(root, 'nats')),
    };
  } finally {
    await nc.close();
  }
}

/**
 * `copies` single daemons, each fed every entry over gRPC at once: entries/s
 * until every copy acknowledged the last, and their directories' bytes once
 * sealed. One copy is the baseline; two is what keeping a second owner's copy
 * of every shard costs.
 */
async function singles(copies: number): Promise<{ entriesPerSec: number; ms: number; bytes: number; wal: number }> {
  const started = Array.from({ length: copies }, (_, i) => spawnDaemon(join(root, `single-${copies}-${i}`), [...daemonFlags, '--grpc-port', '0']));
  running.push(...started);
  const urls = await Promise.all(started.map((d) => d.ready()));
  const transports = await Promise.all(
    started.map(async (d) => new GrpcTransport((await d.line((l) => l.grpc !== undefined)).grpc!.replace('0.0.0.0', '127.0.0.1'))),
  );
  const t0 = performance.now();
  await Promise.all(transports.map((t) => pump(t, fleet)));
  const ms = performance.now() - t0;
  for (const t of transports) t.close();
  for (const url of urls) {
    const stored = await count(url, ...fleetRange);
    if (stored.entries !== TOTAL) throw new Error(`a single daemon holds ${stored.entries} entries, not ${TOTAL}`);
  }
  await sleep(SEAL_AGE_MS * 3); // sealed by age
  for (const d of started) d.child.kill('SIGTERM'); // a clean stop: the WAL synced, nothing to replay
  await Promise.all(started.map((d) => d.exited));
  for (const d of started) running.splice(running.indexOf(d), 1);
  const local = started.map((_, i) => shardBytes(join(root, `single-${copies}-${i}`)));
  return { entriesPerSec: TOTAL / (ms / 1000), ms, bytes: local.reduce((n, x) => n + x.kept, 0), wal: local.reduce((n, x) => n + x.wal, 0) };
}

// ---- Baseline: one daemon alone, the same writer over gRPC; then two, each storing every entry. ----
const baseline = await singles(1);
log(`baseline (one daemon, gRPC): ${si(baseline.entriesPerSec)} entries/s, ${(baseline.bytes / TOTAL).toFixed(1)} B/entry`);
const twoCopies = await singles(2);
log(`two daemons, each storing every entry: ${si(twoCopies.entriesPerSec)} entries/s, ${(twoCopies.bytes / TOTAL).toFixed(1)} B/entry together`);

// ---- The cluster. ----
nats = await LocalNatsCluster.start({ dir: join(root, 'nats') });
const clusterFlags = [...daemonFlags, '--no-grpc', '--workers', '1', '--cluster', nats.servers.join(',')];
const daemons: DaemonProcess[] = [];
const urls: string[] = [];
const start = (i: number) => {
  const d = spawnDaemon(join(root, `d${i}`), clusterFlags);
  running.push(d);
  daemons[i] = d;
  return d.ready().then((url) => (urls[i] = url));
};
const clusterStart = performance.now();
await Promise.all(Array.from({ length: DAEMONS }, (_, i) => start(i)));
const balanced = async (url: string, live: number) => {
  const s = await status(url);
  return s.balanced && s.members.filter((m) => m.live).length === live;
};
await until(`${DAEMONS} members, balanced`, () => balanced(urls[0]!, DAEMONS), 120_000, 250);
const formedMs = performance.now() - clusterStart;
const shape = await status(urls[0]!);
log(`cluster formed in ${(formedMs / 1000).toFixed(1)} s: ${shape.shards} shards, JetStream R=${shape.streamReplicas}, ${DAEMONS} members`);

// Throughput, with the lag sampled every 250 ms while it runs.
const all = fleet;
const samples: number[] = [];
let pumping = true;
const sampler = (async () => {
  while (pumping) {
    const s = await status(urls[0]!).catch(() => undefined);
    if (s) samples.push(lag(s));
    await sleep(250);
  }
})();
const edge = new JetStreamTransport({ servers: nats.servers });
const t0 = performance.now();
const ackMs = await pump(edge, all);
const batchesPerWrite = shape.shards; // a write of 5,000 spreads over every shard
await until('every stream consumed', async () => lag(await status(urls[0]!)) === 0, 300_000, 100);
const storedMs = performance.now() - t0;
pumping = false;
await sampler;
const stored = await count(urls[0]!, ...fleetRange);
if (stored.entries !== TOTAL) throw new Error(`the cluster counts ${stored.entries} entries, not ${TOTAL}`);
// Once every batch is archived and the streams trimmed: what an entry takes across the cluster.
await until('every shard archived, its stream trimmed', async () => (await status(urls[0]!)).shardOwners.every((x) => x.unarchived === 0), 120_000, 500);
const bytes = await clusterBytes();
const throughput = {
  acknowledgedPerSec: TOTAL / (ackMs / 1000),
  storedPerSec: TOTAL / (storedMs / 1000),
  drainMs: storedMs - ackMs,
  lagBatches: { max: Math.max(0, ...samples), median: samples.length ? median(samples) : 0, samples: samples.length },
  entriesPerBatch: PER_WRITE / batchesPerWrite,
  countedEntries: stored.entries,
};
log(`cluster: ${si(throughput.acknowledgedPerSec)} entries/s acknowledged by JetStream, ${si(throughput.storedPerSec)} entries/s stored`);
log(
  `cluster bytes per entry: owners ${(bytes.kept / TOTAL).toFixed(1)}, archive ${(bytes.archive / TOTAL).toFixed(1)}, streams ${(bytes.streams / TOTAL).toFixed(1)}`,
);

// Takeover: SIGKILL the member holding the most shards; until the survivors hold them all, and until an entry written to them is found.
const takeovers: { shardsMoved: number; ownedMs: number; restoreMs: number; visibleMs: number; rejoinMs: number }[] = [];
for (let round = 0; round < TAKEOVERS; round++) {
  await until(`${DAEMONS} members, balanced`, () => balanced(urls[0]!, DAEMONS), 120_000, 250);
  const before = await status(urls[0]!);
  // The member holding the most shards.
  const victimId = before.members.filter((m) => m.live).sort((a, b) => b.owns.length - a.owns.length)[0]!;
  const shardsMoved = victimId.owns.length;
  const victim = urls.findIndex((u) => u === victimId.url);
  const observer = urls[(victim + 1) % DAEMONS]!;
  const probeFrom = TOTAL + round * PER_WRITE;
  const P0 = nowNs();
  const probe = writes(P0, probeFrom, PER_WRITE);
  const killedAt = performance.now();
  const killedWall = Date.now();
  daemons[victim]!.kill();
  await daemons[victim]!.exited;
  running.splice(running.indexOf(daemons[victim]!), 1);
  await pump(edge, probe); // into the streams at once; stored once the dead member's shards have owners again
  // Each on its own loop: a query waits its whole deadline for the dead member until its heartbeat has aged out.
  const since = () => performance.now() - killedAt;
  const [, visibleMs] = await Promise.all([
    until('the dead member’s shards owned by survivors', () => balanced(observer, DAEMONS - 1), 120_000),
    until('the probe write found', async () => (await count(observer, P0, P0 + BigInt(PER_WRITE) + 1n, 1000)).entries >= PER_WRITE, 120_000).then(since),
  ]);
  // When the last of its shards was taken, by the survivors' own log lines (a status view lags by up to a tick).
  const survivors = daemons.filter((_, i) => i !== victim);
  const tookAt = (shard: string) =>
    Math.min(...survivors.flatMap((d) => d.lines.filter((l) => l.msg.startsWith(`took ${shard} `) && l.time! >= killedWall).map((l) => l.time!)));
  const ownedMs = Math.max(...victimId.owns.map(tookAt)) - killedWall;
  // The longest restore among them (claim, download, adopt, stream position), as each survivor logged it.
  const restoreMs = Math.max(
    ...survivors.flatMap((d) =>
      d.lines.filter((l) => l.time! >= killedWall && /^took shard-\d+ /.test(l.msg)).map((l) => Number(/in (\d+) ms$/.exec(l.msg)?.[1] ?? 0)),
    ),
  );
  const rejoinAt = performance.now();
  await start(victim);
  await until('the member back, balanced', () => balanced(observer, DAEMONS), 120_000);
  takeovers.push({ shardsMoved, ownedMs, restoreMs, visibleMs, rejoinMs: performance.now() - rejoinAt });
  log(`takeover ${round + 1}: ${shardsMoved} shards owned again after ${ownedMs.toFixed(0)} ms, probe visible after ${visibleMs.toFixed(0)} ms`);
}
edge.close();
await cleanup();

const leaseMs = 5000; // the members run on the default cluster.lease
printTable(
  `Cluster ingest (${TOTAL.toLocaleString('en')} entries of the realistic fleet, ${PER_WRITE} per write, ${CONCURRENCY} writes in flight; 2 cores shared by all processes)`,
  [
    { setup: 'baseline: one daemon, gRPC edge', 'entries/s': si(baseline.entriesPerSec), 'vs baseline': '1.00x' },
    {
      setup: 'two daemons, each storing every entry (a second owner per shard)',
      'entries/s': si(twoCopies.entriesPerSec),
      'vs baseline': `${(twoCopies.entriesPerSec / baseline.entriesPerSec).toFixed(2)}x`,
    },
    {
      setup: `cluster: 3 NATS (R=${shape.streamReplicas}) + 3 daemons, acknowledged by JetStream`,
      'entries/s': si(throughput.acknowledgedPerSec),
      'vs baseline': `${(throughput.acknowledgedPerSec / baseline.entriesPerSec).toFixed(2)}x`,
    },
    {
      setup: 'cluster: stored by the shards’ owners (until lag 0)',
      'entries/s': si(throughput.storedPerSec),
      'vs baseline': `${(throughput.storedPerSec / baseline.entriesPerSec).toFixed(2)}x`,
    },
  ],
);
const perEntry = (n: number) => (n / TOTAL).toFixed(1);
printTable(
  `Bytes per entry once sealed and archived (blocks and label logs; JetStream's per replica, times R=${shape.streamReplicas}; write-ahead and Raft logs apart)`,
  [
    { setup: 'one daemon (one copy, no redundancy)', 'B/entry': perEntry(baseline.bytes), 'vs one copy': '1.00x' },
    { setup: 'two daemons, each a full copy', 'B/entry': perEntry(twoCopies.bytes), 'vs one copy': `${(twoCopies.bytes / baseline.bytes).toFixed(2)}x` },
    { setup: "cluster: the owners' shards", 'B/entry': perEntry(bytes.kept), 'vs one copy': `${(bytes.kept / baseline.bytes).toFixed(2)}x` },
    { setup: 'cluster: the archive in JetStream', 'B/entry': perEntry(bytes.archive), 'vs one copy': `${(bytes.archive / baseline.bytes).toFixed(2)}x` },
    { setup: "cluster: the shards' streams (trimmed)", 'B/entry': perEntry(bytes.streams), 'vs one copy': `${(bytes.streams / baseline.bytes).toFixed(2)}x` },
    {
      setup: 'cluster: all of it',
      'B/entry': perEntry(bytes.kept + bytes.archive + bytes.streams),
      'vs one copy': `${((bytes.kept + bytes.archive + bytes.streams) / baseline.bytes).toFixed(2)}x`,
    },
    { setup: "(JetStream's files on disk now, Raft logs included)", 'B/entry': perEntry(bytes.jetstreamFiles), 'vs one copy': '' },
  ],
);
printTable('Consumer lag while writing (batches in streams not yet acknowledged by their owners, sampled every 250 ms)', [
  {
    'median batches': throughput.lagBatches.median,
    'max batches': throughput.lagBatches.max,
    'max entries (approx.)': si(throughput.lagBatches.max * throughput.entriesPerBatch, 1),
    'drain after the last ack': `${(throughput.drainMs / 1000).toFixed(1)} s`,
  },
]);
printTable(`Takeover of a SIGKILLed daemon's shards (lease ${leaseMs / 1000} s)`, [
  ...takeovers.map((x, i) => ({
    round: String(i + 1),
    'shards moved': x.shardsMoved,
    'owned again': `${(x.ownedMs / 1000).toFixed(2)} s`,
    'longest restore': `${x.restoreMs} ms`,
    'probe visible': `${(x.visibleMs / 1000).toFixed(2)} s`,
    'rejoin rebalanced': `${(x.rejoinMs / 1000).toFixed(2)} s`,
  })),
]);
const path = writeResults(quick ? 'cluster-quick' : 'cluster', {
  quick,
  entries: TOTAL,
  perWrite: PER_WRITE,
  concurrency: CONCURRENCY,
  shards: shape.shards,
  streamReplicas: shape.streamReplicas,
  leaseMs,
  formedMs,
  data: 'realistic fleet: 10,000 servers, 200 services, Loghub messages',
  baseline,
  twoCopies,
  throughput,
  bytes: {
    ...bytes,
    perEntry: {
      baseline: baseline.bytes / TOTAL,
      twoCopies: twoCopies.bytes / TOTAL,
      owners: bytes.kept / TOTAL,
      archive: bytes.archive / TOTAL,
      streams: bytes.streams / TOTAL,
      jetstreamFiles: bytes.jetstreamFiles / TOTAL,
    },
  },
  ratio: {
    acknowledged: throughput.acknowledgedPerSec / baseline.entriesPerSec,
    stored: throughput.storedPerSec / baseline.entriesPerSec,
    twoCopies: twoCopies.entriesPerSec / baseline.entriesPerSec,
  },
  takeovers,
  takeoverMedian: { ownedMs: median(takeovers.map((x) => x.ownedMs)), visibleMs: median(takeovers.map((x) => x.visibleMs)) },
});
console.log(`\nwritten: ${path}`);
