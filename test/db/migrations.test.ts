// Migrations are frozen in time and must compose: a database migrated one step at a time has
// exactly the schema of one migrated at once, on both dialects.
import fs from 'node:fs';
import path from 'node:path';
import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle, type Dialect } from '../../src/db/database.js';
import { createMigrator, migrateDatabase, migrateToLatest } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/types.js';
import { createCallRepository } from '../../src/modules/calls/calls.repository.js';
import { newCallRow, uniqueId } from '../factories.js';
import { createTestPostgresDatabase, makeTempDir, TEST_DIALECTS } from '../setup/test-app.js';

/** Every table's columns, indexes and constraints, in a dialect-independent sorted text form. */
async function schemaOf(db: Kysely<Database>, dialect: Dialect): Promise<string[]> {
  if (dialect === 'sqlite') {
    const rows = await sql<{ type: string; name: string; sql: string | null }>`
      select type, name, sql from sqlite_master
      where name not like 'sqlite_%' order by type, name`.execute(db);
    return rows.rows.map((r) => `${r.type} ${r.name}: ${r.sql ?? ''}`);
  }
  const columns = await sql<Record<string, string>>`
    select table_name, column_name, data_type, is_nullable, coalesce(column_default, '') as def
    from information_schema.columns where table_schema = 'public'
    order by table_name, column_name`.execute(db);
  const indexes = await sql<Record<string, string>>`
    select tablename, indexname, indexdef from pg_indexes where schemaname = 'public'
    order by tablename, indexname`.execute(db);
  const constraints = await sql<Record<string, string>>`
    select conrelid::regclass::text as table_name, conname, pg_get_constraintdef(oid) as def
    from pg_constraint where connamespace = 'public'::regnamespace
    order by 1, 2`.execute(db);
  return [...columns.rows, ...indexes.rows, ...constraints.rows].map((r) =>
    Object.values(r).join(' | '),
  );
}

/** What the server does in batches and before every search (SQLite, T1600 and T1200). */
async function indexPendingSearch(handle: DatabaseHandle): Promise<number> {
  const round = await handle.db
    .transaction()
    .execute((trx) =>
      createCallRepository(trx, handle.dialect).indexPendingSearch(Number.MAX_SAFE_INTEGER),
    );
  return round.calls;
}

describe.each(TEST_DIALECTS)('migrations (%s)', (dialect) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  const databaseUrls = new Map<DatabaseHandle, string>();

  async function freshDatabase(env: Record<string, string> = {}): Promise<DatabaseHandle> {
    let url: string;
    if (dialect === 'sqlite') {
      const dir = makeTempDir();
      url = `sqlite:${path.join(dir, 'm.db')}`;
      cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    } else {
      const created = await createTestPostgresDatabase();
      url = created.url;
      cleanups.push(created.drop);
    }
    // Cloned test databases are already migrated: start these from an empty schema.
    const handle = openDatabase(loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', ...env }));
    databaseUrls.set(handle, url);
    if (dialect === 'postgres') {
      await sql`drop schema public cascade`.execute(handle.db);
      await sql`create schema public`.execute(handle.db);
    }
    cleanups.unshift(() => handle.close());
    return handle;
  }

  it('step by step equals all at once, and a second run applies nothing', async () => {
    const atOnce = await freshDatabase();
    const applied = await migrateToLatest(atOnce.db, atOnce.dialect);
    expect(applied.length).toBeGreaterThan(0);
    expect(await migrateToLatest(atOnce.db, atOnce.dialect)).toEqual([]);

    const stepwise = await freshDatabase();
    const migrator = createMigrator(stepwise.db, stepwise.dialect);
    for (let step = 0; step < applied.length; step++) {
      const { error, results } = await migrator.migrateUp();
      expect(error).toBeUndefined();
      expect(results?.map((r) => r.migrationName)).toEqual([applied[step]]);
    }
    expect(await schemaOf(stepwise.db, dialect)).toEqual(await schemaOf(atOnce.db, dialect));
  });

  it('a migration may take longer than the request timeouts (a backfill at scale)', async () => {
    const env = { DATABASE_STATEMENT_TIMEOUT_MS: '200' };
    const slow = await freshDatabase(env);
    // Longer than the statement timeout and than the client's read timeout (1 s after it).
    const pause =
      dialect === 'postgres'
        ? sql`SELECT pg_sleep(1.5)`
        : sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)
            SELECT count(*) FROM n`;
    const applied = await migrateDatabase(
      loadConfig({ DATABASE_URL: databaseUrls.get(slow)!, LOG_LEVEL: 'silent', ...env }),
      slow,
      { '0001_slow_backfill': { up: async (db) => void (await pause.execute(db)) } },
    );
    expect(applied).toEqual(['0001_slow_backfill']);
    // Requests keep their timeout.
    if (dialect === 'postgres') {
      await expect(sql`SELECT pg_sleep(1.5)`.execute(slow.db)).rejects.toThrow(/timeout/);
    }
  });

  it('calls stored before the search table are found after it, and down undoes it', async () => {
    const handle = await freshDatabase();
    const migrator = createMigrator(handle.db, dialect);
    const before = await migrator.migrateTo('2026-12-04T1400_call_rollups');
    expect(before.error).toBeUndefined();
    const tenant = uniqueId('tenant_backfill_');
    const calls = createCallRepository(handle.db, dialect);
    const older = newCallRow(tenant, {
      started_at: '2025-01-01T00:00:00.000Z',
      transcript: 'Agent: a zanzibar question',
    });
    const newer = newCallRow(tenant, {
      started_at: '2025-02-01T00:00:00.000Z',
      summary: 'Zanzibar again',
    });
    await calls.insertIfAbsent(older);
    await calls.insertIfAbsent(newer);
    await calls.insertIfAbsent(newCallRow(tenant, { transcript: 'nothing to find' }));
    await migrateToLatest(handle.db, dialect);
    const search = { search: [{ words: ['zanzibar'], prefix: false }] };
    const newest = async () => {
      await indexPendingSearch(handle);
      const rows = await calls.list(tenant, search, {
        sort: 'newest',
        limit: 10,
        withTranscript: false,
      });
      return rows.map((row) => row.id);
    };
    expect(await newest()).toEqual([newer.id, older.id]);
    // The index follows a call whose start moves, and one whose text changes.
    await calls.update(tenant, older.id, { started_at: '2025-03-01T00:00:00.000Z' });
    expect(await newest()).toEqual([older.id, newer.id]);
    await calls.update(tenant, newer.id, { summary: 'Nothing now' });
    expect(await newest()).toEqual([older.id]);
    // Down to before the search table: the earlier search index answers again.
    const down = await migrator.migrateTo('2026-12-04T1400_call_rollups');
    expect(down.error).toBeUndefined();
    if (dialect === 'postgres') {
      const { rows } = await sql<{ id: string }>`SELECT id FROM calls
        WHERE search_vector @@ to_tsquery('simple', 'zanzibar')`.execute(handle.db);
      expect(rows.map((row) => row.id)).toEqual([older.id]);
    }
  });

  it.runIf(dialect === 'sqlite')(
    'deferred indexing into the search file indexes every call again, then what waits; down puts the index back in the database',
    async () => {
      const handle = await freshDatabase();
      const migrator = createMigrator(handle.db, dialect);
      expect((await migrator.migrateTo('2026-12-04T1500_postgres_search_table')).error).toBe(
        undefined,
      );
      const tenant = uniqueId('tenant_deferred_');
      const calls = createCallRepository(handle.db, dialect);
      const search = { search: [{ words: ['zanzibar'], prefix: false }] };
      const found = async () =>
        (await calls.list(tenant, search, { sort: 'newest', limit: 10, withTranscript: false }))
          .map((row) => row.id)
          .sort();
      const indexedBefore = newCallRow(tenant, { transcript: 'Agent: zanzibar' });
      await calls.insertIfAbsent(indexedBefore);
      expect(await found()).toEqual([indexedBefore.id]);
      await migrateToLatest(handle.db, dialect);
      // The index moved to its own file (T1200), which starts empty: every call is noted again.
      expect(await found()).toEqual([]);
      expect(await indexPendingSearch(handle)).toBe(1);
      expect(await indexPendingSearch(handle)).toBe(0);
      const settings = async () =>
        Object.fromEntries(
          (
            await sql<{ k: string; v: number }>`
              SELECT k, v FROM calls_search_config WHERE k IN ('automerge', 'deletemerge')`.execute(
              handle.db,
            )
          ).rows.map((row) => [row.k, row.v]),
        );
      // Rewriting a segment once a tenth of it is deleted made every re-index cost 4× (T1600);
      // merging a level's segments at 16, not 8, spared a quarter to a third of the rest.
      expect(await settings()).toEqual({ automerge: 16, deletemerge: 50 });
      expect(await found()).toEqual([indexedBefore.id]);

      const waiting = newCallRow(tenant, { summary: 'Zanzibar' });
      await calls.insertIfAbsent(waiting);
      await calls.update(tenant, indexedBefore.id, { transcript: 'Agent: nothing' });
      const erased = newCallRow(tenant, { transcript: 'zanzibar', caller_number: '+15550100999' });
      await calls.insertIfAbsent(erased);
      await calls.deleteByCaller(tenant, '+15550100999');
      // The writes only noted the calls (the erased one too); the index answers as before them.
      expect(await found()).toEqual([indexedBefore.id]);
      expect(await indexPendingSearch(handle)).toBe(3);
      expect(await found()).toEqual([waiting.id]);

      // Down through T1200 and T1600: the index is in the database again, every call in it,
      // and every write is indexed as it commits.
      const waitingAtDown = newCallRow(tenant, { caller_name: 'Zanzibar Jones' });
      await calls.insertIfAbsent(waitingAtDown);
      expect((await migrator.migrateTo('2026-12-04T1500_postgres_search_table')).error).toBe(
        undefined,
      );
      expect(await found()).toEqual([waiting.id, waitingAtDown.id].sort());
      expect(await settings()).toEqual({ automerge: 4, deletemerge: 10 });
      const afterDown = newCallRow(tenant, { transcript: 'zanzibar' });
      await calls.insertIfAbsent(afterDown);
      expect(await found()).toEqual([waiting.id, waitingAtDown.id, afterDown.id].sort());
    },
  );

  it.runIf(dialect === 'postgres')(
    'callmind_json_words becomes PL/pgSQL (its plan kept per connection) with the same search documents, and down brings the SQL body back',
    async () => {
      const handle = await freshDatabase();
      const migrator = createMigrator(handle.db, dialect);
      const before = '2026-12-05T1200_sqlite_search_file';
      expect((await migrator.migrateTo(before)).error).toBeUndefined();
      // Inputs that reach every branch: nulls, topics that are not an array, data that is not
      // an object, nesting, numbers and booleans, long values, punctuation, unicode.
      const samples = [
        [
          't1',
          '2026-11-25T10:00:00.000Z',
          'Jordan Example',
          '["billing","refund"]',
          'Sum-up: ok!',
          '{"email":"j@example.com","refund":{"amount":29,"ok":true},"tags":["a b"]}',
          'Agent: héllo, 42 wörlds',
        ],
        ['t2', '2025-01-01T00:00:00.000Z', null, null, null, null, null],
        ['t3', '2025-01-01T00:00:00.000Z', 'x', '"not an array"', 's', '[1,2]', 'long '.repeat(50)],
        [
          't4',
          '2025-01-01T00:00:00.000Z',
          'x',
          `["${'v'.repeat(201)}","ok"]`,
          's',
          `{"big":"${'w'.repeat(201)}","n":1.5,"f":false,"z":null}`,
          'Ωμέγα 東京 call',
        ],
      ] as const;
      const results = async () => {
        const out: unknown[] = [];
        for (const [tenant, started, name, topics, summary, data, transcript] of samples) {
          const { rows } = await sql<{ document: string; topicWords: string; dataWords: string }>`
            SELECT callmind_search_document(${tenant}, ${started}, ${name}, ${topics}, ${summary},
                ${data}, ${transcript})::text AS document,
              callmind_json_words(${topics}::jsonb) AS "topicWords",
              callmind_json_words(${data}::jsonb) AS "dataWords"`.execute(handle.db);
          out.push(rows[0]);
        }
        return out;
      };
      const languages = async () =>
        (
          await sql<{ proname: string; lanname: string }>`
            SELECT p.proname, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.proname IN ('callmind_search_document', 'callmind_json_words', 'callmind_facets')
            ORDER BY p.proname`.execute(handle.db)
        ).rows.map((row) => `${row.proname}:${row.lanname}`);

      const asSql = await results();
      expect(asSql.map((row) => (row as { document: string }).document)).toContainEqual(
        expect.stringContaining("'refund':"),
      );
      expect(await languages()).toEqual([
        'callmind_facets:sql',
        'callmind_json_words:sql',
        'callmind_search_document:sql',
      ]);
      await migrateToLatest(handle.db, dialect);
      expect(await languages()).toEqual([
        'callmind_facets:sql',
        'callmind_json_words:plpgsql',
        'callmind_search_document:sql',
      ]);
      expect(await results()).toEqual(asSql);
      expect((await migrator.migrateTo(before)).error).toBeUndefined();
      expect(await languages()).toEqual([
        'callmind_facets:sql',
        'callmind_json_words:sql',
        'callmind_search_document:sql',
      ]);
      expect(await results()).toEqual(asSql);
    },
  );

  it.runIf(dialect === 'postgres')(
    'search documents are kept in their row from T1200 on, those before where they were, and down puts the TOAST default back',
    async () => {
      const handle = await freshDatabase();
      const migrator = createMigrator(handle.db, dialect);
      const before = '2026-12-06T1000_postgres_json_words_plpgsql';
      expect((await migrator.migrateTo(before)).error).toBeUndefined();
      // Three hundred different words: a document of about 5 KB that compresses little, over the
      // 2 KB at which PostgreSQL moves a value to TOAST unless told otherwise, and within a page.
      const words = Array.from(
        { length: 300 },
        (_, i) => `w${i.toString(36)}q${((i * 7919) % 46656).toString(36)}`,
      );
      const calls = createCallRepository(handle.db, dialect);
      const tenant = uniqueId('org_');
      const toastTable = (
        await sql<{ name: string }>`
          SELECT reltoastrelid::regclass::text AS name FROM pg_class
          WHERE oid = 'call_search'::regclass`.execute(handle.db)
      ).rows[0]!.name;
      const toastChunks = async () =>
        Number(
          (
            await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.raw(toastTable)}`.execute(
              handle.db,
            )
          ).rows[0]!.n,
        );
      /** Writes a call; says whether its row sent anything to TOAST ('toast') or not ('row'). */
      const write = async (ids: string[]) => {
        const chunksBefore = await toastChunks();
        const row = newCallRow(tenant, { transcript: words.join(' '), status: 'completed' });
        expect(await calls.insertIfAbsent(row)).toBeDefined();
        ids.push(row.id);
        return (await toastChunks()) > chunksBefore ? 'toast' : 'row';
      };
      const storage = async () =>
        (
          await sql<{ attstorage: string }>`
            SELECT attstorage FROM pg_attribute
            WHERE attrelid = 'call_search'::regclass AND attname = 'document'`.execute(handle.db)
        ).rows[0]!.attstorage;

      const ids: string[] = [];
      expect([await storage(), await write(ids)]).toEqual(['x', 'toast']);
      // The last migration to index each write in its own trigger.
      const inRow = '2026-12-06T1200_postgres_search_document_inline';
      expect((await migrator.migrateTo(inRow)).error).toBeUndefined();
      const chunksKept = await toastChunks();
      expect([await storage(), await write(ids)]).toEqual(['m', 'row']);
      expect(await toastChunks()).toBe(chunksKept);
      // Both are found: the document in its row and the one left in TOAST.
      const { rows } = await sql<{ id: string }>`
        SELECT call_id AS id FROM call_search
        WHERE document @@ to_tsquery('simple', ${words[1]!}) ORDER BY 1`.execute(handle.db);
      expect(rows.map((row) => row.id)).toEqual([...ids].sort());
      expect((await migrator.migrateTo(before)).error).toBeUndefined();
      expect([await storage(), await write(ids)]).toEqual(['x', 'toast']);
    },
  );

  it.runIf(dialect === 'postgres')(
    'from 2026-12-07T1000 a write only notes its call for the index; down indexes the notes and has each write indexed at once again',
    async () => {
      const handle = await freshDatabase();
      const migrator = createMigrator(handle.db, dialect);
      const inline = '2026-12-06T1200_postgres_search_document_inline';
      expect((await migrator.migrateTo(inline)).error).toBeUndefined();
      const calls = createCallRepository(handle.db, dialect);
      const tenant = uniqueId('org_');
      const indexedFor = async (...words: string[]) => {
        const found: string[][] = [];
        for (const word of words) {
          const { rows } = await sql<{ id: string }>`SELECT call_id AS id FROM call_search
            WHERE document @@ to_tsquery('simple', ${word}) ORDER BY 1`.execute(handle.db);
          found.push(rows.map((row) => row.id));
        }
        return found;
      };
      const pendingTable = async () =>
        (
          await sql<{ name: string | null }>`
          SELECT to_regclass('call_search_pending')::text AS name`.execute(handle.db)
        ).rows[0]!.name;

      const before = newCallRow(tenant, { transcript: 'Agent: rowanold' });
      await calls.insertIfAbsent(before);
      expect(await indexedFor('rowanold')).toEqual([[before.id]]);
      await migrateToLatest(handle.db, dialect);
      // Noted, not yet indexed: a new call, and a change to a call indexed before.
      const after = newCallRow(tenant, { transcript: 'Agent: rowannew' });
      await calls.insertIfAbsent(after);
      await calls.update(tenant, before.id, { transcript: 'Agent: rowanedit' });
      expect(await indexedFor('rowannew', 'rowanedit', 'rowanold')).toEqual([[], [], [before.id]]);

      expect((await migrator.migrateTo(inline)).error).toBeUndefined();
      expect(await pendingTable()).toBeNull();
      expect(await indexedFor('rowannew', 'rowanedit', 'rowanold')).toEqual([
        [after.id],
        [before.id],
        [],
      ]);
      const later = newCallRow(tenant, { transcript: 'Agent: rowanlater' });
      await calls.insertIfAbsent(later);
      expect(await indexedFor('rowanlater')).toEqual([[later.id]]);

      await migrateToLatest(handle.db, dialect);
      expect(await pendingTable()).toBe('call_search_pending');
      await calls.update(tenant, later.id, { transcript: 'Agent: rowanagain' });
      expect(await indexedFor('rowanagain')).toEqual([[]]);
      expect(await indexPendingSearch(handle)).toBe(1);
      expect(await indexedFor('rowanagain', 'rowanlater')).toEqual([[later.id], []]);
    },
  );

  it('a migration that fails halfway leaves nothing of itself behind', async () => {
    const handle = await freshDatabase();
    const failing = new Migrator({
      db: handle.db,
      provider: {
        getMigrations: () =>
          Promise.resolve({
            '0001_half_done': {
              up: async (db: Kysely<any>) => {
                await sql`CREATE TABLE half_done (id text)`.execute(db);
                await sql`INSERT INTO no_such_table VALUES (1)`.execute(db);
              },
            },
          }),
      },
    });
    const { error } = await failing.migrateToLatest();
    expect(error).toBeDefined();
    const tables = await sql<{ name: string }>`${sql.raw(
      dialect === 'sqlite'
        ? "SELECT name FROM sqlite_master WHERE name = 'half_done'"
        : "SELECT tablename AS name FROM pg_tables WHERE tablename = 'half_done'",
    )}`.execute(handle.db);
    expect(tables.rows).toEqual([]);
  });
});
