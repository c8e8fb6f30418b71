// Opens the configured database and sets (then asserts) what durability depends on.
import path from 'node:path';
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import type { Config } from '../config.js';
import {
  createMemoryChangeChannel,
  createPostgresChangeChannel,
  type ChangeChannel,
} from './change-channel.js';
import { isTransientDatabaseError } from './errors.js';
import { copyRowsOut, type CopiedRow, type CopyRows } from './pg-copy.js';
import { postgresDriver } from './pg-driver.js';
import { createQueryDeadlines, type QueryDeadlines } from './query-deadlines.js';
import { DEFAULT_CACHE_MB, openSqliteConnection, SYNCHRONOUS_LEVEL } from './sqlite-connection.js';
import { ImmediateSqliteDialect } from './sqlite-dialect.js';
import {
  createReaderKysely,
  createSessionKysely,
  SqliteReaderPool,
  SqliteSessionThread,
} from './sqlite-reader.js';
import { attachSearchFile, SEARCH_FILE_FIRST_WRITE, searchFileOf } from './sqlite-search-file.js';
import { SqliteWriterThread } from './sqlite-writer.js';
import type { Database } from './types.js';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  /**
   * Where heavy reads (lists, search, stats, export) run: SQLite reader threads, so they never
   * block writes on the event loop; the same pool as `db` on PostgreSQL.
   */
  readonly readDb: Kysely<Database>;
  readonly dialect: Dialect;
  /**
   * What the instances sharing this database tell each other about writes (the live stream):
   * in memory on SQLite, LISTEN/NOTIFY on PostgreSQL. Closed with the database.
   */
  readonly changes: ChangeChannel;
  /** Where the data lives, for logs: a file path, or a URL without its password. */
  readonly description: string;
  /**
   * The connections' state now, read by the metrics on each scrape (src/metrics.ts). Optional
   * for handles made by hand around a bare connection (the query benchmark's): no pool metrics.
   */
  poolStats?(): PoolStats;
  /**
   * SQLite on a file: the writer thread that runs the steps `steps.module` builds (see
   * sqlite-writer.ts), started on the first call and closed with the database. Absent on
   * PostgreSQL and for `:memory:`, which another connection cannot open.
   */
  writerThread?(steps: WriterSteps): SqliteWriterThread;
  /**
   * SQLite on a file: where the search file is written (sqlite-search-file.ts), a connection on a
   * thread of its own, so that indexing never holds the calls' write lock. Its transactions
   * begin by writing the search file. Started on first use, closed with the database.
   */
  searchIndexDb?(): Kysely<Database>;
  /**
   * PostgreSQL: a SELECT's rows as bytes, through COPY (see pg-copy.ts), on a connection of the
   * pool, bounded as its other queries are. For the export's pages.
   */
  readonly copyRows?: CopyRows;
  close(): Promise<void>;
}

export interface WriterSteps {
  /** The module exporting createWriteSteps (src/write-steps.ts). */
  readonly module: URL;
  readonly settings: unknown;
  /** Writes per shared transaction (WRITE_BATCH_MAX). */
  readonly batchMax: number;
}

export type PoolStats =
  | {
      readonly dialect: 'sqlite';
      /** Reader threads (0: reads run on the main thread). */
      readonly readers: number;
      /** Reads sent to the reader threads and not answered yet (running or queued). */
      readonly readsInFlight: number;
    }
  | {
      readonly dialect: 'postgres';
      /** Connections open in the pool, idle or checked out. */
      readonly total: number;
      readonly idle: number;
      /** Requests waiting for a connection: the pool is exhausted while this is above 0. */
      readonly waiting: number;
    };

/** The search indexer's page cache of the calls' file (see searchIndexDb). */
const SEARCH_INDEXER_CACHE_MB = 4;

export type DatabaseConfig = Pick<Config, 'database' | 'sqlite' | 'postgres'>;

/**
 * `withoutTimeouts`: PostgreSQL connections with no statement or read timeout, for migrations
 * (a backfill at a million calls takes minutes; see migrateDatabase).
 */
export function openDatabase(
  config: DatabaseConfig,
  { withoutTimeouts = false }: { withoutTimeouts?: boolean } = {},
): DatabaseHandle {
  const target = config.database;
  if (target.dialect === 'postgres') {
    return openPostgres(target.url, config.postgres, withoutTimeouts);
  }
  const connection = openSqliteConnection(target.file, config.sqlite);
  const searchFile = searchFileOf(
    target.file === ':memory:' ? ':memory:' : path.resolve(target.file),
  );
  try {
    attachSearchFile(connection, searchFile, SYNCHRONOUS_LEVEL[config.sqlite.synchronous]);
  } catch (error) {
    connection.close();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(connection) });
  const readers = target.file === ':memory:' ? 0 : (config.sqlite.readers ?? 0);
  const readerPool =
    readers > 0
      ? new SqliteReaderPool(path.resolve(target.file), readers, {
          busyTimeoutMs: config.sqlite.busyTimeoutMs,
          cacheKib: (config.sqlite.cacheMb ?? DEFAULT_CACHE_MB) * 1024,
          searchFile,
        })
      : undefined;
  const changes = createMemoryChangeChannel();
  let writer: SqliteWriterThread | undefined;
  let indexer: SqliteSessionThread | undefined;
  let indexDb: Kysely<Database> | undefined;
  return {
    db,
    readDb: readerPool === undefined ? db : createReaderKysely(readerPool),
    dialect: 'sqlite',
    changes,
    description: path.resolve(target.file),
    poolStats: () => ({
      dialect: 'sqlite',
      readers,
      readsInFlight: readerPool?.inFlight ?? 0,
    }),
    ...(target.file === ':memory:'
      ? {}
      : {
          writerThread: (steps: WriterSteps) =>
            (writer ??= new SqliteWriterThread({
              file: path.resolve(target.file),
              options: { ...config.sqlite, cacheMb: config.sqlite.writeThreadCacheMb },
              batchMax: steps.batchMax,
              stepsModule: steps.module.href,
              stepsSettings: steps.settings,
            })),
          searchIndexDb: () => {
            indexer ??= new SqliteSessionThread(path.resolve(target.file), {
              busyTimeoutMs: config.sqlite.busyTimeoutMs,
              // It reads each noted call's text once: the calls' pages need no large cache.
              cacheKib: SEARCH_INDEXER_CACHE_MB * 1024,
              searchFile,
              writes: { synchronousLevel: SYNCHRONOUS_LEVEL[config.sqlite.synchronous] },
            });
            indexDb ??= createSessionKysely(indexer, SEARCH_FILE_FIRST_WRITE);
            return indexDb;
          },
        }),
    close: async () => {
      await changes.close();
      await indexer?.close();
      await writer?.close();
      await readerPool?.close();
      if (connection.open) connection.close();
    },
  };
}

export interface PostgresOptions {
  readonly poolMax: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly parallelWorkers: number;
}

/** The URL with its password replaced, safe to log. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/**
 * The session settings every connection sends with its start-up (no extra round trip).
 * extra_float_digits=1 (PostgreSQL's default, pinned against a server or pooler set lower):
 * every double comes back exact, in the API's records and in the NDJSON lines the database
 * writes.
 */
export function postgresSessionOptions(parallelWorkers: number): string {
  return `-c max_parallel_workers_per_gather=${parallelWorkers} -c extra_float_digits=1`;
}

/** The NOTIFY channel the instances sharing a PostgreSQL database tell each other on. */
const CHANGE_CHANNEL = 'callmind_changes';

function openPostgres(
  url: string,
  options: PostgresOptions,
  withoutTimeouts: boolean,
): DatabaseHandle {
  const pool = new (postgresDriver().Pool)({
    connectionString: url,
    max: options.poolMax,
    connectionTimeoutMillis: options.connectTimeoutMs,
    ...(withoutTimeouts
      ? {}
      : {
          statement_timeout: options.statementTimeoutMs,
        }),
    // A transaction left open by a crashed request must not hold row locks for long.
    idle_in_transaction_session_timeout: Math.max(options.statementTimeoutMs, 10_000),
    application_name: 'callmind',
    options: postgresSessionOptions(options.parallelWorkers),
    // Notice a peer that vanished without closing the socket.
    keepAlive: true,
  });
  // An idle client whose server went away emits 'error' on the pool; without a listener that
  // would crash the process. The next query reconnects, and failing ones answer 503.
  pool.on('error', () => {});
  // A checked-out client whose socket dies emits 'error' too; its query already rejects with
  // the cause, which the request turns into a 503, so the event itself needs only a listener.
  pool.on('connect', (client) => client.on('error', () => {}));
  // The client-side bound for when the network, not the server, is what hangs (a frozen host
  // with the connection open): a second after the server's own statement timeout.
  const deadlines = withoutTimeouts
    ? undefined
    : createQueryDeadlines({
        timeoutMs: options.statementTimeoutMs + 1000,
        checkEveryMs: DEADLINE_CHECK_MS,
      });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: destroyingBrokenClients(pool, deadlines) }),
  });
  const changes = createPostgresChangeChannel(db, {
    channel: CHANGE_CHANNEL,
    connectionString: url,
    sessionOptions: postgresSessionOptions(options.parallelWorkers),
    listenTimeoutMs: options.connectTimeoutMs,
  });
  return {
    db,
    readDb: db,
    dialect: 'postgres',
    copyRows: (selectSql) => copyRowsFromPool(pool, deadlines, selectSql),
    changes,
    description: redactDatabaseUrl(url),
    poolStats: () => ({
      dialect: 'postgres',
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
    close: async () => {
      await changes.close();
      if (!pool.ended) await pool.end();
      deadlines?.close();
    },
  };
}

/**
 * copyRowsOut on a client of the pool, bounded and cleaned up as CheckedOutClient's queries are
 * (see boundedQuery).
 */
async function copyRowsFromPool(
  pool: pg.Pool,
  deadlines: QueryDeadlines | undefined,
  selectSql: string,
): Promise<CopiedRow[]> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await boundedQuery<CopiedRow[]>(
      deadlines,
      () => {
        broken = true;
      },
      (done) => {
        copyRowsOut(client, selectSql).then((rows) => done(undefined, rows), done);
      },
    );
  } finally {
    client.release(broken);
  }
}

/**
 * A query on a client of the pool, started by `start` in pg's callback form. With `deadlines`,
 * one that has not answered by its deadline fails as a read timeout; either that or a failure for
 * connection reasons calls `markBroken`, so that the client is destroyed on release rather than
 * serving the next request still broken.
 */
function boundedQuery<Result>(
  deadlines: QueryDeadlines | undefined,
  markBroken: () => void,
  start: (done: (error: Error | undefined | null, result?: Result) => void) => void,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const unwatch = deadlines?.watch(() => {
      markBroken();
      reject(new Error('Query read timeout: no answer from PostgreSQL'));
    });
    start((error, result) => {
      unwatch?.();
      if (error === undefined || error === null) {
        resolve(result as Result);
        return;
      }
      if (isTransientDatabaseError(error)) markBroken();
      reject(error);
    });
  });
}

/** How often running queries are checked against their deadline (see query-deadlines.ts). */
const DEADLINE_CHECK_MS = 250;

/**
 * The pool as Kysely sees it, except that a client whose query failed for connection reasons
 * (a read timeout, a reset, a server shutdown) is destroyed on release instead of going back
 * to the pool, where the next request would find it still broken. With `deadlines`, a query
 * that has not answered by its deadline fails as a read timeout, and its client is destroyed
 * on release (pg then ends the query still waiting on it).
 */
export function destroyingBrokenClients(pool: pg.Pool, deadlines?: QueryDeadlines): PostgresPool {
  // One wrapper per pg client, kept while the client lives: Kysely makes its connection object
  // the first time it sees what connect() returns, so it now makes one per client instead of
  // one per query.
  const wrappers = new WeakMap<pg.PoolClient, CheckedOutClient>();
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        wrapper = new CheckedOutClient(client, deadlines);
        wrappers.set(client, wrapper);
      }
      wrapper.broken = false;
      return wrapper;
    },
    end: () => pool.end(),
  };
}

/** A pg client as Kysely uses it, checked out: see destroyingBrokenClients. */
class CheckedOutClient implements PostgresPoolClient {
  /** A query of this checkout failed for connection reasons: destroy the client on release. */
  broken = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly deadlines: QueryDeadlines | undefined,
  ) {}

  // Only the (sql, parameters) form is used: no cursor is configured. pg's callback form, not
  // its promise form: with the promise form the young generation kept about 1.9 MB of every
  // collection's survivors (see query-deadlines.ts), and a full collection came every 1.5–2 s
  // at 100 list pages a second; with the callback form, none in ten seconds.
  readonly query = ((sql: string, parameters: readonly unknown[]) =>
    boundedQuery<pg.QueryResult>(
      this.deadlines,
      () => {
        this.broken = true;
      },
      (done) => this.client.query(sql, [...parameters], done),
    )) as unknown as PostgresPoolClient['query'];

  /**
   * Kysely passes `destroy` when a ROLLBACK failed: the session may still be inside the
   * transaction. Kysely also remembers that connection as discarded, and since it keys its
   * connection by this wrapper, a client that went back to the pool would fail every later
   * query with "connection has been discarded".
   */
  release(destroy?: boolean): void {
    this.client.release(this.broken || destroy === true);
  }
}
