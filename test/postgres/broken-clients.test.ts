// Which pg clients go back to the pool after a checkout and which are destroyed: a client that
// failed for connection reasons, or that Kysely asks to discard (its ROLLBACK failed, so the
// session may still be inside the transaction), must never serve the next request.
import type { PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { destroyingBrokenClients } from '../../src/db/database.js';
import { createTestPostgresDatabase, TEST_DIALECTS } from '../setup/test-app.js';

describe.runIf(TEST_DIALECTS.includes('postgres'))('PostgreSQL clients after a checkout', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  beforeAll(async () => {
    database = await createTestPostgresDatabase({ empty: true });
  });
  afterEach(async () => {
    await pool.end();
  });
  afterAll(async () => {
    await database.drop();
  });

  const poolOfOne = () => {
    pool = new pg.Pool({ connectionString: database.url, max: 1 });
    pool.on('error', () => {});
    return destroyingBrokenClients(pool);
  };
  const backendPid = async (client: PostgresPoolClient) =>
    ((await client.query('SELECT pg_backend_pid() AS pid', [])) as { rows: Array<{ pid: number }> })
      .rows[0]!.pid;

  it('keeps a client whose queries succeeded or failed for the query’s own reasons', async () => {
    const wrapped = poolOfOne();
    const first = await wrapped.connect();
    const pid = await backendPid(first);
    await expect(first.query('SELECT no_such_column', [])).rejects.toMatchObject({
      code: '42703',
    });
    first.release();
    expect(pool.totalCount).toBe(1);

    const second = await wrapped.connect();
    expect(await backendPid(second)).toBe(pid);
    second.release();
  });

  it('destroys a client Kysely asks to discard', async () => {
    const wrapped = poolOfOne();
    const first = await wrapped.connect();
    const pid = await backendPid(first);
    first.release(true);
    expect(pool.totalCount).toBe(0);

    const second = await wrapped.connect();
    expect(await backendPid(second)).not.toBe(pid);
    second.release();
  });

  it('destroys a client whose connection failed under a query', async () => {
    const wrapped = poolOfOne();
    const first = await wrapped.connect();
    const pid = await backendPid(first);
    // The server ends this very session: SQLSTATE 57P01, a connection-level failure.
    await expect(
      first.query('SELECT pg_terminate_backend(pg_backend_pid())', []),
    ).rejects.toThrow();
    first.release();
    expect(pool.totalCount).toBe(0);

    const second = await wrapped.connect();
    expect(await backendPid(second)).not.toBe(pid);
    second.release();
  });
});
