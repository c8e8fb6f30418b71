// Counts failures per key (a client address) in fixed windows, in this process's memory. Used to
// refuse an address that keeps presenting bad credentials before verifying yet another one: a
// verification may cost a network call to Clerk, and guessing should be slow.

const PRUNE_ABOVE = 10_000;

export interface FailureThrottle {
  /** Seconds until `key` may try again, or 0 when it may try now. */
  retryAfterSeconds(key: string): number;
  record(key: string): void;
}

export function createFailureThrottle(
  max: number,
  windowMs: number,
  now: () => number = Date.now,
): FailureThrottle {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const current = (key: string) => {
    const entry = windows.get(key);
    if (entry === undefined || entry.resetAt <= now()) return undefined;
    return entry;
  };
  return {
    retryAfterSeconds(key) {
      if (max === 0) return 0;
      const entry = current(key);
      return entry !== undefined && entry.count >= max
        ? Math.max(1, Math.ceil((entry.resetAt - now()) / 1000))
        : 0;
    },
    record(key) {
      if (max === 0) return;
      const entry = current(key);
      if (entry !== undefined) {
        entry.count += 1;
        return;
      }
      if (windows.size >= PRUNE_ABOVE) {
        for (const [k, v] of windows) if (v.resetAt <= now()) windows.delete(k);
      }
      windows.set(key, { count: 1, resetAt: now() + windowMs });
    },
  };
}
