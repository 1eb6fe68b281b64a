import test, { type ExecutionContext } from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnomalyEvent } from '../../src/anomaly/detector-actor.js';
import { WebhookNotifier, type WebhookOptions } from '../../src/anomaly/webhook.js';
import { isTributaryError } from '../../src/errors.js';
import type { LogEntry } from '../../src/model/entry.js';
import { Level } from '../../src/model/level.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

interface Received {
  readonly delivery: string;
  readonly header: string | undefined;
  readonly events: AnomalyEvent[];
}

type Answer = { status: number; headers?: Record<string, string> } | 'hold';

/**
 * A receiver whose answers the test scripts, request by request (200 once
 * the script runs out). Held requests are answered only at teardown.
 */
async function receiver(t: ExecutionContext, script: Answer[] = []) {
  const received: Received[] = [];
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { delivery: string; events: AnomalyEvent[] };
      received.push({ delivery: parsed.delivery, header: req.headers['x-tributary-delivery'] as string | undefined, events: parsed.events });
      const answer = script.shift() ?? { status: 200 };
      if (answer === 'hold') held.push(res);
      else res.writeHead(answer.status, answer.headers).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=secret`, received, held };
}

/** An event source the test drives by hand. */
function source() {
  const listeners = new Set<(e: AnomalyEvent) => void>();
  let n = 0;
  return {
    subscribe(l: (e: AnomalyEvent) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit(service = `svc-${n}`): AnomalyEvent {
      const e: AnomalyEvent = {
        type: n % 2 === 0 ? 'flag' : 'clear',
        service,
        at: Date.now(),
        ts: String(n),
        errors: 11,
        window: 1000,
        threshold: 10,
        entry: { source: 's', seq: String(n++) },
      };
      for (const l of listeners) l(e);
      return e;
    },
    get listeners() {
      return listeners.size;
    },
  };
}

function notifier(t: ExecutionContext, src: ReturnType<typeof source>, options: WebhookOptions): WebhookNotifier {
  const w = new WebhookNotifier(src, { backoff: { initialMs: 5, maxMs: 20 }, ...options });
  t.teardown(() => w.close(0));
  return w;
}

const seqs = (events: readonly AnomalyEvent[]) => events.map((e) => e.entry.seq);

test('events are delivered in order; a failing receiver gets the same delivery id again until it answers 2xx', async (t) => {
  const r = await receiver(t, [{ status: 503, headers: { 'retry-after': '0' } }, { status: 500 }]);
  const src = source();
  const w = notifier(t, src, { url: r.url });
  const sent = [src.emit(), src.emit(), src.emit()];
  await waitUntil('all delivered', () => w.stats().delivered === 3, 10_000);

  const first = r.received[0]!;
  t.is(first.header, first.delivery);
  // Retries repeat the first request exactly; the events that came meanwhile follow in a new delivery.
  t.deepEqual(
    r.received.slice(0, 3).map((x) => [x.delivery, seqs(x.events)]),
    [0, 1, 2].map(() => [first.delivery, seqs(first.events)]),
  );
  t.deepEqual(seqs(r.received.flatMap((x, i) => (i < 2 ? [] : x.events))), seqs(sent));
  t.like(w.stats(), { delivered: 3, failed: 0, dropped: 0, retries: 2, queued: 0 });
});

test('a receiver that does not answer within the timeout is retried', async (t) => {
  const r = await receiver(t, ['hold']);
  const src = source();
  // A second's limit: the held request runs out, and the retry's answer has room to arrive on a loaded machine
  // (at 100 ms, a loaded CI machine timed out the answered retry too, and counted 3 requests).
  const w = notifier(t, src, { url: r.url, timeoutMs: 1000 });
  const e = src.emit();
  await waitUntil('delivered', () => w.stats().delivered === 1, 10_000).catch((err) => {
    t.log(w.stats(), r.received.length);
    throw err;
  });
  t.is(r.received.length, 2);
  t.deepEqual(seqs(r.received[1]!.events), seqs([e]));
  t.regex(w.stats().lastError ?? '', /within 1000 ms/);
});

test('a 4xx refusal is not retried and does not hold up the next events; a receiver that never recovers is given up after maxAttempts', async (t) => {
  const r = await receiver(t, [{ status: 400 }, { status: 200 }, { status: 500 }, { status: 500 }, { status: 500 }]);
  const src = source();
  const w = notifier(t, src, { url: r.url, maxAttempts: 3 });
  src.emit();
  await waitUntil('refused', () => w.stats().failed === 1, 10_000);
  src.emit();
  await waitUntil('delivered', () => w.stats().delivered === 1, 10_000);
  src.emit();
  await waitUntil('given up', () => w.stats().failed === 2, 10_000);
  t.is(r.received.length, 1 + 1 + 3);
  t.like(w.stats(), { delivered: 1, failed: 2, retries: 2, queued: 0 });
  t.regex(w.stats().lastError ?? '', /HTTP 500/);
});

test('the queue is bounded: past maxQueued the oldest waiting events are dropped and counted, the one in flight is kept', async (t) => {
  const r = await receiver(t, ['hold']);
  const src = source();
  const w = notifier(t, src, { url: r.url, maxQueued: 4, maxBatch: 1, timeoutMs: 60_000 });
  const inFlight = src.emit();
  await waitUntil('the first request is held', () => r.held.length === 1, 10_000);
  const waiting = Array.from({ length: 6 }, () => src.emit());
  t.like(w.stats(), { dropped: 3, queued: 4 });
  r.held[0]!.writeHead(200).end();
  await waitUntil('the queue drains', () => w.stats().queued === 0, 10_000);
  // Delivered: the one in flight, then the newest three that stayed.
  t.deepEqual(seqs(r.received.flatMap((x) => x.events)), seqs([inFlight, ...waiting.slice(3)]));
  t.like(w.stats(), { delivered: 4, dropped: 3, failed: 0 });
});

test('close gives queued events their grace, then stops: what is left is counted as dropped and nothing keeps running', async (t) => {
  const r = await receiver(t, [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }]);
  const src = source();
  const w = new WebhookNotifier(src, { url: r.url, backoff: { initialMs: 60_000, maxMs: 60_000 } });
  src.emit();
  src.emit();
  await waitUntil('the first attempt failed', () => w.stats().retries === 1, 10_000);
  const started = performance.now();
  await w.close(50);
  t.true(performance.now() - started < 5000, 'close does not wait out a minute of backoff');
  t.like(w.stats(), { delivered: 0, dropped: 2, queued: 0 });
  t.is(src.listeners, 0);
  src.emit();
  t.is(w.stats().queued, 0, 'events after close are not taken');
});

test('a webhook URL that is not http(s) is refused at construction', (t) => {
  for (const url of ['not a url', 'ftp://example.com/hook']) {
    const err = t.throws(() => new WebhookNotifier(source(), { url }));
    t.true(isTributaryError(err, 'E_CONFIG_INVALID'), url);
  }
});

test('in the daemon: a flag reaches the configured webhook and the per-service metric', async (t) => {
  const r = await receiver(t);
  const d = await startDaemon(t, { anomaly: { rule: { size: 20, threshold: 2 }, webhooks: [{ url: r.url }] } });
  const ts = BigInt(Date.now()) * 1_000_000n;
  const entry = (i: number, level: Level): LogEntry => ({ ts: ts + BigInt(i), level, service: 'billing', server: 'b-1', region: 'eu', message: `m${i}` });
  await d.ingest([entry(0, Level.INFO), entry(1, Level.ERROR), entry(2, Level.ERROR), entry(3, Level.ERROR)]);
  await waitUntil('the webhook has the flag and answered it', () => d.webhooks[0]!.stats().delivered === 1, 10_000);
  t.is(r.received.length, 1);
  t.like(r.received[0]!.events[0], { type: 'flag', service: 'billing', errors: 3, window: 20, threshold: 2, ts: (ts + 3n).toString() });
  t.like(d.webhooks[0]!.stats(), { delivered: 1, failed: 0 });

  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.regex(metrics, /^tributary_anomaly_flagged\{service="billing"\} 1$/m);
  t.regex(metrics, /^tributary_anomaly_flags_total\{service="billing"\} 1$/m);
  t.regex(metrics, /^tributary_anomaly_entries_seen 4$/m);
  t.regex(metrics, /^tributary_anomaly_webhook_events_total\{target="http:\/\/127\.0\.0\.1:\d+\/hook",outcome="delivered"\} 1$/m);
  t.notRegex(metrics, /secret/, 'the webhook query string (a token) is not a label');
});
