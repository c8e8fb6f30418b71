// The SQLite reader threads: heavy reads run off the event loop, see committed writes, cannot
// write, and report SQLite's errors with their codes.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { searchFileOf } from '../../src/db/sqlite-search-file.js';
import { READS_PER_THREAD, SqliteReaderPool } from '../../src/db/sqlite-reader.js';
import { sql } from 'kysely';
import { makeTempDir } from '../setup/test-app.js';

describe('SQLite reader threads', () => {
  let database: DatabaseHandle;
  let file: string;
  beforeAll(async () => {
    file = path.join(makeTempDir(), 'readers.db');
    database = openDatabase(loadConfig({ DATABASE_URL: `sqlite:${file}`, SQLITE_READERS: '2' }));
    await migrateToLatest(database.db, database.dialect);
  });
  afterAll(() => database.close());

  it('a long read leaves the event loop free, and sees what was committed before it', async () => {
    await database.db
      .insertInto('agents')
      .values({
        tenant_id: 't',
        id: 'agent_reader',
        name: 'Reader',
        user_id: null,
        org_id: null,
        created_at: 'x',
        updated_at: 'x',
      })
      .execute();
    let turns = 0;
    let reading = true;
    const spin = () => {
      turns++;
      if (reading) setImmediate(spin);
    };
    setImmediate(spin);
    // Millions of rows of work in SQLite: on the main thread no turn could happen meanwhile.
    const { rows } = await sql<{ n: number; agents: number }>`
      WITH RECURSIVE counter(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM counter WHERE i < 3000000)
      SELECT count(*) AS n, (SELECT count(*) FROM agents) AS agents FROM counter`.execute(
      database.readDb,
    );
    reading = false;
    expect(rows[0]).toEqual({ n: 3_000_000, agents: 1 });
    expect(turns).toBeGreaterThan(10);
  });

  it('cannot write, and reports errors with their codes', async () => {
    await expect(sql`DELETE FROM agents`.execute(database.readDb)).rejects.toThrow(
      /only runs queries that return rows/,
    );
    await expect(
      sql`INSERT INTO agents (tenant_id, id, name, created_at, updated_at) VALUES ('t','b','b','x','x') RETURNING id`.execute(
        database.readDb,
      ),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^SQLITE_READONLY/) });
    await expect(sql`SELECT * FROM no_such_table`.execute(database.readDb)).rejects.toMatchObject({
      code: 'SQLITE_ERROR',
    });
  });

  it('a reader that dies is replaced: the next read gets a new one', async () => {
    const pool = new SqliteReaderPool(file, 1, {
      busyTimeoutMs: 1000,
      cacheKib: 2048,
      searchFile: searchFileOf(file),
    });
    const threads = (
      pool as unknown as { threads: Array<{ close(): Promise<void>; failed: boolean }> }
    ).threads;
    try {
      await expect(pool.run('SELECT 1 AS one', [])).resolves.toEqual([{ one: 1 }]);
      // Readers get the page cache they were given (SQLite's default is 2000 KiB).
      await expect(pool.run('PRAGMA cache_size', [])).resolves.toEqual([{ cache_size: -2048 }]);
      const first = threads[0]!;
      await first.close();
      expect(first.failed).toBe(true);
      await expect(pool.run('SELECT 2 AS two', [])).resolves.toEqual([{ two: 2 }]);
      expect(
        (pool as unknown as { threads: unknown[] }).threads[0],
        'a new thread took its place',
      ).not.toBe(first);
    } finally {
      await pool.close();
    }
  });

  it('gives each thread a few reads at a time, holds the rest in one queue, and answers every one', async () => {
    const pool = new SqliteReaderPool(file, 2, {
      busyTimeoutMs: 1000,
      cacheKib: 2048,
      searchFile: searchFileOf(file),
    });
    const threads = (pool as unknown as { threads: Array<{ load: number }> }).threads;
    try {
      const count = READS_PER_THREAD * 2 + 10;
      // Each read counts 200,000 rows: all are sent before the first is answered.
      const reads = Array.from({ length: count }, (_, index) =>
        pool.run(
          `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)
             SELECT count(*) + ? AS n FROM c`,
          [index],
        ),
      );
      expect(pool.inFlight).toBe(count);
      expect(threads.map((thread) => thread.load)).toEqual([READS_PER_THREAD, READS_PER_THREAD]);
      const results = await Promise.all(reads);
      expect(results).toEqual(Array.from({ length: count }, (_, index) => [{ n: 200000 + index }]));
      expect(pool.inFlight).toBe(0);
    } finally {
      await pool.close();
    }
  });
});
