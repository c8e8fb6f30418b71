// SQLite's hot writes on a thread of their own. better-sqlite3 is synchronous, so every write
// statement, its commit and Kysely's building of it used to take turns with HTTP on the event
// loop: about half of the main thread's time under ingest (profiled). Here a worker thread holds
// a second write connection and runs whole write transactions, grouped into one commit as on
// the main thread (GroupCommitTransactor); the main thread sends each write's name and plain-data
// arguments and awaits its result. Only the steps a module of the app names can run there
// (src/write-steps.ts); the rarer writes (deletes, erasure, maintenance, imports) keep the main
// connection, and BEGIN IMMEDIATE orders the two connections' transactions.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { fromTransferableError, type TransferableError } from '../errors.js';
import type { SqliteOptions } from './sqlite-connection.js';
import type { GroupCommitStats } from './transactor.js';
import { WORKER_YOUNG_GENERATION_MB, workerResourceLimits } from './worker-heap.js';

/** What the worker is started with (sqlite-writer-worker.ts reads it). */
export interface WriterThreadData {
  readonly file: string;
  readonly options: SqliteOptions;
  /** Writes per shared transaction (WRITE_BATCH_MAX). */
  readonly batchMax: number;
  /** The module whose createWriteSteps(db, settings) builds the steps this thread runs. */
  readonly stepsModule: string;
  /** Plain data for createWriteSteps (what the main thread's config says). */
  readonly stepsSettings: unknown;
}

/** Main → worker: writes to run, sent together once per turn of the event loop. */
export interface WriteRequest {
  readonly id: number;
  readonly step: string;
  readonly args: unknown;
}

/** Worker → main: answers, sent together after each commit. */
export type WriterMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly error: TransferableError }
  | {
      readonly type: 'done';
      readonly results: ReadonlyArray<
        | { readonly id: number; readonly value: unknown }
        | { readonly id: number; readonly error: TransferableError }
      >;
      readonly stats: GroupCommitStats;
    }
  | { readonly type: 'closed' };

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * The module `name` beside `base` (an import.meta.url), as the running code has it: `.ts` when
 * it runs from the TypeScript sources (tests, `npm run dev`), `.js` from the build.
 */
export function moduleBeside(base: string, name: string): URL {
  return new URL(`./${name}.${base.endsWith('.ts') ? 'ts' : 'js'}`, base);
}

/**
 * How the worker's code is loaded. From the build it is plain JavaScript. From the TypeScript
 * sources (tests, `npm run dev`) the worker registers tsx first, the same loader the sources
 * run under.
 */
function workerEntry(): { source: string; url: URL; tsxApi: string | undefined } {
  const url = moduleBeside(import.meta.url, 'sqlite-writer-worker');
  const tsxApi = url.pathname.endsWith('.ts')
    ? createRequire(import.meta.url)
        .resolve('tsx/esm/api')
        .replace(/index\.cjs$/, 'index.mjs')
    : undefined;
  const source = `
const { workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
(async () => {
  if (workerData.tsxApi) (await import(pathToFileURL(workerData.tsxApi).href)).register();
  await import(workerData.entry);
})().catch((error) => {
  require('node:worker_threads').parentPort.postMessage({
    type: 'failed',
    error: { kind: 'error', name: 'Error', message: String(error && error.stack || error) },
  });
});`;
  return { source, url, tsxApi };
}

export class SqliteWriterThread {
  readonly stats: GroupCommitStats = { batches: 0, writes: 0 };
  /** Started by the first write (or `started()`): a CLI command that never writes starts none. */
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private outbox: WriteRequest[] = [];
  private nextId = 0;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private drained: Array<() => void> = [];
  /** The counts of the threads that came before this one (a thread that died was replaced). */
  private earlierStats: GroupCommitStats = { batches: 0, writes: 0 };

  constructor(private readonly data: WriterThreadData) {}

  private spawn(): void {
    const entry = workerEntry();
    const worker = new Worker(entry.source, {
      eval: true,
      workerData: { ...this.data, entry: entry.url.href, tsxApi: entry.tsxApi },
      // From the sources the worker loads tsx itself; inheriting `--import tsx` would load it twice.
      ...(entry.tsxApi === undefined ? {} : { execArgv: [] }),
      resourceLimits: workerResourceLimits(WORKER_YOUNG_GENERATION_MB.writer),
    });
    this.worker = worker;
    this.failure = undefined;
    this.earlierStats = { ...this.stats };
    let markReady: () => void = () => {};
    let markFailed: (error: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    // A start-up failure is reported to whoever awaits `started()`, and to every write.
    this.ready.catch(() => {});
    const fail = (error: Error) => {
      markFailed(error);
      if (this.worker === worker) this.fail(error);
    };
    worker.on('message', (message: WriterMessage) => {
      if (message.type === 'ready') markReady();
      else if (message.type === 'failed') fail(fromTransferableError(message.error));
      else if (message.type === 'done') this.settle(message);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      // Transient (a 503, retried by the sender), as a reader thread's exit.
      const error = new Error(`SQLite writer thread exited with code ${code}`) as Error & {
        code: string;
      };
      error.code = 'SQLITE_WRITER_EXITED';
      fail(error);
    });
  }

  /** Resolves once the thread has opened its connection; rejects with why it could not. */
  started(): Promise<void> {
    if (this.worker === undefined) this.spawn();
    return this.ready!;
  }

  /** Writes sent and not answered yet. */
  get queued(): number {
    return this.pending.size;
  }

  run(step: string, args: unknown): Promise<unknown> {
    if (this.closing !== undefined) {
      return Promise.reject(new Error('the SQLite writer thread is closed'));
    }
    // A thread that died (it should not) is replaced for the next write. The writes it held
    // were answered with its failure, a 503 the sender retries (ingest is idempotent).
    if (this.worker === undefined) this.spawn();
    else if (this.failure !== undefined) {
      void this.worker.terminate();
      this.spawn();
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Every write parsed in this turn of the event loop goes in one message.
      if (this.outbox.length === 0) setImmediate(() => this.send());
      this.outbox.push({ id, step, args });
    });
  }

  /** Resolves once every write sent so far has been answered. */
  drain(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** Waits for the writes in flight, then closes the thread's connection and the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.drain();
      if (this.worker === undefined) return;
      const worker = this.worker;
      if (this.failure === undefined) {
        const closed = new Promise<void>((resolve) => {
          worker.on('message', (message: WriterMessage) => {
            if (message.type === 'closed') resolve();
          });
          worker.once('exit', () => resolve());
        });
        worker.postMessage({ type: 'close' });
        await closed;
      }
      await worker.terminate();
    })();
    return this.closing;
  }

  private send(): void {
    const requests = this.outbox;
    this.outbox = [];
    if (requests.length === 0) return;
    if (this.failure !== undefined) {
      for (const request of requests) this.rejectOne(request.id, this.failure);
      return;
    }
    try {
      this.worker!.postMessage({ type: 'write', requests });
    } catch (error) {
      // An argument that cannot be cloned (a bug: the steps take plain data) fails its batch.
      for (const request of requests) this.rejectOne(request.id, error);
    }
  }

  private settle(message: Extract<WriterMessage, { type: 'done' }>): void {
    this.stats.batches = this.earlierStats.batches + message.stats.batches;
    this.stats.writes = this.earlierStats.writes + message.stats.writes;
    for (const result of message.results) {
      const pending = this.pending.get(result.id);
      if (pending === undefined) continue;
      this.pending.delete(result.id);
      if ('error' in result) pending.reject(fromTransferableError(result.error));
      else pending.resolve(result.value);
    }
    this.notifyDrained();
  }

  private rejectOne(id: number, error: unknown): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    pending.reject(error);
    this.notifyDrained();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.notifyDrained();
  }

  private notifyDrained(): void {
    if (this.pending.size > 0) return;
    const waiting = this.drained;
    this.drained = [];
    for (const resolve of waiting) resolve();
  }
}
