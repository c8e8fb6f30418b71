// Kysely's SQLite dialect, with two changes that matter for an ingest server:
// - write transactions start with BEGIN IMMEDIATE: a deferred BEGIN that reads and then writes
//   can fail with SQLITE_BUSY despite the busy timeout when another process (the CLI, a second
//   server) holds the write lock;
// - prepared statements are cached by SQL text instead of prepared on every query;
// - when another process holds the write lock (the CLI importing, a second server on the same
//   file), BEGIN IMMEDIATE waits for it on the event loop (timers), not in SQLite's busy
//   handler, which sleeps the thread: the server goes on answering reads and parsing requests.
import type BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

const STATEMENT_CACHE_SIZE = 500;

class CachingSqliteConnection implements DatabaseConnection {
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  constructor(private readonly db: BetterSqlite3.Database) {}

  #prepare(sqlText: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sqlText);
    if (statement === undefined) {
      statement = this.db.prepare(sqlText);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        // Maps iterate in insertion order: drop the oldest entry.
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sqlText, statement);
    }
    return statement;
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.#prepare(compiledQuery.sql);
    const parameters = compiledQuery.parameters as unknown[];
    if (statement.reader) {
      return Promise.resolve({ rows: statement.all(parameters) as R[] });
    }
    const { changes, lastInsertRowid } = statement.run(parameters);
    return Promise.resolve({
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
      rows: [],
    });
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const statement = this.#prepare(compiledQuery.sql);
    for (const row of statement.iterate(compiledQuery.parameters)) {
      yield { rows: [row as R] };
    }
  }
}

/** Serialises use of the single connection, as Kysely's own SQLite driver does. */
class ConnectionMutex {
  #locked: Promise<void> | undefined;
  #release: (() => void) | undefined;

  async lock(): Promise<void> {
    while (this.#locked) await this.#locked;
    this.#locked = new Promise((resolve) => (this.#release = resolve));
  }

  unlock(): void {
    const release = this.#release;
    this.#locked = undefined;
    this.#release = undefined;
    release?.();
  }
}

/** How long BEGIN IMMEDIATE waits between tries while another process holds the write lock. */
const LOCK_RETRY_MS = 1;

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY: another connection recovers the WAL). */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

class ImmediateSqliteDriver implements Driver {
  readonly #mutex = new ConnectionMutex();
  readonly #connection: CachingSqliteConnection;
  /** The connection's busy timeout as opened: how long BEGIN IMMEDIATE keeps trying. */
  readonly #busyTimeoutMs: number;

  constructor(private readonly db: BetterSqlite3.Database) {
    this.#connection = new CachingSqliteConnection(db);
    this.#busyTimeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
  }

  /**
   * BEGIN IMMEDIATE without SQLite's busy handler: it fails at once while another connection
   * writes, and is tried again after a timer until the busy timeout has passed, so the event
   * loop keeps running meanwhile. Inside the transaction the write lock is held, so the busy
   * timeout (restored at once) only matters to statements run outside one. The pragma is run
   * anew each time, not prepared once: SQLite applies a PRAGMA's value when it is prepared.
   */
  async #beginImmediate(connection: DatabaseConnection): Promise<void> {
    const giveUpAt = Date.now() + this.#busyTimeoutMs;
    for (;;) {
      this.db.pragma('busy_timeout = 0');
      try {
        await connection.executeQuery(CompiledQuery.raw('begin immediate'));
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= giveUpAt) throw error;
      } finally {
        this.db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`);
      }
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
    }
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#beginImmediate(connection);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // After a failed COMMIT (e.g. SQLITE_FULL) SQLite may already have rolled back.
    if (this.db.inTransaction) await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.db.close();
  }
}

/**
 * SQLite's DDL is transactional, but Kysely's adapter says otherwise, so its migrator would run
 * each migration outside a transaction: one failing halfway (a bad backfill, a full disk) would
 * leave its tables behind and the next start would fail on "already exists". Saying so makes
 * the migrator run them inside one (BEGIN IMMEDIATE, which also keeps two processes from
 * migrating at once).
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class ImmediateSqliteDialect implements Dialect {
  constructor(private readonly db: BetterSqlite3.Database) {}

  createDriver(): Driver {
    return new ImmediateSqliteDriver(this.db);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
