// The export's walk (calls.export.ts): keys a batch at a time, the calls behind them a page at a
// time, several pages read at once. Whatever the sizes, every call comes out once, in order; a
// call deleted between its key and its page is left out; and no more pages are read at once
// than allowed. The walk is fed here by functions over an array, so sizes that would take
// thousands of calls over HTTP can be small; the HTTP tests cover the real reads.
import { describe, expect, it } from 'vitest';
import { exportWalk, type ExportWalkSizes } from '../../src/modules/calls/calls.export.js';
import type { CallKey, PagePosition } from '../../src/modules/calls/calls.repository.js';

/** Calls newest first: ids c0000, c0001, …, each with a key that sorts down. */
function callsOf(count: number): CallKey[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `c${String(i).padStart(4, '0')}`,
    sort_key: new Date(Date.UTC(2030, 0, 1) - i * 1000).toISOString(),
  }));
}

async function walkAll(
  calls: CallKey[],
  sizes: ExportWalkSizes,
  options: { gone?: Set<string>; shortBatches?: boolean } = {},
): Promise<{ pages: string[][]; mostAtOnce: number; keyReads: number; whileWriting: number[] }> {
  let inFlight = 0;
  let mostAtOnce = 0;
  let keyReads = 0;
  let reads = 0;
  let started = 0;
  const listKeys = async (after: PagePosition | undefined, limit: number) => {
    keyReads += 1;
    await Promise.resolve();
    const start = after === undefined ? 0 : calls.findIndex((call) => call.id === after.id) + 1;
    // A search plan can come up short mid-walk (calls deleted under it).
    const size = options.shortBatches === true && keyReads % 2 === 0 ? Math.ceil(limit / 3) : limit;
    return calls.slice(start, start + size);
  };
  const read = async (keys: CallKey[]) => {
    started += 1;
    inFlight += 1;
    mostAtOnce = Math.max(mostAtOnce, inFlight);
    // Each read answers sooner than the one before it (in a cycle): the order must come from
    // the walk, not from when the reads end.
    reads += 1;
    await new Promise((resolve) => setTimeout(resolve, 4 - (reads % 4)));
    inFlight -= 1;
    return keys.filter((key) => options.gone?.has(key.id) !== true).map((key) => key.id);
  };
  const pages: string[][] = [];
  const whileWriting: number[] = [];
  for await (const page of await exportWalk(listKeys, read, sizes)) {
    pages.push(page);
    // Pages asked for and not yet handed over, while this one is written out.
    whileWriting.push(started - pages.length);
  }
  return { pages, mostAtOnce, keyReads, whileWriting };
}

describe('the export walk', () => {
  const cases: Array<[number, ExportWalkSizes]> = [
    [0, { page: 3, keyBatch: 6, readsAtOnce: 2 }],
    [1, { page: 3, keyBatch: 6, readsAtOnce: 2 }],
    [6, { page: 3, keyBatch: 6, readsAtOnce: 2 }],
    [12, { page: 3, keyBatch: 6, readsAtOnce: 2 }],
    [13, { page: 3, keyBatch: 6, readsAtOnce: 2 }],
    [100, { page: 7, keyBatch: 21, readsAtOnce: 3 }],
    [100, { page: 10, keyBatch: 10, readsAtOnce: 1 }],
  ];
  it.each(cases)('%i calls in %j: each once, newest first', async (count, sizes) => {
    const calls = callsOf(count);
    const { pages, mostAtOnce } = await walkAll(calls, sizes);
    expect(pages.flat()).toEqual(calls.map((call) => call.id));
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(sizes.page);
    expect(mostAtOnce).toBeLessThanOrEqual(sizes.readsAtOnce);
  });

  it('reads several pages at once, the next ones while one is written out', async () => {
    const { mostAtOnce, keyReads, whileWriting } = await walkAll(callsOf(60), {
      page: 5,
      keyBatch: 40,
      readsAtOnce: 3,
    });
    expect(mostAtOnce).toBe(3);
    // The first batch's first five pages (of eight) are each written out while the next two
    // are read.
    expect(whileWriting.slice(0, 5)).toEqual([2, 2, 2, 2, 2]);
    // A full batch, a short one, then an empty one that ends the walk.
    expect(keyReads).toBe(3);
  });

  it('goes on past a short batch of keys, to the end', async () => {
    const calls = callsOf(50);
    const { pages } = await walkAll(
      calls,
      { page: 4, keyBatch: 12, readsAtOnce: 2 },
      { shortBatches: true },
    );
    expect(pages.flat()).toEqual(calls.map((call) => call.id));
  });

  it('passes a later read failure to the consumer, and lets a consumer stop early', async () => {
    const sizes = { page: 2, keyBatch: 6, readsAtOnce: 2 };
    let reads = 0;
    const failing = await exportWalk(
      (after) => Promise.resolve(after === undefined ? callsOf(6) : []),
      (keys) => {
        reads += 1;
        return reads === 3 ? Promise.reject(new Error('page 3 down')) : Promise.resolve(keys);
      },
      sizes,
    );
    const seen: CallKey[][] = [];
    await expect(
      (async () => {
        for await (const page of failing) seen.push(page);
      })(),
    ).rejects.toThrow('page 3 down');
    expect(seen).toHaveLength(2);
    // Stopping after one page leaves reads in flight; none may reject unhandled.
    const stopped = await exportWalk(
      (after) => Promise.resolve(after === undefined ? callsOf(6) : []),
      (keys) =>
        keys[0]?.id === 'c0000' ? Promise.resolve(keys) : Promise.reject(new Error('unread')),
      sizes,
    );
    for await (const page of stopped) {
      expect(page).toHaveLength(2);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  });

  it('leaves out calls deleted after their keys were read, and empty pages', async () => {
    const calls = callsOf(20);
    const gone = new Set(['c0001', 'c0005', 'c0006', 'c0007', 'c0008', 'c0019']);
    const { pages } = await walkAll(calls, { page: 4, keyBatch: 8, readsAtOnce: 2 }, { gone });
    expect(pages.flat()).toEqual(calls.map((call) => call.id).filter((id) => !gone.has(id)));
    expect(pages.every((page) => page.length > 0)).toBe(true);
  });

  it('fails before anything is sent when the first keys or the first page cannot be read', async () => {
    const sizes = { page: 2, keyBatch: 4, readsAtOnce: 2 };
    await expect(
      exportWalk(
        () => Promise.reject(new Error('keys down')),
        () => Promise.resolve([]),
        sizes,
      ),
    ).rejects.toThrow('keys down');
    await expect(
      exportWalk(
        () => Promise.resolve(callsOf(3)),
        () => Promise.reject(new Error('rows down')),
        sizes,
      ),
    ).rejects.toThrow('rows down');
  });
});
