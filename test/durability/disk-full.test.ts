// A full disk (SQLite's max_page_count standing in for it) is a 503 the sender can retry, for
// every write of the batch it hit; never a 500, never a 2xx for what was not committed.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody } from '../factories.js';
import { createTestApp, type TestApp } from '../setup/test-app.js';

describe('SQLite disk full (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    // max_page_count is a setting of one connection, set below on the main one: so the writes
    // run there, not on the writer thread's connection (whose SQLite errors reach the API the
    // same way: test/db/sqlite-writer.test.ts's busy lock).
    t = await createTestApp('sqlite', { env: { SQLITE_WRITE_THREAD: '0' } });
  });
  afterAll(() => t.close());

  it('answers 503 with Retry-After for the whole batch, then serves again when space returns', async () => {
    const before = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody(),
    });
    expect(before.statusCode).toBe(201);
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(t.database.db);
    await sql.raw(`pragma max_page_count = ${rows[0]!.page_count + 2}`).execute(t.database.db);

    const bodies = [
      callStartBody({ transcript: 'x'.repeat(900_000) }),
      ...Array.from({ length: 5 }, () => callStartBody()),
    ];
    const results = await Promise.all(
      bodies.map((payload) => t.app.inject({ method: 'POST', url: '/api/call-history', payload })),
    );
    expect(results[0]!.statusCode).toBe(503);
    for (const [index, res] of results.entries()) {
      expect([201, 503]).toContain(res.statusCode);
      if (res.statusCode === 503) {
        expect(res.headers['retry-after']).toBeDefined();
        expect(res.json().code).toBe('service_unavailable');
      }
      // Whatever answered 201 is stored; whatever answered 503 is not.
      const stored = await t.app.inject({
        method: 'GET',
        url: `/api/call-history/by-sid/${String(bodies[index]!.callSid)}`,
      });
      expect(stored.statusCode).toBe(res.statusCode === 201 ? 200 : 404);
    }

    await sql.raw('pragma max_page_count = 1073741823').execute(t.database.db);
    const after = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody(),
    });
    expect(after.statusCode).toBe(201);
  });
});
