import { setTimeout as sleep } from 'node:timers/promises';
import { nanoid } from 'nanoid';
import { TributaryError } from '../errors.js';
import { backoffDelay, type BackoffPolicy } from '../supervisor/backoff.js';
import type { AnomalyEvent } from './detector-actor.js';

export interface WebhookOptions {
  /** Where events are POSTed, as JSON `{ "delivery": id, "events": [...] }`. */
  readonly url: string;
  /** Sent with every request (for example an Authorization header). */
  readonly headers?: Readonly<Record<string, string>>;
  /** One request's time limit (default 5 s); a request that takes longer is aborted and retried. */
  readonly timeoutMs?: number;
  /** Attempts per delivery before it is given up and counted as failed (default 8: about a minute of retries). */
  readonly maxAttempts?: number;
  /** Delay between attempts: doubling with jitter (default 500 ms up to 30 s). A 429 or 503's Retry-After is honoured up to `maxMs`. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Events waiting to be sent (default 10,000); when full the oldest waiting event is dropped and counted. */
  readonly maxQueued?: number;
  /** Events per request (default 100). */
  readonly maxBatch?: number;
}

export interface WebhookStats {
  readonly url: string;
  /** Events a receiver answered 2xx for. */
  readonly delivered: number;
  /** Events given up after `maxAttempts`, or refused by the receiver with a 4xx that a retry cannot change. */
  readonly failed: number;
  /** Events dropped because the queue was full (the receiver was down longer than the queue lasts). */
  readonly dropped: number;
  /** Attempts that were retried. */
  readonly retries: number;
  /** Events waiting, including the ones in flight. */
  readonly queued: number;
  readonly lastError?: string;
}

/** Where the notifier gets its events: the AnomalyMonitor, or anything shaped like it. */
export interface AnomalySource {
  subscribe(listener: (e: AnomalyEvent) => void): () => void;
}

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, jitter: 0.5 };

/** Worth another attempt: the receiver is down, slow, overloaded or failing, not refusing what it got. */
function retriableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/**
 * Delivers anomaly events to an HTTP endpoint: in order, in batches, one
 * request at a time, each within a timeout, retried with exponential
 * backoff. A delivery keeps its id across retries (the `delivery` field and
 * the `x-tributary-delivery` header), so a receiver that saw a request whose
 * answer was lost can recognise the retry. Memory is bounded by the queue:
 * while a receiver is down, events wait there, and past `maxQueued` the
 * oldest are dropped and counted. Delivery is at least once for what stays
 * in the queue, for as long as the daemon runs: the queue is not persisted,
 * the flagged set is (the detectors' windows), and GET /api/v1/anomalies
 * is the place to catch up after a restart.
 */
export class WebhookNotifier {
  private readonly queue: AnomalyEvent[] = [];
  private readonly unsubscribe: () => void;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly maxQueued: number;
  private readonly maxBatch: number;
  private readonly headers: Record<string, string>;
  private delivered = 0;
  private failed = 0;
  private dropped = 0;
  private retries = 0;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly abort = new AbortController();
  /** Events at the head of the queue being sent now (not dropped from under a request). */
  private inFlight = 0;

  constructor(
    source: AnomalySource,
    private readonly options: WebhookOptions,
    private readonly log: (level: 'warn' | 'error', message: string) => void = () => {},
  ) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new TributaryError('E_CONFIG_INVALID', `webhook url ${JSON.stringify(options.url)} is not a URL`, { key: 'anomaly.webhooks.url' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TributaryError('E_CONFIG_INVALID', `webhook url ${options.url} must be http or https`, { key: 'anomaly.webhooks.url' });
    }
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.maxQueued = Math.max(1, options.maxQueued ?? 10_000);
    this.maxBatch = Math.max(1, options.maxBatch ?? 100);
    this.headers = { 'content-type': 'application/json', 'user-agent': 'tributary-anomaly-webhook', ...options.headers };
    this.unsubscribe = source.subscribe((e) => this.enqueue(e));
  }

  stats(): WebhookStats {
    return {
      url: this.options.url,
      delivered: this.delivered,
      failed: this.failed,
      dropped: this.dropped,
      retries: this.retries,
      queued: this.queue.length,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Stops taking events, gives what is queued up to `graceMs` to be
   * delivered, then aborts what is in flight. Resolves when the sender has
   * stopped; what was left is counted as dropped.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      this.abort.abort();
      await this.running;
    }
    this.dropped += this.queue.length;
    this.queue.length = 0;
  }

  private enqueue(e: AnomalyEvent): void {
    if (this.closed) return;
    this.queue.push(e);
    if (this.queue.length > this.maxQueued) {
      // The oldest waiting event goes; one in flight (at the head) is not touched mid-request,
      // so the drop is the first one after the current batch.
      this.queue.splice(this.inFlight, 1);
      this.dropped++;
    }
    this.running ??= this.run();
  }

  /** Sends until the queue is empty. It clears `running` in the same turn as its last check, so no event is left behind. */
  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.abort.signal.aborted) {
        const batch = this.queue.slice(0, this.maxBatch);
        this.inFlight = batch.length;
        const outcome = await this.deliver(batch);
        this.inFlight = 0;
        if (outcome === 'aborted') return; // at close: what is left is counted as dropped there
        this.queue.splice(0, batch.length);
        if (outcome === 'delivered') this.delivered += batch.length;
        else this.failed += batch.length;
      }
    } finally {
      this.running = undefined;
    }
  }

  private async deliver(events: AnomalyEvent[]): Promise<'delivered' | 'failed' | 'aborted'> {
    const delivery = nanoid();
    const body = JSON.stringify({ delivery, events });
    for (let attempt = 1; ; attempt++) {
      let wait: number | undefined;
      // The request's own controller and a plain timer, held here until the answer is read. A signal from
      // AbortSignal.any([..., AbortSignal.timeout()]) that nothing references can be garbage collected before
      // it fires (seen: a held request was never timed out once other work made garbage, and the queue stalled).
      const request = new AbortController();
      const onStop = () => request.abort(this.abort.signal.reason);
      this.abort.signal.addEventListener('abort', onStop, { once: true });
      const timer = setTimeout(() => request.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, 'TimeoutError')), this.timeoutMs);
      try {
        const res = await fetch(this.options.url, {
          method: 'POST',
          headers: { ...this.headers, 'x-tributary-delivery': delivery },
          body,
          signal: request.signal,
        });
        await res.arrayBuffer().catch(() => undefined); // let the connection be reused
        if (res.ok) return 'delivered';
        this.lastError = `HTTP ${res.status} from ${this.options.url}`;
        if (!retriableStatus(res.status)) {
          this.log('error', `anomaly webhook ${this.options.url} refused ${events.length} events: HTTP ${res.status}; not retried`);
          return 'failed';
        }
        wait = retryAfterMs(res.headers.get('retry-after'));
      } catch (err) {
        if (this.abort.signal.aborted) return 'aborted';
        const e = err as Error;
        const timedOut = e.name === 'TimeoutError' || (request.signal.aborted && (request.signal.reason as Error)?.name === 'TimeoutError');
        this.lastError = timedOut ? `no answer from ${this.options.url} within ${this.timeoutMs} ms` : `${this.options.url}: ${e.message}`;
      } finally {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', onStop);
      }
      if (attempt >= this.maxAttempts) {
        this.log('error', `anomaly webhook gave up on ${events.length} events after ${attempt} attempts: ${this.lastError}`);
        return 'failed';
      }
      this.retries++;
      const delay = Math.min(this.backoff.maxMs, wait ?? backoffDelay(this.backoff, attempt - 1));
      if (attempt === 1) this.log('warn', `anomaly webhook: ${this.lastError}; retrying`);
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return 'aborted';
      }
    }
  }
}
