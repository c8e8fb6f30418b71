// The writer thread itself (see sqlite-writer.ts): its own connection with the same pragmas
// as the main one, Kysely over it, and group commit. Each message brings the writes parsed in
// one turn of the main thread's event loop; each commit sends their answers back in one message.
import { parentPort, workerData } from 'node:worker_threads';
import { Kysely, type Transaction } from 'kysely';
import { toTransferableError } from '../errors.js';
import { openSqliteConnection } from './sqlite-connection.js';
import { ImmediateSqliteDialect } from './sqlite-dialect.js';
import type { WriteRequest, WriterMessage, WriterThreadData } from './sqlite-writer.js';
import { GroupCommitTransactor } from './transactor.js';
import type { Database } from './types.js';

/** What the steps module (WriterThreadData.stepsModule) exports. */
export type WriteSteps = Readonly<
  Record<string, (trx: Transaction<Database>, args: never) => Promise<unknown>>
>;
export type CreateWriteSteps = (db: Kysely<Database>, settings: never) => WriteSteps;

const port = parentPort!;
const data = workerData as WriterThreadData;

function post(message: WriterMessage): void {
  port.postMessage(message);
}

async function serve(): Promise<void> {
  const connection = openSqliteConnection(data.file, data.options);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(connection) });
  const transactor = new GroupCommitTransactor(db, data.batchMax);
  const { createWriteSteps } = (await import(data.stepsModule)) as {
    createWriteSteps: CreateWriteSteps;
  };
  const steps = createWriteSteps(db, data.stepsSettings as never);

  type Result = Extract<WriterMessage, { type: 'done' }>['results'][number];
  let results: Result[] = [];
  const answer = (result: Result) => {
    // Every write of a batch settles in the same turn, after its COMMIT: one message for all.
    if (results.length === 0) {
      setImmediate(() => {
        const done = results;
        results = [];
        post({ type: 'done', results: done, stats: { ...transactor.stats } });
      });
    }
    results.push(result);
  };

  port.on('message', (message: { type: 'write'; requests: WriteRequest[] } | { type: 'close' }) => {
    if (message.type === 'close') {
      void transactor.drain().then(() => {
        connection.close();
        post({ type: 'closed' });
      });
      return;
    }
    for (const { id, step, args } of message.requests) {
      const run = steps[step];
      if (run === undefined) {
        answer({ id, error: toTransferableError(new Error(`no write step named ${step}`)) });
        continue;
      }
      transactor
        .write((trx) => run(trx, args as never))
        .then(
          (value) => answer({ id, value }),
          (error: unknown) => answer({ id, error: toTransferableError(error) }),
        );
    }
  });
  post({ type: 'ready' });
}

serve().catch((error: unknown) => post({ type: 'failed', error: toTransferableError(error) }));
