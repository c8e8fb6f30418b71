// SQLite picks a search plan per query: rare words from the index, common ones by walking the
// calls in chunks (with the index-driven plan finishing a page the chunks leave short). With the
// thresholds shrunk, every path runs on a small data set, and each page must be exactly the
// page the index-driven plan gives, on calls whose rowids are not in time order. PostgreSQL
// walks the tenant's newest calls before asking GIN (postgresSearchKeys, postgresRelevance): its
// walks, cut short, not taken or taken to the oldest call, must give the same pages too.
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCallFilter } from '../../src/modules/calls/call-query.js';
import {
  createCallRepository,
  DEFAULT_SEARCH_PLANS,
  type CallRepository,
  type ListedCallRow,
  type ListSort,
} from '../../src/modules/calls/calls.repository.js';
import type { RecencyPosition } from '../../src/lib/cursor.js';
import { newCallRow, prng, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

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
  let walking: CallRepository;
  const tenant = uniqueId('tenant_plans_');

  beforeAll(async () => {
    t = await createTestApp(dialect);
    const db = t.database.db;
    // PostgreSQL: walks that stop early for GIN (months) and go on, per share, as by default.
    chunked = createCallRepository(db, dialect, db, {
      commonMatches: 3,
      walkChunks: [4, 9, 20],
      relevanceWindow: 7,
      postgresWalk: { first: 4, newest: 20, relevance: 28 },
    });
    indexed = createCallRepository(db, dialect, db, {
      commonMatches: Number.MAX_SAFE_INTEGER,
      walkChunks: [],
      relevanceWindow: Number.MAX_SAFE_INTEGER,
      postgresWalk: { first: 0, newest: 0, relevance: 0 },
    });
    // PostgreSQL: every search walks, to the tenant's oldest call if need be.
    walking = createCallRepository(db, dialect, db, {
      ...DEFAULT_SEARCH_PLANS,
      relevanceWindow: 7,
      postgresWalk: { first: 5, newest: 1_000_000, relevance: 1_000_000 },
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
    await indexSearch();
  });
  afterAll(() => t.close());

  /** SQLite indexes calls in batches after their writes (T1600); the service does it before a search. */
  const indexSearch = () => t.services.calls.indexPendingSearch();

  async function walk(
    repository: CallRepository,
    query: Record<string, string>,
    sort: ListSort,
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

  interface RankedRow {
    readonly id: string;
    readonly tail: boolean;
  }

  async function relevanceWalk(
    repository: CallRepository,
    query: Record<string, string>,
    between?: (page: number, lastId: string) => Promise<void>,
    walkTenant = tenant,
  ): Promise<RankedRow[]> {
    const filter = parseCallFilter(query);
    const seen: RankedRow[] = [];
    let after: { key: string | number; id: string; tail: boolean; issuedAt: string } | undefined;
    let window: RecencyPosition | null | undefined;
    for (let page = 0; page < 200; page++) {
      const result = await repository.listByRelevance(walkTenant, filter, {
        after,
        window,
        limit: 6,
        withTranscript: false,
      });
      window = result.window;
      seen.push(...result.rows.map(({ id, tail }) => ({ id, tail })));
      const last = result.rows.at(-1);
      if (result.rows.length < 6 || last === undefined) return seen;
      after = {
        key: last.sort_key,
        id: last.id,
        tail: last.tail,
        issuedAt: new Date().toISOString(),
      };
      await between?.(page, last.id);
    }
    throw new Error('the walk did not end');
  }

  it.each(queries)(
    '%j: relevance ranks the most recent matches, then the rest, each call once',
    async (query) => {
      const matches = await walk(indexed, query, 'newest');
      const everyRanked = await relevanceWalk(indexed, query);
      expect(everyRanked.map((row) => row.id).sort()).toEqual([...matches].sort());
      expect(everyRanked.some((row) => row.tail)).toBe(false);

      const windowed = await relevanceWalk(chunked, query);
      expect(await relevanceWalk(walking, query)).toEqual(windowed);
      const ids = windowed.map((row) => row.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual([...matches].sort());
      // The window first, then the older matches: never back into the window.
      const firstTail = windowed.findIndex((row) => row.tail);
      const ranked = firstTail === -1 ? windowed : windowed.slice(0, firstTail);
      expect(windowed.slice(ranked.length).every((row) => row.tail)).toBe(true);
      if (Object.keys(query).length === 1) {
        expect(ranked.length).toBe(Math.min(7, matches.length));
      }
      // Ranked as the whole-set ranking ranks them (scores do not depend on the window).
      const inWindow = new Set(ranked.map((row) => row.id));
      expect(ranked.map((row) => row.id)).toEqual(
        everyRanked.map((row) => row.id).filter((id) => inWindow.has(id)),
      );
    },
  );

  it.runIf(dialect === 'sqlite')(
    "a call deleted between a search page's two reads does not cut the page short",
    async () => {
      // The walk reads the page's keys, then its calls: a call deleted in between (here by a
      // second connection, as another request would) must not leave the page short, which
      // would read as the walk's last page.
      const racingTenant = uniqueId('tenant_racing_');
      for (let i = 0; i < 30; i++) {
        await chunked.insertIfAbsent(
          newCallRow(racingTenant, {
            started_at: new Date(Date.UTC(2025, 7, 1, 12, i)).toISOString(),
            transcript: 'Agent: hello there',
          }),
        );
      }
      await indexSearch();
      const filter = parseCallFilter({ q: 'hello' });
      const options = { sort: 'newest' as const, limit: 6, withTranscript: false };
      const before = (await chunked.list(racingTenant, filter, { ...options, limit: 7 })).map(
        (row) => row.id,
      );
      const side = new BetterSqlite3(t.database.description);
      let deleted: string | undefined;
      const db = t.database.db;
      const racing = db.withPlugin({
        transformQuery: ({ node, queryId }) => {
          const compiled = db.getExecutor().compileQuery(node, queryId);
          if (deleted === undefined && compiled.sql.includes('calls.rowid IN (')) {
            const rowid = compiled.parameters[1];
            deleted = side.prepare('SELECT id FROM calls WHERE rowid = ?').pluck().get(rowid) as
              string | undefined;
            side.prepare('DELETE FROM calls WHERE rowid = ?').run(rowid);
          }
          return node;
        },
        transformResult: ({ result }) => Promise.resolve(result),
      });
      try {
        const walker = createCallRepository(racing, 'sqlite', racing, {
          ...DEFAULT_SEARCH_PLANS,
          commonMatches: 3,
          walkChunks: [4, 9, 20],
          relevanceWindow: 7,
        });
        const page = await walker.list(racingTenant, filter, options);
        expect(deleted).toBeDefined();
        expect(page.map((row) => row.id)).toEqual(
          before.filter((id) => id !== deleted).slice(0, 6),
        );
      } finally {
        side.close();
      }
    },
  );

  it('newest-first search pages cross months, empty months and month edges in order', async () => {
    // PostgreSQL's GIN plan reads the newest month's matches first, then the rest
    // (postgresKeysByMonth); the walks go on from where they stop.
    const monthly = uniqueId('tenant_months_');
    const random = prng(17);
    const starts = [
      ...Array.from({ length: 60 }, () => {
        // Jan, Mar, Apr, Jul 2025: February, May and June hold no call.
        const month = [0, 2, 3, 6][Math.floor(random() * 4)]!;
        return Date.UTC(2025, month, 1 + Math.floor(random() * 28), Math.floor(random() * 24));
      }),
      Date.UTC(2025, 2, 31, 23, 59, 59, 999),
      Date.UTC(2025, 3, 1),
      Date.UTC(2025, 3, 1),
    ];
    const rows = starts.map((start, i) =>
      newCallRow(monthly, {
        started_at: new Date(start).toISOString(),
        transcript: i % 3 === 0 ? 'Agent: nothing' : `Agent: ${i % 2 === 0 ? 'hello' : 'account'}`,
      }),
    );
    for (const row of rows) await chunked.insertIfAbsent(row);
    await indexSearch();
    for (const [query, word] of [
      [{ q: 'hello' }, 'hello'],
      [{ q: 'account', agentId: rows[0]!.agent_id }, 'account'],
    ] as const) {
      const expected = rows
        .filter((row) => row.transcript?.includes(word))
        .filter((row) => !('agentId' in query) || row.agent_id === query.agentId)
        .sort((a, b) =>
          a.started_at === b.started_at
            ? b.id.localeCompare(a.id)
            : b.started_at.localeCompare(a.started_at),
        )
        .map((row) => row.id);
      expect(expected.length).toBeGreaterThan(8);
      for (const repository of [chunked, indexed, walking]) {
        const walked: string[] = [];
        const filter = parseCallFilter(query);
        let after: { key: string | number; id: string } | undefined;
        for (let page = 0; page < 100; page++) {
          const got = await repository.list(monthly, filter, {
            sort: 'newest',
            after,
            limit: 4,
            withTranscript: false,
          });
          walked.push(...got.map((row) => row.id));
          const last = got.at(-1);
          if (got.length < 4 || last === undefined) break;
          after = { key: last.sort_key, id: last.id };
        }
        expect(walked).toEqual(expected);
      }
    }
  });

  it('a relevance cursor whose window is far larger than a walk could grow is refused', async () => {
    const filter = parseCallFilter({ q: 'hello' });
    // Every match ranked (no window) or a window from the beginning of time: 200-odd calls,
    // more than four windows of 7. A first page is never refused.
    const first = await chunked.listByRelevance(tenant, filter, {
      window: undefined,
      limit: 6,
      withTranscript: false,
    });
    expect(first.expired).toBe(false);
    expect(first.rows).toHaveLength(6);
    const last = first.rows.at(-1)!;
    const after = { key: last.sort_key, id: last.id, tail: false };
    const forged = [null, { key: dialect === 'sqlite' ? 0 : '1970-01-01T00:00:00.000Z', id: 'a' }];
    for (const window of forged) {
      const page = await chunked.listByRelevance(tenant, filter, {
        after,
        window,
        limit: 6,
        withTranscript: false,
      });
      expect(page.expired, JSON.stringify(window)).toBe(true);
      expect(page.rows).toEqual([]);
    }
    // The window the first page found continues.
    const next = await chunked.listByRelevance(tenant, filter, {
      after,
      window: first.window,
      limit: 6,
      withTranscript: false,
    });
    expect(next.expired).toBe(false);
    expect(next.rows.length).toBeGreaterThan(0);
  });

  it('a relevance walk neither skips nor repeats a call while new calls arrive', async () => {
    const busy = uniqueId('tenant_busy_');
    const random = prng(11);
    const row = (minute: number) =>
      newCallRow(busy, {
        started_at: new Date(Date.UTC(2025, 5, 1, 12, minute)).toISOString(),
        transcript: `Agent: hello ${'account '.repeat(1 + Math.floor(random() * 4))}`,
      });
    const before = Array.from({ length: 40 }, (_, i) => row(i));
    for (const call of before) await chunked.insertIfAbsent(call);
    await indexSearch();
    let arrivals = 0;
    const walked = await relevanceWalk(
      chunked,
      { q: 'account' },
      async () => {
        // Newer calls than any walked so far, some better matches, arrive between pages.
        for (let i = 0; i < 3; i++) await chunked.insertIfAbsent(row(100 + arrivals++));
        await indexSearch();
      },
      busy,
    );
    const ids = walked.map((call) => call.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const call of before) expect(ids).toContain(call.id);
  });

  // PostgreSQL only: ts_rank_cd scores each call on its own. SQLite's BM25 moves with the whole
  // index's statistics, which the edit itself shifts; the walk then continues from the
  // cursor's score, and a call of nearly the same score can be missed or seen twice (README,
  // "Relevance ranks the 1,000 most recent matches").
  it.runIf(dialect === 'postgres')(
    'a relevance walk neither skips nor repeats when the last call shown changes',
    async () => {
      const edited = uniqueId('tenant_edited_');
      const random = prng(13);
      const calls = Array.from({ length: 40 }, (_, i) =>
        newCallRow(edited, {
          started_at: new Date(Date.UTC(2025, 6, 1, 12, i)).toISOString(),
          transcript: `Agent: account ${'and so on '.repeat(1 + Math.floor(random() * 30))}`,
        }),
      );
      for (const call of calls) await chunked.insertIfAbsent(call);
      await indexSearch();
      for (const repository of [chunked, indexed]) {
        const walked = await relevanceWalk(
          repository,
          { q: 'account' },
          async (_page, lastId) => {
            // The call the cursor points at now matches far better (its caller's name).
            await repository.update(edited, lastId, {
              caller_name: `Account ${_page}`,
              updated_at: new Date().toISOString(),
            });
            await indexSearch();
          },
          edited,
        );
        const ids = walked.map((call) => call.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect([...ids].sort()).toEqual(calls.map((call) => call.id).sort());
        for (const call of calls) await repository.update(edited, call.id, { caller_name: null });
        await indexSearch();
      }
    },
  );

  it.each(queries)(
    '%j: every page of newest and oldest is the same on either plan',
    async (query) => {
      for (const sort of ['newest', 'oldest'] as const) {
        const expected = await walk(indexed, query, sort);
        expect(await walk(chunked, query, sort), sort).toEqual(expected);
        expect(await walk(walking, query, sort), sort).toEqual(expected);
        if (query.q !== 'nothing') expect(expected.length).toBeGreaterThan(0);
      }
    },
  );
});
