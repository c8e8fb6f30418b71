// Heavy SQLite reads (lists, search, stats, export pages) off the event loop. better-sqlite3 is
// synchronous: a 40 ms stats query on the main thread is 40 ms in which no write is accepted.
// Here a worker thread holds its own read-only connection (WAL lets it read while the main
// connection writes) and runs the SQL Kysely compiled; the main thread only awaits the rows.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { Database } from './types.js';
import { WORKER_YOUNG_GENERATION_MB, workerResourceLimits } from './worker-heap.js';

/**
 * The worker's code, kept here as text so the same file works from TypeScript sources (tests,
 * tsx) and from the build: a worker file would need its own loader in each. It is CommonJS and
 * loads better-sqlite3 by the absolute path the main thread resolved.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const writes = workerData.writes;
const db = new Database(workerData.file, {
  readonly: writes === undefined,
  fileMustExist: true,
  timeout: workerData.busyTimeoutMs,
});
db.pragma('busy_timeout = ' + workerData.busyTimeoutMs);
db.pragma('cache_size = -' + workerData.cacheKib);
// The search index's own file (sqlite-search-file.ts): read-only as the rest, or written by
// the search indexer's connection with the database's durability.
db.prepare('ATTACH DATABASE ? AS search').run(workerData.searchFile);
if (writes !== undefined) {
  db.pragma('synchronous = ' + writes.synchronousLevel);
  db.pragma('search.synchronous = ' + writes.synchronousLevel);
  db.pragma('foreign_keys = ON');
  db.pragma('temp_store = MEMORY');
  if (db.pragma('search.synchronous', { simple: true }) !== writes.synchronousLevel) {
    throw new Error('the search file refused its synchronous setting');
  }
}
const statements = new Map();
// Columns named "line" and "line_end" are a call's text built by the database (the
// repository's callJson and callCsv): a page's texts go as UTF-8 bytes in one buffer that is
// transferred, not copied, each row's text a view into it. As strings they were copied into the
// main thread, joined and encoded there again: a fifth of its time per page (profiled).
const TEXT_COLUMNS = ['line', 'line_end'];
function packTexts(rows) {
  if (rows.length === 0) return undefined;
  const columns = TEXT_COLUMNS.filter((column) =>
    rows.every((row) => typeof row[column] === 'string'),
  );
  if (columns.length === 0) return undefined;
  let total = 0;
  const lengths = rows.map((row) =>
    columns.map((column) => {
      const length = Buffer.byteLength(row[column], 'utf8');
      total += length;
      return length;
    }),
  );
  const buffer = new ArrayBuffer(total);
  const bytes = Buffer.from(buffer);
  let offset = 0;
  rows.forEach((row, index) => {
    columns.forEach((column, c) => {
      const length = lengths[index][c];
      bytes.write(row[column], offset, 'utf8');
      row[column] = new Uint8Array(buffer, offset, length);
      offset += length;
    });
  });
  return buffer;
}
parentPort.on('message', ({ id, sql, parameters }) => {
  try {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      // SQLite applies a PRAGMA's value when it is prepared: such a statement is never reused.
      if (!sql.trimStart().toLowerCase().startsWith('pragma')) {
        if (statements.size >= 500) statements.clear();
        statements.set(sql, statement);
      }
    }
    if (!statement.reader) {
      if (writes === undefined) throw new Error('the read pool only runs queries that return rows');
      statement.run(parameters);
      parentPort.postMessage({ id, rows: [] });
      return;
    }
    const rows = statement.all(parameters);
    const buffer = packTexts(rows);
    parentPort.postMessage({ id, rows }, buffer === undefined ? [] : [buffer]);
  } catch (error) {
    parentPort.postMessage({
      id,
      error: { message: String(error && error.message), code: error && error.code },
    });
  }
});
`;

interface Pending {
  resolve(rows: unknown[]): void;
  reject(error: Error): void;
}

class ReaderThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(file: string, { busyTimeoutMs, cacheKib, searchFile, writes }: ReaderSettings) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file, busyTimeoutMs, cacheKib, searchFile, writes, driverPath },
      resourceLimits: workerResourceLimits(WORKER_YOUNG_GENERATION_MB.reader),
    });
    this.worker.unref();
    this.worker.on('message', (message: { id: number; rows?: unknown[]; error?: ReaderError }) => {
      const pending = this.pending.get(message.id);
      if (pending === undefined) return;
      this.pending.delete(message.id);
      if (message.error !== undefined) {
        const error = new Error(message.error.message) as Error & { code?: string };
        if (message.error.code !== undefined) error.code = message.error.code;
        pending.reject(error);
      } else {
        pending.resolve(message.rows ?? []);
      }
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      // Transient (a 503, retried by the sender): the pool starts a new thread for the next read.
      const error = new Error(`SQLite reader exited with code ${code}`) as Error & { code: string };
      error.code = 'SQLITE_READER_EXITED';
      fail(error);
    });
  }

  /** Reads this thread holds, running or next (at most READS_PER_THREAD, the pool's cap). */
  get load(): number {
    return this.pending.size;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  run(sql: string, parameters: readonly unknown[]): Promise<unknown[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<unknown[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, sql, parameters });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

interface ReaderError {
  message: string;
  code?: string;
}

export interface ReaderSettings {
  readonly busyTimeoutMs: number;
  /** Each reader connection's page cache, in KiB. */
  readonly cacheKib: number;
  /** The search index's file, attached as `search` (sqlite-search-file.ts). */
  readonly searchFile: string;
  /** A connection that writes (the search indexer's), with the database's durability. */
  readonly writes?: { readonly synchronousLevel: number } | undefined;
}

/**
 * Reads a reader thread holds at once; the rest wait in the pool's queue. A few, so that a
 * thread always has the next one when it sends a read back, without waiting for the main thread
 * to hand it one: with 2, a busy main thread left the readers idle (a third fewer list pages a
 * second at a million calls); with 8, as many as sending each read straight to a thread.
 */
export const READS_PER_THREAD = 8;

interface QueuedRead {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly resolve: (rows: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A few reader threads behind one queue, first come first served: a thread is given the next
 * read when it holds fewer than READS_PER_THREAD. Sending each read straight to the thread with
 * the fewest waiting made a queue per thread as long as the load, and reads of very different
 * lengths piled up behind one thread's long ones: with 50 clients asking for a year of stats as
 * fast as answered (a million calls), the p99 was 4.7–6.8 s against a median of 0.4–0.5 s; with
 * the shared queue 0.9–1.2 s against 0.6–0.8 (README, "Finding calls at a million").
 */
export class SqliteReaderPool {
  private threads: ReaderThread[];
  private readonly queue: QueuedRead[] = [];
  private closed = false;

  constructor(
    private readonly file: string,
    size: number,
    private readonly settings: ReaderSettings,
  ) {
    this.threads = Array.from({ length: size }, () => new ReaderThread(file, settings));
  }

  /** Reads sent and not answered yet, queued or on a thread (for the metrics). */
  get inFlight(): number {
    return this.queue.length + this.threads.reduce((sum, thread) => sum + thread.load, 0);
  }

  run(sql: string, parameters: readonly unknown[]): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new Error('the SQLite read pool is closed'));
    return new Promise<unknown[]>((resolve, reject) => {
      this.queue.push({ sql, parameters, resolve, reject });
      this.dispatch();
    });
  }

  /** Gives queued reads, oldest first, to the threads with room for one. */
  private dispatch(): void {
    // A thread that died (it should not) is replaced rather than failing every later read.
    if (this.threads.some((thread) => thread.failed)) {
      this.threads = this.threads.map((thread) =>
        thread.failed ? new ReaderThread(this.file, this.settings) : thread,
      );
    }
    while (this.queue.length > 0) {
      const thread = this.threads.reduce((least, candidate) =>
        candidate.load < least.load ? candidate : least,
      );
      if (thread.load >= READS_PER_THREAD) return;
      const read = this.queue.shift()!;
      thread
        .run(read.sql, read.parameters)
        .then(read.resolve, read.reject)
        .finally(() => {
          if (!this.closed) this.dispatch();
        });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const error = new Error('the SQLite read pool is closed');
    for (const read of this.queue.splice(0)) read.reject(error);
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}

/** A Kysely connection whose statements run on worker threads: the read pool's or a session's. */
class ThreadConnection implements DatabaseConnection {
  constructor(
    private readonly runner: {
      run(sql: string, parameters: readonly unknown[]): Promise<unknown[]>;
    },
    private readonly name: string,
  ) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const rows = await this.runner.run(compiledQuery.sql, compiledQuery.parameters);
    return { rows: rows as R[] };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error(`${this.name} does not stream; read in keyset pages`);
  }
}

class ReaderDriver implements Driver {
  private readonly connection: ThreadConnection;

  constructor(pool: SqliteReaderPool) {
    this.connection = new ThreadConnection(pool, 'the SQLite read pool');
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection;
  }

  beginTransaction(): Promise<void> {
    return Promise.reject(new Error('the SQLite read pool is read-only: no transactions'));
  }

  commitTransaction(): Promise<void> {
    return this.beginTransaction();
  }

  rollbackTransaction(): Promise<void> {
    return this.beginTransaction();
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {}
}

/** A Kysely instance whose queries run on the reader threads. */
export function createReaderKysely(pool: SqliteReaderPool): Kysely<Database> {
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new ReaderDriver(pool),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}

/**
 * One connection of its own on a thread of its own, which writes: the search indexer's
 * (sqlite-search-file.ts). Kysely runs its transactions there, a statement a message; the
 * main thread only builds them. Its writes go to the search file alone, so its transaction
 * begins deferred and takes that file's write lock with `firstWrite` before reading anything.
 * A thread that dies is replaced for the next transaction.
 */
export class SqliteSessionThread {
  private thread: ReaderThread;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly settings: ReaderSettings & { readonly writes: { synchronousLevel: number } },
  ) {
    this.thread = new ReaderThread(file, settings);
  }

  get busyTimeoutMs(): number {
    return this.settings.busyTimeoutMs;
  }

  run(sql: string, parameters: readonly unknown[]): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new Error('the SQLite session thread is closed'));
    if (this.thread.failed) this.thread = new ReaderThread(this.file, this.settings);
    return this.thread.run(sql, parameters);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.thread.close();
  }
}

class SessionDriver implements Driver {
  private readonly connection: ThreadConnection;
  /** One transaction at a time on the one connection: set while one holds it. */
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;

  constructor(
    private readonly session: SqliteSessionThread,
    private readonly firstWrite: string,
    private readonly busyTimeoutMs: number,
  ) {
    this.connection = new ThreadConnection(session, 'the SQLite session thread');
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    while (this.held !== undefined) await this.held;
    this.held = new Promise((resolve) => (this.release = resolve));
    return this.connection;
  }

  /**
   * Takes the search file's write lock as BEGIN IMMEDIATE does on the main connection: a try
   * that fails at once while another connection holds it, then another a millisecond later,
   * until the busy timeout. SQLite's busy handler would sleep longer and longer between its
   * tries, and lose the lock every time to a connection that retries sooner (the CLI's import).
   */
  async beginTransaction(): Promise<void> {
    const giveUpAt = Date.now() + this.busyTimeoutMs;
    await this.session.run('PRAGMA busy_timeout = 0', []);
    try {
      for (;;) {
        await this.session.run('begin', []);
        try {
          await this.session.run(this.firstWrite, []);
          return;
        } catch (error) {
          await this.session.run('rollback', []).catch(() => {});
          const code = (error as { code?: unknown }).code;
          const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
          if (!busy || Date.now() >= giveUpAt) throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } finally {
      await this.session.run(`PRAGMA busy_timeout = ${this.busyTimeoutMs}`, []);
    }
  }

  async commitTransaction(): Promise<void> {
    await this.session.run('commit', []);
  }

  async rollbackTransaction(): Promise<void> {
    // After a failed COMMIT SQLite may already have rolled back: "no transaction is active".
    await this.session.run('rollback', []).catch(() => {});
  }

  async releaseConnection(): Promise<void> {
    const release = this.release;
    this.held = undefined;
    this.release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {}
}

/** A Kysely instance whose queries and transactions run on `session`'s connection. */
export function createSessionKysely(
  session: SqliteSessionThread,
  firstWrite: string,
): Kysely<Database> {
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new SessionDriver(session, firstWrite, session.busyTimeoutMs),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}
