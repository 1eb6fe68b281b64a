// Child process of bench:ingest: DuckDB's bulk load of the same NDJSON file
// into a fresh database file, durable (CHECKPOINT). Prints { ms, peakRss,
// written }: written is the bytes it passed to write(2).
// argv: file dir
import { DuckDBInstance } from '@duckdb/node-api';
import { join } from 'node:path';
import { duckdbBulkLoad } from '../lib/duckdb-load.js';
import { ioOf, peakRssOf } from '../lib/proc.js';

const [file, dir] = process.argv.slice(2) as [string, string];
const db = await DuckDBInstance.create(join(dir, 'bench.duckdb'));
const ms = await duckdbBulkLoad(await db.connect(), file);
console.log(JSON.stringify({ ms, peakRss: peakRssOf('self'), written: ioOf('self').wchar }));
