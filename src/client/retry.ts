// When the client tries a request again, and how long it waits first.
//
// Retried, whatever the request: 429 (rate limit, or too many failed authentications from this
// address) and 503 (database busy or unreachable: "nothing was written"; or the server is
// stopping). The server answers both before it has done anything, so a retry cannot write twice.
//
// Retried only for idempotent requests: no answer at all (network error, timeout) and a gateway's
// 502/504, where the request may or may not have been carried out. Idempotent here means that
// sending it twice leaves the same state as sending it once (see IDEMPOTENT in index.ts).
//
// Never retried: any other 4xx (the request itself is wrong; sending it again changes nothing)
// and 500 (a bug; repeating it only repeats the bug).

export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. Default 4. */
  readonly retries?: number;
  /** The first backoff's upper bound; it doubles with every retry. Default 250 ms. */
  readonly baseDelayMs?: number;
  /**
   * The longest wait before a retry. Backoff is capped at it; a Retry-After asking for longer is
   * not waited for: the error is thrown at once, its `retryAfterMs` saying how long the server
   * asked for. Default 60 s, the server's default rate-limit window.
   */
  readonly maxDelayMs?: number;
}

export interface RetryPolicy {
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 4,
  baseDelayMs: 250,
  maxDelayMs: 60_000,
};

export function retryPolicy(options: number | RetryOptions | undefined): RetryPolicy {
  const given = typeof options === 'number' ? { retries: options } : (options ?? {});
  const policy = { ...DEFAULT_RETRY_POLICY, ...dropUndefined(given) };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`retries.${name} must be a number ≥ 0 (got ${String(value)})`);
    }
  }
  return { ...policy, retries: Math.floor(policy.retries) };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Statuses retried for every request: the server did nothing and says "later". */
export const RETRY_ALWAYS = new Set([429, 503]);
/** Statuses retried for idempotent requests only: a gateway that may have passed it on. */
export const RETRY_IF_IDEMPOTENT = new Set([502, 504]);

/**
 * Retry-After in milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). Undefined when
 * absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * How long to wait before retry number `retry` (0 for the first): "full jitter" exponential
 * backoff (a uniformly random wait up to base·2^retry, capped), so clients that failed together
 * do not come back together; never less than what the server's Retry-After asked for.
 */
export function retryDelay(
  policy: RetryPolicy,
  retry: number,
  retryAfterMs: number | undefined,
  random: () => number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const backoff = Math.floor(random() * ceiling);
  return Math.max(backoff, retryAfterMs ?? 0);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
