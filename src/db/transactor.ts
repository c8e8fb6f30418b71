// How services run a write transaction. On SQLite, writes that arrive together share one
// transaction and one commit (group commit): each write runs inside its own SAVEPOINT, so one
// write's error (a 409, a 404) rolls back only that write, and every caller is answered only
// after the shared COMMIT has returned. With synchronous=FULL that is one WAL fsync per batch
// instead of one per request. On PostgreSQL each write is its own transaction (the server does
// its own group commit across connections).
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './types.js';

export type WriteWork<T> = (trx: Transaction<Database>) => Promise<T>;

export interface Transactor {
  write<T>(work: WriteWork<T>): Promise<T>;
  /** Resolves once every write queued so far has been committed or rejected. */
  drain(): Promise<void>;
}

interface QueuedWrite {
  readonly work: WriteWork<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export interface GroupCommitStats {
  batches: number;
  writes: number;
}

/** What the metrics read of a group commit, here or on SQLite's writer thread. */
export interface GroupCommitQueue {
  readonly queued: number;
  readonly stats: Readonly<GroupCommitStats>;
}

export class GroupCommitTransactor implements Transactor, GroupCommitQueue {
  readonly stats: GroupCommitStats = { batches: 0, writes: 0 };
  #queue: QueuedWrite[] = [];
  #flushing: Promise<void> | undefined;
  #scheduled = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly maxBatch: number,
  ) {}

  /** Writes waiting for the next batch (not those in the batch being committed). */
  get queued(): number {
    return this.#queue.length;
  }

  write<T>(work: WriteWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushing || this.#scheduled) {
      await (this.#flushing ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    // setImmediate runs after the current I/O phase: every request parsed in this turn of the
    // event loop joins the batch, without adding a fixed delay when the server is idle.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const item of batch) {
          await sql`savepoint write_item`.execute(trx);
          try {
            const value = await item.work(trx);
            await sql`release write_item`.execute(trx);
            outcomes.push({ ok: true, value });
          } catch (error) {
            try {
              await sql`rollback to write_item`.execute(trx);
              await sql`release write_item`.execute(trx);
            } catch {
              // Some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM) roll back the whole
              // transaction, savepoint included: the batch is lost, and the cause is this error.
              throw error;
            }
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (commitError) {
      // Nothing in the batch was committed: every caller learns it, none is told "done".
      for (const item of batch) item.reject(commitError);
      return;
    }
    this.stats.batches += 1;
    this.stats.writes += batch.length;
    batch.forEach((item, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }
}

/** One transaction per write: PostgreSQL, and SQLite when WRITE_BATCH_MAX=1 is measured. */
export class DirectTransactor implements Transactor {
  constructor(private readonly db: Kysely<Database>) {}

  write<T>(work: WriteWork<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }

  async drain(): Promise<void> {}
}
