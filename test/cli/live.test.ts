import test from 'ava';
import { Level } from '../../src/model/level.js';
import { anomaliesCommand, statusCommand, tailCommand } from '../../src/cli/live.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

const nowNs = () => BigInt(Date.now()) * 1_000_000n;
const entry = (i: number, level: Level = Level.INFO, service = 'svc-t', tsNs = nowNs()) => ({
  ts: tsNs,
  level,
  service,
  server: `srv-${i % 3}`,
  region: 'r1',
  message: `line ${i}`,
});

test('tributary tail prints new entries in timestamp order, late arrivals within the window included', async (t) => {
  const d = await startDaemon(t);
  const controller = new AbortController();
  const out: string[] = [];
  const tailing = tailCommand(
    '{service="svc-t"}',
    { url: d.url, since: '1s', delay: 1500, output: 'ndjson', color: false },
    controller,
    (s) => void out.push(s),
  );
  t.teardown(() => controller.abort());
  // Written out of order: a skewed clock's entry arrives after newer ones.
  const base = nowNs();
  await d.ingest([entry(2, Level.INFO, 'svc-t', base + 2_000_000n), entry(3, Level.INFO, 'svc-t', base + 3_000_000n)]);
  await d.ingest([entry(1, Level.WARN, 'svc-t', base + 1_000_000n)]);
  await waitUntil('three tailed entries', () => out.join('').split('\n').filter(Boolean).length >= 3, 15_000);
  controller.abort();
  await tailing;
  const messages = out
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { message: string }).message);
  t.deepEqual(messages, ['line 1', 'line 2', 'line 3']);
});

test('tributary anomalies and status show what the daemon knows', async (t) => {
  const d = await startDaemon(t, { anomaly: { rule: { size: 10, threshold: 3 } } });
  await d.ingest(Array.from({ length: 10 }, (_, i) => entry(i, Level.ERROR, 'svc-bad')));
  await waitUntil('svc-bad flagged', () => d.anomalies!.isFlagged('svc-bad'), 10_000);
  const out: string[] = [];
  await anomaliesCommand({ url: d.url, follow: false, json: false, limit: 10 }, new AbortController(), (s) => void out.push(s));
  t.regex(out.join(''), /flagged now: svc-bad/);
  t.regex(out.join(''), /FLAG +svc-bad +\d+ ERROR in the last 10 \(threshold 3\)/);

  const status: string[] = [];
  await statusCommand({ url: d.url, json: true, intervalMs: 50 }, (s) => void status.push(s));
  const s = JSON.parse(status.join('')) as { shards: { entries: number }[]; actors: { name: string; status: string }[]; flagged: string[] };
  t.is(
    s.shards.reduce((a, x) => a + x.entries, 0),
    10,
  );
  t.true(s.actors.some((a) => a.name === 'shard-0' && a.status === 'running'));
  t.deepEqual(s.flagged, ['svc-bad']);
});
