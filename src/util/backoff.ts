/** Exponential backoff with optional jitter: the one delay rule for retries (sources, model loads, engine recovery). */
export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  baseMs: number;
  /** Delay cap, ms. */
  maxMs: number;
  /** ± fraction of random jitter (0 = none). */
  jitter?: number;
}

/** The delay before retry number `attempt` (0-based): base·2^attempt, capped, then jittered. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  const j = policy.jitter ?? 0;
  return Math.max(0, Math.round(raw * (1 + j * (2 * random() - 1))));
}
