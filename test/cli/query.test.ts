import test from 'ava';
import protobuf from 'protobufjs';
import { Daemon } from '../../src/daemon/daemon.js';
import { queryCommand } from '../../src/cli/query.js';
import { PROTO_PATH } from '../../src/grpc/proto.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

const S = 1_000_000_000n;
const T0 = 1_763_758_800n * S;

test('tributary query prints a table, NDJSON or delimited protobuf of the same entries', async (t) => {
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: false, workers: 2 });
  t.teardown(() => d.stop());
  const entries: LogEntry[] = Array.from({ length: 30 }, (_, i) => ({
    ts: T0 + BigInt(i) * S,
    level: (i % 4) as Level,
    service: 'api',
    server: `web-${i % 3}`,
    region: 'eu-1',
    message: `line ${i} ünïcode`,
  }));
  await d.writer.write(entries);
  const options = { url: d.url, since: '1h', from: T0.toString(), to: (T0 + 60n * S).toString(), limit: 100, direction: 'forward' as const, color: false };
  const run = async (output: 'table' | 'ndjson' | 'proto') => {
    const chunks: (string | Uint8Array)[] = [];
    await queryCommand('{service="api"} | level >= WARN', { ...options, output }, (c) => chunks.push(c));
    return chunks;
  };
  const want = entries.filter((e) => e.level >= 2);

  const table = (await run('table')).join('').trimEnd().split('\n');
  t.regex(table[0]!, /^TIME\s+LEVEL\s+SERVICE\s+SERVER\s+REGION\s+MESSAGE$/);
  t.is(table.length, want.length + 1);
  t.true(table[1]!.endsWith(want[0]!.message));
  // Aligned: every row's message starts in the same column.
  t.is(new Set(table.slice(1).map((row, i) => row.indexOf(want[i]!.message))).size, 1);

  const ndjson = (await run('ndjson'))
    .join('')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.deepEqual(
    ndjson.map((e) => [e.ts, e.level, e.message]),
    want.map((e) => [e.ts.toString(), ['DEBUG', 'INFO', 'WARN', 'ERROR'][e.level], e.message]),
  );

  const bytes = Buffer.concat((await run('proto')) as Uint8Array[]);
  const type = (await protobuf.load(PROTO_PATH)).lookupType('tributary.v1.LogEntry');
  const reader = protobuf.Reader.create(bytes);
  const decoded: any[] = [];
  while (reader.pos < reader.len) decoded.push(type.toObject(type.decodeDelimited(reader), { longs: String, enums: String }));
  t.deepEqual(
    decoded.map((e) => [e.ts, e.level, e.message, e.source, e.seq]),
    ndjson.map((e) => [e.ts, e.level, e.message, e.source, e.seq]),
  );
});
