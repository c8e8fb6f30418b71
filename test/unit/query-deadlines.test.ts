import { afterEach, describe, expect, it } from 'vitest';
import { createQueryDeadlines, type QueryDeadlines } from '../../src/db/query-deadlines.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('query deadlines', () => {
  let deadlines: QueryDeadlines | undefined;
  afterEach(() => deadlines?.close());

  it('gives up on a query still running at its deadline, once, and not before', async () => {
    deadlines = createQueryDeadlines({ timeoutMs: 150, checkEveryMs: 10 });
    const expired: number[] = [];
    const started = performance.now();
    deadlines.watch(() => expired.push(performance.now() - started));
    expect(deadlines.watching).toBe(1);

    // "Not before" is the time it expired at, not a check after a sleep: on a loaded machine a
    // 60 ms sleep can outlast the whole deadline.
    await expect.poll(() => expired.length, { timeout: 5000 }).toBe(1);
    expect(expired[0]).toBeGreaterThanOrEqual(150);
    expect(deadlines.watching).toBe(0);
    // Checked again and again after: still once.
    await sleep(50);
    expect(expired).toHaveLength(1);
  });

  it('leaves alone a query that answered in time, and the others to their own deadlines', async () => {
    deadlines = createQueryDeadlines({ timeoutMs: 80, checkEveryMs: 10 });
    const expired: string[] = [];
    const answered = deadlines.watch(() => expired.push('answered'));
    deadlines.watch(() => expired.push('silent'));
    answered();
    expect(deadlines.watching).toBe(1);

    await expect.poll(() => expired, { timeout: 5000 }).toEqual(['silent']);
    await sleep(50);
    expect(expired).toEqual(['silent']);
  });

  it('starts watching again after everything watched had ended', async () => {
    deadlines = createQueryDeadlines({ timeoutMs: 40, checkEveryMs: 10 });
    const expired: string[] = [];
    deadlines.watch(() => expired.push('first'));
    await expect.poll(() => expired, { timeout: 5000 }).toEqual(['first']);
    // The timer stopped with nothing left to watch; a new query starts it again.
    deadlines.watch(() => expired.push('second'));
    await expect.poll(() => expired, { timeout: 5000 }).toEqual(['first', 'second']);
  });
});
