// In-process timings: one query at a time, repeated, so a figure is the database's own latency
// with no queueing behind other requests.

export interface Timing {
  /** Timed runs (after the warm-up). */
  readonly n: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Nearest rank: the smallest sample that at least p % of the samples do not exceed. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summariseDurations(durations: readonly number[]): Timing {
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    n: sorted.length,
    meanMs: sorted.reduce((sum, d) => sum + d, 0) / Math.max(1, sorted.length),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
}

/**
 * Runs `work` a few times unmeasured (caches, JIT, prepared statements), then times it
 * sequentially until `iterations` runs or `maxSeconds` have passed, whichever comes first, but at
 * least `minIterations` times.
 */
export async function timeSequentially<T>(
  work: () => Promise<T>,
  options: {
    iterations: number;
    maxSeconds: number;
    warmup?: number;
    minIterations?: number;
    /** A run's duration in ms from its result, instead of the clock around it. */
    measure?: (result: T) => number;
  },
): Promise<Timing> {
  for (let i = 0; i < (options.warmup ?? 3); i += 1) await work();
  const durations: number[] = [];
  const deadline = performance.now() + options.maxSeconds * 1000;
  const minimum = options.minIterations ?? 5;
  while (
    durations.length < options.iterations &&
    (durations.length < minimum || performance.now() < deadline)
  ) {
    const started = performance.now();
    const result = await work();
    const elapsed = performance.now() - started;
    durations.push(options.measure === undefined ? elapsed : options.measure(result));
  }
  return summariseDurations(durations);
}
