// Connections the query benchmark opens itself: Kysely over SQLite or PostgreSQL with every
// statement recorded (so the slow ones can be explained), and the admin side of PostgreSQL
// (databases named callmind_bench_*, never any other).
import BetterSqlite3 from 'better-sqlite3';
import { loadConfig } from '../../src/config.js';
import { Kysely, PostgresDialect, SqliteDialect, type LogEvent } from 'kysely';
import pg from 'pg';
import { postgresSessionOptions, type Dialect } from '../../src/db/database.js';
import type { Database } from '../../src/db/types.js';
import { SEARCH_SCHEMA, searchFileOf } from '../../src/db/sqlite-search-file.js';

/** A statement as Kysely sent it. */
export interface RecordedQuery {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

/** Records the statements run while `recording` is on. */
export class QueryRecorder {
  private queries: RecordedQuery[] | undefined;

  readonly log = (event: LogEvent): void => {
    if (event.level === 'query' && this.queries !== undefined) {
      this.queries.push({ sql: event.query.sql, parameters: event.query.parameters });
    }
  };

  async record<T>(work: () => Promise<T>): Promise<{ result: T; queries: RecordedQuery[] }> {
    this.queries = [];
    try {
      const result = await work();
      return { result, queries: this.queries };
    } finally {
      this.queries = undefined;
    }
  }
}

export interface BenchDatabase {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  readonly recorder: QueryRecorder;
  /** The query plan of a recorded statement, as text. */
  explain(query: RecordedQuery): Promise<string>;
  /**
   * PostgreSQL: the server's own time for a recorded SELECT, planning plus execution, as EXPLAIN
   * ANALYZE measures it (TIMING OFF: no per-node clock reads). EXPLAIN sends no rows, so each
   * row is turned into text as well (`q::text` runs every column's output function, and
   * decompresses the transcripts), which is the server's work in sending it.
   */
  readonly serverMs?: (query: RecordedQuery) => Promise<number>;
  close(): Promise<void>;
}

/**
 * SQLite through Kysely's own driver on one better-sqlite3 connection: the same SQL the server's
 * reader thread runs, without the thread hop, so the time is the database's.
 */
export function openSqliteBench(file: string, options: { readonly?: boolean } = {}): BenchDatabase {
  const connection = new BetterSqlite3(file, {
    readonly: options.readonly ?? false,
    fileMustExist: true,
  });
  // The page cache the server's reader connections get by default (SQLITE_CACHE_MB).
  connection.pragma(`cache_size = -${loadConfig({}).sqlite.cacheMb * 1024}`);
  // The search index's file, as the server's readers attach it (src/db/sqlite-search-file.ts).
  connection.prepare(`ATTACH DATABASE ? AS ${SEARCH_SCHEMA}`).run(searchFileOf(file));
  const recorder = new QueryRecorder();
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: connection }),
    log: recorder.log,
  });
  return {
    dialect: 'sqlite',
    db,
    recorder,
    async explain(query) {
      const rows = connection
        .prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
        .all(...(query.parameters as unknown[])) as Array<{
        id: number;
        parent: number;
        detail: string;
      }>;
      const depth = new Map<number, number>([[0, -1]]);
      return rows
        .map((row) => {
          const level = (depth.get(row.parent) ?? -1) + 1;
          depth.set(row.id, level);
          return `${'  '.repeat(level)}${row.detail}`;
        })
        .join('\n');
    },
    close: () => db.destroy(),
  };
}

/** PostgreSQL with a pool of 10, as the server's default DATABASE_POOL_MAX. */
export function openPostgresBench(url: string): BenchDatabase {
  // The server's session settings, as its own pool sends them (src/db/database.ts).
  const { parallelWorkers } = loadConfig({ DATABASE_URL: url }).postgres;
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    options: postgresSessionOptions(parallelWorkers),
  });
  const recorder = new QueryRecorder();
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: recorder.log });
  return {
    dialect: 'postgres',
    db,
    recorder,
    async explain(query) {
      // ANALYZE runs the statement again: the plan then shows real row counts and times.
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) ${query.sql}`,
        [...query.parameters],
      );
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    },
    serverMs: async (query) => {
      const { rows } = await pool.query<{ 'QUERY PLAN': ExplainJson }>(
        `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)
          SELECT count(*) FROM (${query.sql}) AS q WHERE q::text IS NOT NULL`,
        [...query.parameters],
      );
      const [summary] = rows[0]?.['QUERY PLAN'] ?? [];
      if (summary === undefined) throw new Error('EXPLAIN returned no plan');
      return summary['Planning Time'] + summary['Execution Time'];
    },
    close: () => db.destroy(),
  };
}

/** EXPLAIN (ANALYZE, FORMAT JSON)'s answer: one plan, with its times in milliseconds. */
type ExplainJson = Array<{ 'Planning Time': number; 'Execution Time': number }>;

/** The admin connection's URL with another database name. */
export function postgresUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const BENCH_DATABASE_NAME = /^callmind_bench_[a-z0-9_]+$/;

/** Runs `work` on a connection to the admin database; only callmind_bench_* names are touched. */
export async function withPostgresAdmin<T>(
  adminUrl: string,
  work: (admin: {
    exists(name: string): Promise<boolean>;
    create(name: string, template?: string): Promise<void>;
    drop(name: string): Promise<void>;
  }) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const checked = (name: string) => {
    if (!BENCH_DATABASE_NAME.test(name)) throw new Error(`refusing to touch database "${name}"`);
    return `"${name}"`;
  };
  try {
    return await work({
      async exists(name) {
        const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        return rows.length > 0;
      },
      async create(name, template) {
        if (template === undefined) {
          await client.query(`CREATE DATABASE ${checked(name)}`);
          return;
        }
        // FILE_COPY copies the template's files instead of writing them all to the WAL: much
        // faster for a database of several gigabytes (PostgreSQL 15+).
        try {
          await client.query(
            `CREATE DATABASE ${checked(name)} TEMPLATE ${checked(template)} STRATEGY = FILE_COPY`,
          );
        } catch (error) {
          if ((error as { code?: string }).code !== '42601') throw error;
          await client.query(`CREATE DATABASE ${checked(name)} TEMPLATE ${checked(template)}`);
        }
      },
      async drop(name) {
        await client.query(`DROP DATABASE IF EXISTS ${checked(name)} WITH (FORCE)`);
      },
    });
  } finally {
    await client.end();
  }
}

export function sqliteVersion(): string {
  const db = new BetterSqlite3(':memory:');
  try {
    return String(db.prepare('select sqlite_version()').pluck().get());
  } finally {
    db.close();
  }
}

export async function postgresVersion(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}
