// Opens a SQLite connection with the pragmas durability depends on. A module of its own because
// SQLite's writer thread opens its connection with it: importing database.ts there would load
// the PostgreSQL driver and the reader threads' code into a thread that uses neither.
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { SqliteSynchronous } from '../config.js';

export interface SqliteOptions {
  readonly synchronous: SqliteSynchronous;
  readonly busyTimeoutMs: number;
  /** Reader threads for heavy reads; 0 reads on the main thread. */
  readonly readers?: number;
  /** The page cache of each connection (the writer's and every reader's), in MiB. */
  readonly cacheMb?: number;
}

/** SQLite's own default is 2 MiB, which at a million calls sends most row lookups to the OS. */
export const DEFAULT_CACHE_MB = 32;

export const SYNCHRONOUS_LEVEL: Record<SqliteSynchronous, number> = { normal: 1, full: 2 };

/**
 * Opens a better-sqlite3 connection with the pragmas durability depends on, and checks that they
 * took. better-sqlite3 is built with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, so a connection that opens
 * an existing WAL database silently runs synchronous=NORMAL unless told otherwise.
 */
export function openSqliteConnection(file: string, options: SqliteOptions): BetterSqlite3.Database {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const connection = new BetterSqlite3(file, { timeout: options.busyTimeoutMs });
  try {
    connection.pragma('journal_mode = WAL');
    connection.pragma(`synchronous = ${SYNCHRONOUS_LEVEL[options.synchronous]}`);
    connection.pragma('foreign_keys = ON');
    connection.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    connection.pragma(`cache_size = -${(options.cacheMb ?? DEFAULT_CACHE_MB) * 1024}`);
    // Statement journals (every write that fires a trigger writing another table: search,
    // facets, rollups) in memory rather than temp files: about 30 µs less per write.
    connection.pragma('temp_store = MEMORY');
    assertSqlitePragmas(connection, options);
  } catch (error) {
    connection.close();
    throw error;
  }
  return connection;
}

export interface SqlitePragmas {
  readonly journalMode: string;
  readonly synchronous: number;
  readonly foreignKeys: number;
  readonly busyTimeout: number;
}

export function readSqlitePragmas(connection: BetterSqlite3.Database): SqlitePragmas {
  return {
    journalMode: String(connection.pragma('journal_mode', { simple: true })),
    synchronous: Number(connection.pragma('synchronous', { simple: true })),
    foreignKeys: Number(connection.pragma('foreign_keys', { simple: true })),
    busyTimeout: Number(connection.pragma('busy_timeout', { simple: true })),
  };
}

function assertSqlitePragmas(connection: BetterSqlite3.Database, options: SqliteOptions): void {
  const actual = readSqlitePragmas(connection);
  const memory = connection.memory;
  const wrong: string[] = [];
  if (!memory && actual.journalMode !== 'wal') wrong.push(`journal_mode=${actual.journalMode}`);
  if (actual.synchronous !== SYNCHRONOUS_LEVEL[options.synchronous]) {
    wrong.push(`synchronous=${actual.synchronous}`);
  }
  if (actual.foreignKeys !== 1) wrong.push(`foreign_keys=${actual.foreignKeys}`);
  if (actual.busyTimeout !== options.busyTimeoutMs)
    wrong.push(`busy_timeout=${actual.busyTimeout}`);
  if (wrong.length > 0) {
    throw new Error(`SQLite connection refused the required settings: ${wrong.join(', ')}`);
  }
}
