/** Exponential backoff between restarts: initial, doubling up to max, with "equal jitter". */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0..1: the fraction of each delay that is randomised (0.5 = equal jitter). */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 10, maxMs: 2000, jitter: 0.5 };

/**
 * Delay before restart number `attempt` (1 for the first restart after a
 * failure). The deterministic part grows as initial * 2^(attempt-1), capped;
 * a `jitter` fraction of it is drawn at random so that many actors failing
 * together do not restart in lock step, while a floor of (1 - jitter) of the
 * delay remains so a crash loop still slows down.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  if (attempt <= 1 && policy.initialMs === 0) return 0;
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  return exp * (1 - jitter) + exp * jitter * random();
}
