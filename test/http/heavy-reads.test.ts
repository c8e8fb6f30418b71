// Searches and stats wait their turn (HEAVY_READS_AT_ONCE): while one is held in the database,
// the next ones wait in line, in the metrics' sight, and are answered once it ends. Pages of the
// list, and queries that are bad anyway, do not wait.
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { searchFileOf } from '../../src/db/sqlite-search-file.js';
import { callStartBody, completionBody } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const WORD = 'kumquat';
const CALLS = 3;
/** How long to wait for requests to reach the line: generous, for a machine running many tests. */
const WAIT = { timeout: 10_000, interval: 20 };

describe.each(TEST_DIALECTS)('searches and stats wait their turn (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, {
      // One at a time; and on SQLite a held search waits for the index as long as the test needs.
      env: { HEAVY_READS_AT_ONCE: '1', SQLITE_BUSY_TIMEOUT_MS: '60000' },
    });
  });
  afterAll(() => t.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url });
  const gauges = async () => {
    const { body } = await get('/metrics');
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1]);
    return {
      running: value('callmind_heavy_reads_running'),
      waiting: value('callmind_heavy_reads_waiting'),
    };
  };
  const createCalls = async () => {
    for (let i = 0; i < CALLS; i++) {
      const created = await t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        payload: callStartBody(),
      });
      expect(created.statusCode).toBe(201);
      const { id } = created.json<{ id: string }>();
      const ended = await t.app.inject({
        method: 'PATCH',
        url: `/api/call-history/${id}/status`,
        payload: completionBody({ transcript: `Caller: a question about the ${WORD} order` }),
      });
      expect(ended.statusCode).toBe(200);
    }
  };

  /**
   * Makes the next search wait in the database until `release`: on PostgreSQL a lock on its
   * table (taken after the calls are written, since writing them indexes them there); on
   * SQLite a write lock on the search index's file, which the search must first bring up to
   * date with the calls written after it was taken.
   */
  async function holdSearches(): Promise<() => Promise<void>> {
    const target = t.config.database;
    if (target.dialect === 'postgres') {
      await createCalls();
      const client = new pg.Client({ connectionString: target.url });
      await client.connect();
      await client.query('BEGIN');
      await client.query('LOCK TABLE call_search IN ACCESS EXCLUSIVE MODE');
      return async () => {
        await client.query('COMMIT');
        await client.end();
      };
    }
    const searchFile = new BetterSqlite3(searchFileOf(target.file));
    searchFile.exec('BEGIN IMMEDIATE');
    await createCalls();
    return async () => {
      searchFile.exec('COMMIT');
      searchFile.close();
    };
  }

  it('holds the second search and a year of stats behind the first, and answers all three', async () => {
    expect(await gauges()).toEqual({ running: 0, waiting: 0 });
    const release = await holdSearches();
    let released = false;
    try {
      const firstSearch = get(`/api/call-history?q=${WORD}`);
      await vi.waitFor(
        async () => expect(await gauges()).toEqual({ running: 1, waiting: 0 }),
        WAIT,
      );
      const secondSearch = get(`/api/call-history?q=${WORD}&sort=relevance`);
      const stats = get('/api/call-history/stats?tz=Europe/Lisbon');
      await vi.waitFor(
        async () => expect(await gauges()).toEqual({ running: 1, waiting: 2 }),
        WAIT,
      );

      // Not in line: a page of the list, and stats whose query is refused anyway.
      const page = await get('/api/call-history?limit=10');
      expect(page.statusCode).toBe(200);
      expect(page.json<{ data: unknown[] }>().data).toHaveLength(CALLS);
      const badStats = await get('/api/call-history/stats?tz=Mars/Olympus_Mons');
      expect(badStats.statusCode).toBe(400);
      expect(badStats.json()).toMatchObject({ errors: [{ field: 'tz' }] });
      expect(await gauges()).toEqual({ running: 1, waiting: 2 });

      await release();
      released = true;
      for (const search of [await firstSearch, await secondSearch]) {
        expect(search.statusCode).toBe(200);
        expect(search.json<{ data: unknown[] }>().data).toHaveLength(CALLS);
      }
      const answered = await stats;
      expect(answered.statusCode).toBe(200);
      expect(answered.json()).toMatchObject({ total: CALLS, byStatus: { completed: CALLS } });
      expect(await gauges()).toEqual({ running: 0, waiting: 0 });
    } finally {
      if (!released) await release();
    }
  });
});
