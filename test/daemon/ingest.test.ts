import test from 'ava';
import { Daemon } from '../../src/daemon/daemon.js';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';
import { tempDir } from '../helpers/system.js';

const T0 = 1_763_758_800_000_000_000n;

test('a client resending a request without sequence numbers gets its entries stored once', async (t) => {
  const d = await Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
  t.teardown(() => d.stop());
  const entries: LogEntry[] = Array.from({ length: 500 }, (_, i) => ({
    ts: T0 + BigInt(i),
    level: (i % 4) as Level,
    service: `svc-${i % 5}`,
    server: `host-${i % 11}`,
    region: 'eu-1',
    message: `line ${i % 50}`, // repeated lines with distinct timestamps are distinct entries
  }));
  t.deepEqual(await d.ingest(entries), { accepted: 500, duplicates: 0 });
  // The retry of a request whose answer was lost, and a request overlapping it by half.
  t.deepEqual(await d.ingest(entries), { accepted: 0, duplicates: 500 });
  const more = entries.slice(250).map((e) => ({ ...e, ts: e.ts + 1000n }));
  t.deepEqual(await d.ingest([...entries.slice(0, 250), ...more]), { accepted: 250, duplicates: 250 });

  const res = await fetch(`${d.url}/api/v1/query?${new URLSearchParams({ query: '{}', from: T0.toString(), to: (T0 + 10_000n).toString(), limit: '5000' })}`);
  const body = (await res.json()) as { data: { entries: { ts: string; message: string; service: string; server: string }[] } };
  const keys = body.data.entries.map((e) => `${e.ts}/${e.service}/${e.server}/${e.message}`);
  t.is(keys.length, 750);
  t.is(new Set(keys).size, 750);
});
