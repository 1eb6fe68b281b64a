import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { TributaryError, isRetriable, isTributaryError } from '../errors.js';
import { backoffDelay, type BackoffPolicy } from '../supervisor/backoff.js';
import { type BatchTransport, type RingInfo } from './transport.js';

export interface BreakerPolicy {
  /** Consecutive failures that open the circuit (default 5). */
  readonly failures: number;
  /** How long an open circuit stays open before one trial request (default 1 s, doubling per failed trial up to maxOpenMs). */
  readonly openMs: number;
  readonly maxOpenMs: number;
}

export interface SendPolicy {
  /** Per attempt (default 5 s). */
  readonly timeoutMs?: number;
  /** Attempts per batch across aggregators before it goes to the disk buffer (default 4). */
  readonly attempts?: number;
  /** Between attempts: exponential with full jitter (default 100 ms doubling to 5 s). */
  readonly backoff?: BackoffPolicy;
  readonly breaker?: Partial<BreakerPolicy>;
}

type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker per aggregator: after `failures` failures in a row it
 * opens, and requests go elsewhere (or to the disk buffer) at once instead
 * of waiting out timeouts; after `openMs` one trial request is let through
 * (half-open), and its success closes the circuit again.
 */
export class CircuitBreaker {
  state: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private openFor: number;
  private trialInFlight = false;

  constructor(private readonly policy: BreakerPolicy) {
    this.openFor = policy.openMs;
  }

  /** Whether a request would be let through now (no state change). */
  wouldAllow(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') return now - this.openedAt >= this.openFor;
    return !this.trialInFlight;
  }

  /** Lets a request through or not; in half-open state, only one (the trial). */
  allows(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && now - this.openedAt >= this.openFor) this.state = 'half-open';
    if (this.state === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.state = 'closed';
    this.consecutive = 0;
    this.trialInFlight = false;
    this.openFor = this.policy.openMs;
  }

  failure(now: number): void {
    this.consecutive++;
    if (this.state === 'half-open') {
      this.openFor = Math.min(this.policy.maxOpenMs, this.openFor * 2);
      this.trip(now);
    } else if (this.consecutive >= this.policy.failures) this.trip(now);
  }

  private trip(now: number): void {
    this.state = 'open';
    this.openedAt = now;
    this.trialInFlight = false;
  }
}

export interface AggregatorStats {
  readonly address: string;
  readonly circuit: BreakerState;
  readonly sent: number;
  readonly failures: number;
}

interface Aggregator {
  readonly address: string;
  readonly transport: BatchTransport;
  readonly breaker: CircuitBreaker;
  sent: number;
  failures: number;
}

/**
 * The aggregators a collector sends to, with a breaker each: a batch goes
 * to the first one whose circuit is closed, and on a retriable failure to
 * the next, after a backoff with full jitter (a fleet of collectors
 * retrying together would otherwise hit a recovering aggregator in step).
 */
export class AggregatorPool {
  private aggregators: Aggregator[] = [];
  private preferred = 0;
  readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly breakerPolicy: BreakerPolicy;

  constructor(
    private readonly transportFor: (address: string) => BatchTransport,
    policy: SendPolicy = {},
    private readonly random: () => number = Math.random,
  ) {
    this.timeoutMs = policy.timeoutMs ?? 5000;
    this.attempts = policy.attempts ?? 4;
    this.backoff = policy.backoff ?? { initialMs: 100, maxMs: 5000, jitter: 1 };
    this.breakerPolicy = { failures: 5, openMs: 1000, maxOpenMs: 30_000, ...policy.breaker };
  }

  /** Replaces the list (a reloaded configuration): kept addresses keep their connection and circuit. */
  setAddresses(addresses: readonly string[]): void {
    const old = new Map(this.aggregators.map((a) => [a.address, a]));
    this.aggregators = addresses.map(
      (address) =>
        old.get(address) ?? { address, transport: this.transportFor(address), breaker: new CircuitBreaker(this.breakerPolicy), sent: 0, failures: 0 },
    );
    for (const [address, a] of old) if (!addresses.includes(address)) a.transport.close();
    this.preferred = 0;
  }

  get addresses(): string[] {
    return this.aggregators.map((a) => a.address);
  }

  stats(): AggregatorStats[] {
    return this.aggregators.map((a) => ({ address: a.address, circuit: a.breaker.state, sent: a.sent, failures: a.failures }));
  }

  /** Whether any aggregator would take a request now (a closed circuit, or one due a trial). */
  anyAvailable(): boolean {
    const now = Date.now();
    return this.aggregators.some((a) => a.breaker.wouldAllow(now));
  }

  private pick(now: number): Aggregator | undefined {
    const n = this.aggregators.length;
    for (let i = 0; i < n; i++) {
      const a = this.aggregators[(this.preferred + i) % n]!;
      if (a.breaker.allows(now)) return a;
    }
    return undefined;
  }

  /** The routing ring, from the first aggregator that answers. */
  async ring(): Promise<RingInfo> {
    return this.attempt((a) => a.transport.ring(this.timeoutMs), 'the shard ring');
  }

  /** Resolves once an aggregator holds the batch durably; rejects with E_UNAVAILABLE after the attempts, or with the batch's own error if it is refused. */
  send(shard: string, batch: Uint8Array): Promise<void> {
    return this.attempt((a) => a.transport.send(shard, batch, this.timeoutMs), `a batch for ${shard}`);
  }

  private async attempt<T>(op: (a: Aggregator) => Promise<T>, what: string): Promise<T> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      const a = this.pick(Date.now());
      if (!a) {
        throw new TributaryError(
          'E_UNAVAILABLE',
          `no aggregator is available for ${what} (${this.aggregators.length} configured, circuits open)`,
          {
            aggregators: this.aggregators.length,
          },
          last === undefined ? undefined : { cause: last },
        );
      }
      try {
        const result = await op(a);
        a.breaker.success();
        a.sent++;
        return result;
      } catch (err) {
        if (!isRetriable(err)) throw err;
        last = err;
        a.failures++;
        a.breaker.failure(Date.now());
        // The next attempt starts with the next aggregator: failover.
        this.preferred = (this.aggregators.indexOf(a) + 1) % Math.max(1, this.aggregators.length);
        if (attempt < this.attempts) await new Promise((r) => setTimeout(r, backoffDelay(this.backoff, attempt, this.random)));
      }
    }
    throw new TributaryError(
      'E_UNAVAILABLE',
      `${what} failed ${this.attempts} times: ${(last as Error).message}`,
      { attempts: this.attempts },
      { cause: last },
    );
  }

  close(): void {
    for (const a of this.aggregators) a.transport.close();
    this.aggregators = [];
  }
}

export interface AggregatorConfig {
  readonly aggregators: string[];
}

/** Reads and checks a collector's aggregator file: `{"aggregators": ["host:port", ...]}`. */
export function readAggregatorConfig(path: string): AggregatorConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TributaryError('E_CONFIG_INVALID', `aggregator configuration ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  const list = (doc as { aggregators?: unknown })?.aggregators;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string' && /^[^\s:]+:\d{1,5}$/.test(a))) {
    throw new TributaryError('E_CONFIG_INVALID', `aggregator configuration ${path}: "aggregators" must be a non-empty list of "host:port"`, { path });
  }
  return { aggregators: list as string[] };
}

/**
 * Follows the aggregator file: reloaded when it changes (polled by stat,
 * which also sees an editor's save-by-rename). A file that no longer
 * parses is reported and the previous list kept.
 */
export function watchAggregatorConfig(path: string, onChange: (config: AggregatorConfig) => void, onError: (err: Error) => void, intervalMs = 500): () => void {
  const listener = () => {
    try {
      onChange(readAggregatorConfig(path));
    } catch (err) {
      onError(isTributaryError(err) ? err : new Error(String(err)));
    }
  };
  watchFile(path, { interval: intervalMs, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}
