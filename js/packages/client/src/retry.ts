/** When to try again: exponential backoff with full jitter, and `Retry-After`. Pure functions. */

export interface RetryPolicy {
  /** Consecutive failed attempts allowed; a connection that delivers a new event resets the count. */
  maxRetries: number;
  /** First backoff ceiling (ms) when the server sent no `retry:`. */
  baseDelayMs: number;
  /** Largest backoff ceiling (ms). */
  maxDelayMs: number;
  /**
   * Statuses retried after `Retry-After` (or backoff). Empty by default: every status >= 400
   * surfaces at once. Opt in with e.g. `[429, 503]`.
   */
  retryStatuses: readonly number[];
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxRetries: 8,
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  retryStatuses: Object.freeze([]) as readonly number[],
});

/**
 * Milliseconds to wait before retry `attempt` (1 for the first): `random() * min(maxDelayMs,
 * base * 2 ** (attempt - 1))`, where `base` is the server's `retry:` when it sent one (full
 * jitter: reconnecting clients spread out instead of arriving together).
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  serverRetryMs: number | null,
  random: () => number,
): number {
  const base = serverRetryMs ?? policy.baseDelayMs;
  const ceiling = Math.min(policy.maxDelayMs, base * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  return Math.max(0, random() * ceiling);
}

/** Milliseconds to wait from a `Retry-After` header (delay-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, nowEpochMs: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return null;
  return Math.max(0, when - nowEpochMs);
}
