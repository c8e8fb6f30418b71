// The server's connections carry their own session settings, whatever the database's defaults:
// a database (or a pooler) set to fewer float digits must not round the doubles the API returns
// and the NDJSON lines the database writes, and one set to read backslashes in literals as
// escapes must not change what the export's COPY statements' literals mean.
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { createTestPostgresDatabase, TEST_DIALECTS } from '../setup/test-app.js';

describe.runIf(TEST_DIALECTS.includes('postgres'))('PostgreSQL session settings', () => {
  let database: { url: string; drop: () => Promise<void> };
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestPostgresDatabase({ empty: true });
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const name = (await admin.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!
      .name;
    await admin.query(`ALTER DATABASE "${name}" SET extra_float_digits = 0`);
    await admin.query(`ALTER DATABASE "${name}" SET standard_conforming_strings = off`);
    await admin.end();
    handle = openDatabase(loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' }));
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });

  it('reads every double exactly though the database defaults to fewer digits', async () => {
    const { rows } = await sql<{
      digits: string;
      value: number;
    }>`SELECT current_setting('extra_float_digits') AS digits,
      12.345678901234567::float8 AS value`.execute(handle.db);
    expect(rows[0]).toEqual({ digits: '1', value: 12.345678901234567 });
  });

  it('reads a backslash in a literal as itself though the database defaults to escapes', async () => {
    const { rows } = await sql<{ setting: string; value: string }>`SELECT
      current_setting('standard_conforming_strings') AS setting, ${sql.lit('a\\b')} AS value`.execute(
      handle.db,
    );
    expect(rows[0]).toEqual({ setting: 'on', value: 'a\\b' });
  });
});
