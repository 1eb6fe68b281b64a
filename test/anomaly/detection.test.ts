import test from 'ava';
import http from 'node:http';
import type { AnomalyEvent } from '../../src/anomaly/detector-actor.js';
import type { ActorStats } from '../../src/actors/system.js';
import type { LogEntry } from '../../src/model/entry.js';
import { LEVEL_NAMES, Level } from '../../src/model/level.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

const T0 = BigInt(Date.now()) * 1_000_000n;
let n = 0;
function entries(service: string, count: number, level: Level, server = 'web-1'): LogEntry[] {
  return Array.from({ length: count }, () => ({ ts: T0 + BigInt(n++), level, service, server, region: 'eu-1', message: `${LEVEL_NAMES[level]} ${n}` }));
}

/** Collects the events of the SSE stream until closed. */
function sse(url: string): { events: { event: string; data: AnomalyEvent }[]; close: () => void; ready: Promise<void> } {
  const events: { event: string; data: AnomalyEvent }[] = [];
  let req: http.ClientRequest;
  const ready = new Promise<void>((resolve, reject) => {
    req = http.get(url, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) as AnomalyEvent });
        }
      });
      res.on('error', () => {});
      resolve();
    });
    req.on('error', reject);
  });
  return { events, ready, close: () => req.destroy() };
}

test('a burst of errors flags its service as the threshold is crossed, and calm clears it; JSON, SSE and the tipping entry agree', async (t) => {
  const d = await startDaemon(t, { anomaly: { rule: { size: 100, threshold: 5 } } });
  const stream = sse(`${d.url}/api/v1/anomalies/stream`);
  t.teardown(() => stream.close());
  await stream.ready;

  await d.ingest([...entries('pay', 200, Level.INFO), ...entries('cart', 50, Level.ERROR, 'web-2').slice(0, 5)]);
  // 5 errors in cart's window: at the threshold, not above it.
  await d.ingest(entries('pay', 5, Level.ERROR));
  const sixth = entries('pay', 1, Level.ERROR);
  await d.ingest(sixth);
  await waitUntil('pay is flagged', () => d.anomalies!.current().some((e) => e.service === 'pay'), 10_000);
  const flag = d.anomalies!.current().find((e) => e.service === 'pay')!;
  t.like(flag, { type: 'flag', service: 'pay', errors: 6, window: 100, threshold: 5, ts: sixth[0]!.ts.toString() });
  t.false(d.anomalies!.current().some((e) => e.service === 'cart'));

  // The tipping entry, fetched by its id.
  const res = await fetch(
    `${d.url}/api/v1/query?${new URLSearchParams({ query: '{service="pay"}', from: T0.toString(), limit: '5000', direction: 'forward' })}`,
  );
  const stored = ((await res.json()) as { data: { entries: { source: string; seq: string; message: string }[] } }).data.entries;
  const tipping = stored.find((e) => e.source === flag.entry.source && e.seq === flag.entry.seq);
  t.is(tipping?.message, sixth[0]!.message);

  // 100 calm entries push the errors out of the window.
  await d.ingest(entries('pay', 100, Level.INFO));
  await waitUntil('pay is cleared', () => !d.anomalies!.current().some((e) => e.service === 'pay'), 10_000);
  const api = (await (await fetch(`${d.url}/api/v1/anomalies`)).json()) as { data: { current: AnomalyEvent[]; history: AnomalyEvent[] } };
  t.deepEqual(api.data.current, []);
  t.deepEqual(
    api.data.history.map((e) => [e.type, e.service]),
    [
      ['flag', 'pay'],
      ['clear', 'pay'],
    ],
  );
  await waitUntil('the stream has both events', () => stream.events.length >= 2, 10_000);
  t.deepEqual(
    stream.events.map((e) => [e.event, e.data.service, e.data.errors]),
    [
      ['flag', 'pay', 6],
      ['clear', 'pay', 5],
    ],
  );
});

test('a detector whose thread dies mid-stream takes its windows from its replica: no anomaly lost, none invented', async (t) => {
  const d = await startDaemon(t, { anomaly: { rule: { size: 50, threshold: 3 }, detectors: 1 } });
  const [detector] = (d.system.stats() as ActorStats[]).filter((s) => s.name === 'detector-0');
  await d.ingest([...entries('db', 40, Level.INFO), ...entries('db', 3, Level.ERROR)]);
  await waitUntil('the detector has seen 43 entries', async () => (await d.anomalies!.window('db'))?.filled === 43, 10_000);
  await d.system.killThread(detector!.thread);
  const stats = () => d.system.stats(detector!.id) as ActorStats;
  await waitUntil('the detector is back', () => stats().restarts >= 1 && stats().status === 'running', 30_000);
  // Its window survived: one more error tips it (a fresh window would need four).
  t.like(await d.anomalies!.window('db'), { filled: 43, errors: 3, flagged: false });
  await d.ingest(entries('db', 1, Level.ERROR));
  await waitUntil('db is flagged', () => d.anomalies!.current().some((e) => e.service === 'db'), 10_000);
  t.like(d.anomalies!.current()[0], { service: 'db', errors: 4 });
  t.is(d.anomalies!.history().length, 1);
});

test('detectOn commit: detectors count entries once they are durable, with the same result', async (t) => {
  const d = await startDaemon(t, { anomaly: { rule: { size: 10, threshold: 2 }, detectOn: 'commit' } });
  await d.ingest([...entries('auth', 5, Level.INFO), ...entries('auth', 3, Level.ERROR)]);
  await waitUntil('auth is flagged', () => d.anomalies!.current().some((e) => e.service === 'auth'), 10_000);
  t.like(d.anomalies!.current()[0], { service: 'auth', errors: 3, window: 10, threshold: 2 });
  t.like(await d.anomalies!.window('auth'), { filled: 8, errors: 3, flagged: true });
});
