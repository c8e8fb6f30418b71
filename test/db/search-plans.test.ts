// SQLite picks a search plan per query: rare words from the index, common ones by walking the
// calls in chunks (with the index-driven plan finishing a page the chunks leave short). With the
// thresholds shrunk, every path runs on a small data set, and each page must be exactly the
// page the index-driven plan gives, on calls whose rowids are not in time order. PostgreSQL has
// one plan; the same walks run there too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCallFilter } from '../../src/modules/calls/call-query.js';
import {
  createCallRepository,
  type CallRepository,
  type ListedCallRow,
} from '../../src/modules/calls/calls.repository.js';
import type { CallSort } from '../../src/modules/calls/call-query.js';
import { newCallRow, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

/** mulberry32: the data set is the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Words by how often they occur: "hello" in most calls, "zircon" in a few. */
const WORDS: Array<[string, number]> = [
  ['hello', 0.8],
  ['account', 0.5],
  ['invoice', 0.2],
  ['voucher', 0.06],
  ['zircon', 0.015],
];

describe.each(TEST_DIALECTS)('search plans give the same pages (%s)', (dialect) => {
  let t: TestApp;
  let chunked: CallRepository;
  let indexed: CallRepository;
  const tenant = uniqueId('tenant_plans_');

  beforeAll(async () => {
    t = await createTestApp(dialect);
    const db = t.database.db;
    chunked = createCallRepository(db, dialect, db, { commonMatches: 3, walkChunks: [4, 9, 20] });
    indexed = createCallRepository(db, dialect, db, {
      commonMatches: Number.MAX_SAFE_INTEGER,
      walkChunks: [],
    });
    const random = prng(7);
    const rows = Array.from({ length: 400 }, (_, i) => {
      const words = WORDS.filter(([, share]) => random() < share).map(([word]) => word);
      // Hours apart, some to the millisecond equal (ties break on the id).
      const startedAt = new Date(Date.UTC(2025, 2, 1) + Math.floor(random() * 150) * 3_600_000);
      return newCallRow(i % 4 === 3 ? `${tenant}_other` : tenant, {
        agent_id: i % 3 === 0 ? 'agent_a' : 'agent_b',
        status: random() < 0.5 ? 'completed' : 'failed',
        started_at: startedAt.toISOString(),
        transcript: `Agent: ${words.join(' ')}\nCaller: fine`,
      });
    });
    // Inserted out of time order: a late call gets a high rowid, an early one a low rowid.
    rows.sort(() => random() - 0.5);
    for (const row of rows) await chunked.insertIfAbsent(row);
  });
  afterAll(() => t.close());

  async function walk(
    repository: CallRepository,
    query: Record<string, string>,
    sort: CallSort,
  ): Promise<string[]> {
    const filter = parseCallFilter(query);
    const ids: string[] = [];
    let after: { key: string | number; id: string } | undefined;
    for (let page = 0; page < 200; page++) {
      const rows: ListedCallRow[] = await repository.list(tenant, filter, {
        sort,
        after,
        limit: 6,
        withTranscript: page % 2 === 0,
      });
      ids.push(...rows.map((row) => row.id));
      const last = rows.at(-1);
      if (rows.length < 6 || last === undefined) return ids;
      after = { key: last.sort_key, id: last.id };
    }
    throw new Error('the walk did not end');
  }

  const queries: Array<Record<string, string>> = [
    { q: 'hello' },
    { q: 'account' },
    { q: 'invoice' },
    { q: 'voucher' },
    { q: 'zircon' },
    { q: 'acc*' },
    { q: 'hello account' },
    { q: '"agent hello"' },
    { q: 'hello', status: 'completed' },
    { q: 'account', agentId: 'agent_a', status: 'failed' },
    { q: 'nothing' },
  ];

  it.each(queries)(
    '%j: every page of newest and oldest is the same on either plan',
    async (query) => {
      for (const sort of ['newest', 'oldest'] as const) {
        const expected = await walk(indexed, query, sort);
        expect(await walk(chunked, query, sort), sort).toEqual(expected);
        if (query.q !== 'nothing') expect(expected.length).toBeGreaterThan(0);
      }
    },
  );
});
