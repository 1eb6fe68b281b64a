// One peer database of `npm run bench:peers`, in a process of its own (so its
// resident memory is its own): loads the NDJSON file, runs the drawn queries,
// and writes timings and answer digests as JSON to --out.
//
//   node dist/bench/peers/peer.js --system duckdb|sqlite --data FILE --draws FILE --dir DIR --out FILE
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { digestCounts, digestRows, type Digest, type Draw, type Row } from './shapes.js';
import { dirBytes } from '../lib/report.js';
import { duckdbBulkLoad } from '../lib/duckdb-load.js';
import { peakRssOf } from '../lib/proc.js';

const arg = (name: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) throw new Error(`--${name} is required`);
  return process.argv[i + 1]!;
};
const system = arg('system') as 'duckdb' | 'sqlite';
const data = arg('data');
const draws = JSON.parse(readFileSync(arg('draws'), 'utf8')) as Draw[];
const dir = arg('dir');
const LEVEL = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 } as Record<string, number>;
const MINUTE = 60_000_000_000n;

interface Peer {
  load(): Promise<number>;
  logQuery(sql: string, params: (string | bigint | number)[]): Promise<Row[]>;
  counts(d: Draw): Promise<{ minute: number; level: number; count: number }[]>;
  bytes(): number;
}

const WHERE: Record<string, string> = {
  service_1m: 'service = ? AND ts >= ? AND ts < ?',
  warn_5m: 'level >= 2 AND ts >= ? AND ts < ?',
  region_1m: 'region = ? AND ts >= ? AND ts < ?',
  server_hour: 'server = ? AND ts >= ? AND ts < ?',
  all_10s: 'ts >= ? AND ts < ?',
  substring_1m: 'ts >= ? AND ts < ? AND instr(msg, ?) > 0',
};

function paramsOf(d: Draw): (string | bigint)[] {
  const range = [BigInt(d.from), BigInt(d.to)];
  switch (d.shape) {
    case 'service_1m':
      return [d.service!, ...range];
    case 'region_1m':
      return [d.region!, ...range];
    case 'server_hour':
      return [d.server!, ...range];
    case 'substring_1m':
      return [...range, d.text!];
    default:
      return range;
  }
}

async function duckdb(): Promise<Peer> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const file = join(dir, 'bench.duckdb');
  const db = await DuckDBInstance.create(file);
  const c = await db.connect();
  return {
    load: () => duckdbBulkLoad(c, data),
    async logQuery(sql, params) {
      const r = await c.runAndReadAll(sql, params as never);
      return r.getRows().map((x) => ({ ts: String(x[0]), server: String(x[1]), level: Number(x[2]), message: String(x[3]) }));
    },
    async counts(d) {
      const r = await c.runAndReadAll(
        `SELECT (ts - $1) // ${MINUTE} AS minute, level, count(*) FROM logs WHERE service = $2 AND ts >= $1 AND ts < $3 GROUP BY ALL`,
        [BigInt(d.from), d.service!, BigInt(d.to)] as never,
      );
      return r.getRows().map((x) => ({ minute: Number(x[0]), level: Number(x[1]), count: Number(x[2]) }));
    },
    bytes: () => dirBytes(dir),
  };
}

async function sqlite(): Promise<Peer> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'bench.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.defaultSafeIntegers(true);
  const stmts = new Map<string, import('better-sqlite3').Statement>();
  return {
    async load() {
      db.exec(
        'CREATE TABLE logs (ts INTEGER NOT NULL, service TEXT NOT NULL, server TEXT NOT NULL, region TEXT NOT NULL, level INTEGER NOT NULL, msg TEXT NOT NULL)',
      );
      const insert = db.prepare('INSERT INTO logs VALUES (?, ?, ?, ?, ?, ?)');
      const t0 = performance.now();
      let rows: unknown[][] = [];
      const flush = db.transaction((batch: unknown[][]) => {
        for (const r of batch) insert.run(...r);
      });
      for await (const line of createInterface({ input: createReadStream(data), crlfDelay: Infinity })) {
        if (line.length === 0) continue;
        // ts is an int64 JSON number: read its digits, not a double.
        const ts = BigInt(/"ts":(\d+)/.exec(line)![1]!);
        const o = JSON.parse(line) as Record<string, string>;
        rows.push([ts, o.service, o.server, o.region, LEVEL[o.level!] ?? 1, o.msg]);
        if (rows.length >= 50_000) {
          flush(rows);
          rows = [];
        }
      }
      flush(rows);
      for (const idx of ['service, ts', 'server, ts', 'region, ts', 'ts']) db.exec(`CREATE INDEX logs_${idx.replace(/\W+/g, '_')} ON logs (${idx})`);
      db.pragma('wal_checkpoint(TRUNCATE)');
      return performance.now() - t0;
    },
    async logQuery(sql, params) {
      let s = stmts.get(sql);
      if (!s) stmts.set(sql, (s = db.prepare(sql)));
      return (s.all(...params) as Record<string, unknown>[]).map((x) => ({
        ts: String(x.ts),
        server: String(x.server),
        level: Number(x.level),
        message: String(x.msg),
      }));
    },
    async counts(d) {
      const sql = `SELECT (ts - ?) / ${MINUTE} AS minute, level, count(*) AS n FROM logs WHERE service = ? AND ts >= ? AND ts < ? GROUP BY 1, 2`;
      let s = stmts.get(sql);
      if (!s) stmts.set(sql, (s = db.prepare(sql)));
      return (s.all(BigInt(d.from), d.service!, BigInt(d.from), BigInt(d.to)) as Record<string, unknown>[]).map((x) => ({
        minute: Number(x.minute),
        level: Number(x.level),
        count: Number(x.n),
      }));
    },
    bytes: () => dirBytes(dir),
  };
}

const peer = system === 'duckdb' ? await duckdb() : await sqlite();
const loadMs = await peer.load();
const ms: number[] = [];
const digests: Digest[] = [];
const run = async (d: Draw): Promise<Digest> => {
  if (d.shape === 'count_by_level') return digestCounts(await peer.counts(d));
  const sql = `SELECT ts, server, level, msg FROM logs WHERE ${WHERE[d.shape]} ORDER BY ts LIMIT ${d.limit}`;
  return digestRows(await peer.logQuery(system === 'duckdb' ? sql.replace(/\?/g, () => `$${++n}`) : sql, paramsOf(d)));
};
let n = 0;
// Warm up on the first draws (not counted), as the other systems get the same chance.
for (const d of draws.slice(0, 10)) {
  n = 0;
  await run(d);
}
for (const d of draws) {
  n = 0;
  const t0 = performance.now();
  digests.push(await run(d));
  ms.push(performance.now() - t0);
}
const peakRss = peakRssOf('self');
writeFileSync(arg('out'), JSON.stringify({ system, loadMs, bytes: peer.bytes(), peakRss, ms, digests }));
