// The seeded databases the query benchmark reads: BENCH_CALLS calls (generator.ts) written
// straight into a migrated database, then cached, so only the first run pays for seeding.
//   SQLite: os.tmpdir()/callmind-bench/query-v<version>-<calls>.sqlite
//   PostgreSQL: database callmind_bench_<calls>, reused when its marker table and row count match
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Dialect } from '../../src/db/database.js';
import { searchFileOf } from '../../src/db/sqlite-search-file.js';
import { migrateDatabase as migrateOpenDatabase } from '../../src/db/migrator.js';
import { parseSearch } from '../../src/modules/calls/call-query.js';
import { createCallRollupRepository } from '../../src/modules/calls/call-rollups.repository.js';
import { createCallRepository } from '../../src/modules/calls/calls.repository.js';
import {
  openPostgresBench,
  openSqliteBench,
  postgresUrl,
  withPostgresAdmin,
  type BenchDatabase,
} from './databases.js';
import {
  AGENTS,
  BIG_TENANT,
  CallGenerator,
  FIXTURE_VERSION,
  SEARCH_TERMS,
  SEED_COLUMNS,
  tenantIds,
  type SearchTermKind,
  type SeedValue,
} from './generator.js';

export interface TermFrequency {
  readonly word: string;
  /** Calls holding the word, over every tenant. */
  readonly calls: number;
  /** Calls of the big tenant holding it (what a search there matches). */
  readonly bigTenantCalls: number;
}

/** What the marker table holds: enough to reuse the fixture and to describe it. */
export interface FixtureMarker {
  readonly version: number;
  readonly calls: number;
  /** Every call started before this instant; relative filters count back from it. */
  readonly anchor: string;
  readonly bigTenantCalls: number;
  readonly seededAt: string;
  readonly seedSeconds: number;
  readonly terms: Record<SearchTermKind, TermFrequency>;
}

export interface Fixture {
  readonly dialect: Dialect;
  /** DATABASE_URL for a server reading the fixture. */
  readonly databaseUrl: string;
  /** The SQLite file, or the PostgreSQL database name. */
  readonly location: string;
  readonly marker: FixtureMarker;
  /** True when this run seeded it (false: reused from an earlier run). */
  readonly seededNow: boolean;
}

const ROWS_PER_TRANSACTION = 10_000;
const POSTGRES_ROWS_PER_STATEMENT = 1_000;

export const sqliteFixtureFile = (calls: number): string =>
  path.join(os.tmpdir(), 'callmind-bench', `query-v${FIXTURE_VERSION}-${calls}.sqlite`);

export const postgresFixtureName = (calls: number): string => `callmind_bench_${calls}`;

/** The anchor of a new fixture: today, 00:00 UTC. */
function todayUtc(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

function progress(label: string, total: number): (done: number) => void {
  const started = Date.now();
  let nextReport = 0;
  return (done) => {
    if (done < nextReport && done < total) return;
    nextReport = done + Math.max(1, Math.round(total / 20));
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `  ${label}: ${done.toLocaleString('en')} / ${total.toLocaleString('en')} calls ` +
        `(${Math.round(done / Math.max(seconds, 0.001)).toLocaleString('en')}/s, ${seconds.toFixed(0)} s)`,
    );
  };
}

/**
 * PostgreSQL's rollup triggers leave a delta row per write (call-rollups.repository.ts); the
 * server compacts them every few seconds, so they never pile up. Seeding writes a million calls
 * with no server running: compact here, as the server would, before anything is measured.
 */
async function compactRollups(databaseUrl: string): Promise<void> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, SQLITE_READERS: '0' });
  const handle = openDatabase(config, { withoutTimeouts: true });
  try {
    const started = Date.now();
    let rounds = 0;
    while (
      (await handle.db
        .transaction()
        .execute((trx) => createCallRollupRepository(trx, 'postgres').compact(20_000))) > 0
    ) {
      rounds += 1;
    }
    if (rounds > 0) {
      console.log(
        `  compacted the rollups' delta rows in ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
  } finally {
    await handle.close();
  }
}

/**
 * The server adds written calls to the search index in batches (T1600), every few hundred
 * milliseconds; seeding wrote them all with no server running, so they are indexed here, in
 * commits of 10,000 as the seeding wrote them.
 */
async function indexSqliteSearch(file: string, calls: number): Promise<void> {
  const config = loadConfig({ DATABASE_URL: `sqlite:${file}`, SQLITE_READERS: '0' });
  const handle = openDatabase(config);
  try {
    const report = progress('SQLite search index', calls);
    let indexed = 0;
    for (;;) {
      const round = await handle.db
        .transaction()
        .execute((trx) =>
          createCallRepository(trx, 'sqlite').indexPendingSearch(ROWS_PER_TRANSACTION),
        );
      indexed += round.calls;
      if (round.calls > 0) report(indexed);
      if (!round.more) {
        await handle.db
          .transaction()
          .execute((trx) => createCallRepository(trx, 'sqlite').forgetIndexedSearch(round.through));
        return;
      }
    }
  } finally {
    await handle.close();
  }
}

/** Migrates an empty database with the server's own migrations. */
export async function migrateDatabase(databaseUrl: string): Promise<void> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, SQLITE_READERS: '0' });
  const handle = openDatabase(config);
  try {
    await migrateOpenDatabase(config, handle);
  } finally {
    await handle.close();
  }
}

/** How often each search term occurs, over all tenants and in the big tenant. */
async function termFrequencies(
  bench: BenchDatabase,
  callsOverall: (word: string) => Promise<number>,
): Promise<Record<SearchTermKind, TermFrequency>> {
  const repository = createCallRepository(bench.db, bench.dialect);
  const result: Partial<Record<SearchTermKind, TermFrequency>> = {};
  for (const [kind, { word }] of Object.entries(SEARCH_TERMS) as Array<
    [SearchTermKind, { word: string }]
  >) {
    result[kind] = {
      word,
      calls: await callsOverall(word),
      bigTenantCalls: await repository.count(BIG_TENANT, { search: parseSearch(word) }),
    };
  }
  return result as Record<SearchTermKind, TermFrequency>;
}

function agentRows(now: string): SeedValue[][] {
  return tenantIds().flatMap((tenant) =>
    AGENTS.map((agent) => [
      tenant,
      agent.id,
      agent.name,
      tenant === BIG_TENANT ? 'user_bench' : null,
      tenant === BIG_TENANT ? null : tenant,
      now,
      now,
    ]),
  );
}
const AGENT_COLUMNS = ['tenant_id', 'id', 'name', 'user_id', 'org_id', 'created_at', 'updated_at'];

// --- SQLite --------------------------------------------------------------------------------------

function readSqliteMarker(file: string, calls: number): FixtureMarker | undefined {
  if (!fs.existsSync(file)) return undefined;
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    const info = db.prepare('SELECT info FROM bench_fixture').pluck().get() as string | undefined;
    if (info === undefined) return undefined;
    const marker = JSON.parse(info) as FixtureMarker;
    const rows = Number(db.prepare('SELECT count(*) FROM calls').pluck().get());
    return marker.version === FIXTURE_VERSION && marker.calls === calls && rows === calls
      ? marker
      : undefined;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/** A SQLite database's files: its own and its search index's (src/db/sqlite-search-file.ts). */
export function sqliteDatabaseFiles(file: string): string[] {
  return [file, searchFileOf(file)];
}

export function removeSqliteFiles(file: string): void {
  for (const base of sqliteDatabaseFiles(file)) {
    for (const suffix of ['', '-wal', '-shm', '-journal'])
      fs.rmSync(base + suffix, { force: true });
  }
}

export async function ensureSqliteFixture(calls: number): Promise<Fixture> {
  const file = sqliteFixtureFile(calls);
  const cached = readSqliteMarker(file, calls);
  if (cached !== undefined) {
    // A migration added since it was seeded applies here, as it would in production, and
    // what it left for the search index is indexed (a fixture from before the search file's
    // migration is indexed into it once).
    await migrateDatabase(`sqlite:${file}`);
    await indexSqliteSearch(file, calls);
    return {
      dialect: 'sqlite',
      databaseUrl: `sqlite:${file}`,
      location: file,
      marker: cached,
      seededNow: false,
    };
  }
  removeSqliteFiles(file);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Built under another name and renamed when complete: an interrupted seeding is never reused.
  const partial = `${file}.partial`;
  removeSqliteFiles(partial);
  console.log(`seeding SQLite fixture ${file} with ${calls.toLocaleString('en')} calls`);
  const started = Date.now();
  const anchor = todayUtc();
  await migrateDatabase(`sqlite:${partial}`);

  const db = new BetterSqlite3(partial);
  try {
    // A benchmark fixture, rebuilt if lost: no need to wait for the disk while seeding.
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    // Indexes built once at the end (sorted) rather than row by row; the same definitions.
    const indexes = db
      .prepare(
        `SELECT name, sql FROM sqlite_master
         WHERE type = 'index' AND tbl_name = 'calls' AND sql IS NOT NULL`,
      )
      .all() as Array<{ name: string; sql: string }>;
    for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);

    const insertAgent = db.prepare(
      `INSERT INTO agents (${AGENT_COLUMNS.join(', ')}) VALUES (${AGENT_COLUMNS.map(() => '?').join(', ')})`,
    );
    const now = new Date().toISOString();
    db.transaction(() => agentRows(now).forEach((row) => insertAgent.run(...row)))();

    const insertCall = db.prepare(
      `INSERT INTO calls (${SEED_COLUMNS.join(', ')}) VALUES (${SEED_COLUMNS.map(() => '?').join(', ')})`,
    );
    const insertBatch = db.transaction((rows: SeedValue[][]) => {
      for (const row of rows) insertCall.run(...row);
    });
    const generator = new CallGenerator({ calls, anchor });
    const report = progress('SQLite', calls);
    let done = 0;
    while (!generator.done) {
      const rows = generator.nextBatch(ROWS_PER_TRANSACTION);
      insertBatch(rows);
      done += rows.length;
      report(done);
    }
    console.log(`  SQLite: building ${indexes.length} indexes`);
    for (const index of indexes) db.exec(index.sql);
  } finally {
    db.close();
  }

  await indexSqliteSearch(partial, calls);

  const bench = openSqliteBench(partial);
  let terms: Record<SearchTermKind, TermFrequency>;
  let bigTenantCalls: number;
  try {
    terms = await termFrequencies(bench, async (word) => {
      // fts5vocab's `doc`: how many rows of the index hold the word, in any column.
      const { rows } = await sql<{ doc: number }>`
        SELECT doc FROM calls_search_vocab WHERE term = ${word}`.execute(bench.db);
      return Number(rows[0]?.doc ?? 0);
    });
    bigTenantCalls = await createCallRepository(bench.db, 'sqlite').count(BIG_TENANT, {});
  } finally {
    await bench.close();
  }
  const marker: FixtureMarker = {
    version: FIXTURE_VERSION,
    calls,
    anchor: anchor.toISOString(),
    bigTenantCalls,
    seededAt: new Date().toISOString(),
    seedSeconds: (Date.now() - started) / 1000,
    terms,
  };
  const markerDb = new BetterSqlite3(partial);
  try {
    markerDb.exec('CREATE TABLE bench_fixture (info TEXT NOT NULL)');
    markerDb.prepare('INSERT INTO bench_fixture (info) VALUES (?)').run(JSON.stringify(marker));
    // Everything into the main file, so that renaming it moves the whole database.
    markerDb.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    markerDb.close();
  }
  fs.renameSync(partial, file);
  fs.renameSync(searchFileOf(partial), searchFileOf(file));
  removeSqliteFiles(partial);
  console.log(`  SQLite fixture seeded in ${marker.seedSeconds.toFixed(0)} s`);
  return {
    dialect: 'sqlite',
    databaseUrl: `sqlite:${file}`,
    location: file,
    marker,
    seededNow: true,
  };
}

// --- PostgreSQL ----------------------------------------------------------------------------------

async function readPostgresMarker(url: string, calls: number): Promise<FixtureMarker | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ info: string }>('SELECT info FROM bench_fixture');
    const info = rows[0]?.info;
    if (info === undefined) return undefined;
    const marker = JSON.parse(info) as FixtureMarker;
    const count = await client.query<{ n: string }>('SELECT count(*) AS n FROM calls');
    return marker.version === FIXTURE_VERSION &&
      marker.calls === calls &&
      Number(count.rows[0]?.n) === calls
      ? marker
      : undefined;
  } catch {
    return undefined;
  } finally {
    await client.end();
  }
}

function multiRowInsert(table: string, columns: readonly string[], rows: number): string {
  const tuples = Array.from(
    { length: rows },
    (_, row) =>
      `(${columns.map((_column, column) => `$${row * columns.length + column + 1}`).join(', ')})`,
  );
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`;
}

export async function ensurePostgresFixture(calls: number, adminUrl: string): Promise<Fixture> {
  const name = postgresFixtureName(calls);
  const url = postgresUrl(adminUrl, name);
  const exists = await withPostgresAdmin(adminUrl, (admin) => admin.exists(name));
  const cached = exists ? await readPostgresMarker(url, calls) : undefined;
  if (cached !== undefined) {
    await migrateDatabase(url);
    await compactRollups(url);
    return {
      dialect: 'postgres',
      databaseUrl: url,
      location: name,
      marker: cached,
      seededNow: false,
    };
  }
  console.log(`seeding PostgreSQL fixture ${name} with ${calls.toLocaleString('en')} calls`);
  const started = Date.now();
  const anchor = todayUtc();
  await withPostgresAdmin(adminUrl, async (admin) => {
    await admin.drop(name);
    await admin.create(name);
  });
  await migrateDatabase(url);

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // A benchmark fixture, rebuilt if lost: no need to wait for the WAL flush while seeding.
    await client.query('SET synchronous_commit = off');
    await client.query(`SET maintenance_work_mem = '512MB'`);
    // Indexes that no constraint owns are built once at the end, from their own definitions
    // (the search table's GIN too, which its trigger would otherwise update row by row).
    const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
       WHERE i.tablename IN ('calls', 'call_search') AND i.schemaname = current_schema()
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    for (const index of indexes) await client.query(`DROP INDEX "${index.indexname}"`);

    const agents = agentRows(new Date().toISOString());
    await client.query(multiRowInsert('agents', AGENT_COLUMNS, agents.length), agents.flat());

    const generator = new CallGenerator({ calls, anchor });
    const report = progress('PostgreSQL', calls);
    const fullStatement = multiRowInsert('calls', SEED_COLUMNS, POSTGRES_ROWS_PER_STATEMENT);
    let done = 0;
    // The next batch is generated while PostgreSQL writes the previous one.
    let pending: Promise<unknown> = Promise.resolve();
    let inTransaction = 0;
    await client.query('BEGIN');
    while (!generator.done) {
      const rows = generator.nextBatch(POSTGRES_ROWS_PER_STATEMENT);
      await pending;
      if (inTransaction >= ROWS_PER_TRANSACTION) {
        await client.query('COMMIT');
        await client.query('BEGIN');
        inTransaction = 0;
      }
      const statement =
        rows.length === POSTGRES_ROWS_PER_STATEMENT
          ? fullStatement
          : multiRowInsert('calls', SEED_COLUMNS, rows.length);
      pending = client.query(statement, rows.flat());
      inTransaction += rows.length;
      done += rows.length;
      report(done);
    }
    await pending;
    await client.query('COMMIT');
    // A write only notes its call for the search index (migration 2026-12-07T1000), and the
    // server indexes the notes in rounds; the fixture indexes them all at once, before the
    // search table's indexes are built. In the notes' order, as the server does: stored in a
    // hash join's order (seen: correlation 0.04 with startedAt), newest-first searches read pages
    // all over the table (the common word with status=completed: p99 19.5 ms, against 13.5).
    console.log('  PostgreSQL: indexing the calls for search');
    await client.query(`
      INSERT INTO call_search (call_id, tenant_id, started_at, document)
      SELECT c.id, c.tenant_id, c.started_at, callmind_search_document(c.tenant_id, c.started_at,
        c.caller_name, c.topics, c.summary, c.collected_data, c.transcript)
      FROM calls c JOIN call_search_pending p ON p.call_id = c.id
      ORDER BY p.seq`);
    await client.query('TRUNCATE call_search_pending');
    console.log(`  PostgreSQL: building ${indexes.length} indexes`);
    for (const index of indexes) await client.query(index.indexdef);
    // What autovacuum would do soon after a bulk load: statistics, and the visibility map that
    // index-only scans (the stats index) depend on.
    await client.query('VACUUM ANALYZE calls');
    await client.query('VACUUM ANALYZE call_search');
    await client.query('ANALYZE agents');
  } finally {
    await client.end();
  }

  const bench = openPostgresBench(url);
  let terms: Record<SearchTermKind, TermFrequency>;
  let bigTenantCalls: number;
  try {
    const overall = new pg.Client({ connectionString: url });
    await overall.connect();
    try {
      terms = await termFrequencies(bench, async (word) => {
        const { rows } = await overall.query<{ n: string }>(
          `SELECT count(*) AS n FROM call_search WHERE document @@ to_tsquery('simple', $1)`,
          [word],
        );
        return Number(rows[0]?.n ?? 0);
      });
    } finally {
      await overall.end();
    }
    bigTenantCalls = await createCallRepository(bench.db, 'postgres').count(BIG_TENANT, {});
  } finally {
    await bench.close();
  }
  const marker: FixtureMarker = {
    version: FIXTURE_VERSION,
    calls,
    anchor: anchor.toISOString(),
    bigTenantCalls,
    seededAt: new Date().toISOString(),
    seedSeconds: (Date.now() - started) / 1000,
    terms,
  };
  const markerClient = new pg.Client({ connectionString: url });
  await markerClient.connect();
  try {
    await markerClient.query('CREATE TABLE bench_fixture (info text NOT NULL)');
    await markerClient.query('INSERT INTO bench_fixture (info) VALUES ($1)', [
      JSON.stringify(marker),
    ]);
  } finally {
    await markerClient.end();
  }
  await compactRollups(url);
  console.log(`  PostgreSQL fixture seeded in ${marker.seedSeconds.toFixed(0)} s`);
  return { dialect: 'postgres', databaseUrl: url, location: name, marker, seededNow: true };
}
