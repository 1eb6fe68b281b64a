import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * DuckDB's bulk load of a realistic-fleet NDJSON file into a table `logs`,
 * made durable by a CHECKPOINT: the peer figure beside Tributary's ingest.
 * Returns the milliseconds it took.
 */
export async function duckdbBulkLoad(c: DuckDBConnection, file: string): Promise<number> {
  const t0 = performance.now();
  await c.run(
    `CREATE TABLE logs AS SELECT ts, service, server, region,
       CASE level WHEN 'DEBUG' THEN 0 WHEN 'INFO' THEN 1 WHEN 'WARN' THEN 2 ELSE 3 END::TINYINT AS level, msg
     FROM read_json('${file.replace(/'/g, "''")}', format = 'newline_delimited',
       columns = {ts: 'BIGINT', service: 'VARCHAR', server: 'VARCHAR', region: 'VARCHAR', level: 'VARCHAR', msg: 'VARCHAR'})`,
  );
  await c.run('CHECKPOINT');
  return performance.now() - t0;
}
