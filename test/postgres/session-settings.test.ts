// The server's connections carry their own session settings, whatever the database's defaults:
// a database (or a pooler) set to fewer float digits must not round the doubles the API returns
// and the NDJSON lines the database writes; one set to another client encoding must not change
// the bytes the export copies out (pg asks for UTF-8 at start-up); and the export's COPY literals
// (which COPY needs, having no parameters) must keep their text whether backslashes in literals
// are escapes or not.
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { postgresLiteral } from '../../src/db/pg-copy.js';
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
    await admin.query(`ALTER DATABASE "${name}" SET client_encoding = 'LATIN1'`);
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

  it('talks UTF-8 though the database defaults to another client encoding', async () => {
    const { rows } = await sql<{ encoding: string; value: string }>`SELECT
      current_setting('client_encoding') AS encoding, ${'☎ é 😀'}::text AS value`.execute(
      handle.db,
    );
    expect(rows[0]).toEqual({ encoding: 'UTF8', value: '☎ é 😀' });
    const [[copied]] = (await handle.copyRows!(`SELECT ${postgresLiteral('☎ é 😀')}`)) as [
      [Buffer],
    ];
    expect(copied).toEqual(Buffer.from('☎ é 😀'));
  });

  it('keeps a literal’s text whatever standard_conforming_strings says', async () => {
    const texts = [`a\\b`, `x\\' OR true --`, `it's`, `\\\\'\\`, ''];
    // One connection, so that SET applies to the statements after it; the database's default
    // (off, above) first, then on.
    await handle.db.connection().execute(async (connection) => {
      for (const standard of ['off', 'on']) {
        if (standard === 'on') await sql`SET standard_conforming_strings = on`.execute(connection);
        const { rows: setting } = await sql<{
          value: string;
        }>`SELECT current_setting('standard_conforming_strings') AS value`.execute(connection);
        expect(setting[0]!.value).toBe(standard);
        for (const text of texts) {
          const { rows } = await sql<{
            value: string;
          }>`SELECT ${sql.raw(postgresLiteral(text))} AS value`.execute(connection);
          expect(rows[0]!.value).toBe(text);
        }
      }
      await sql`RESET standard_conforming_strings`.execute(connection);
    });
  });
});
