// SQLite's writer thread (src/db/sqlite-writer.ts): ingest, status updates and search indexing
// run there, with their own connection, and everything a caller relies on holds across it:
// the API's errors, the lock shared with the main connection's writes, a thread that dies, and
// a close that waits for what is in flight.
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { SqliteWriterThread } from '../../src/db/sqlite-writer.js';
import { GroupCommitTransactor } from '../../src/db/transactor.js';
import { newCallId } from '../../src/lib/ids.js';
import type { IngestWrite } from '../../src/modules/calls/call-writes.js';
import { callStartBody, completionBody, newCallSid } from '../factories.js';
import { createTestApp, makeTempDir, type TestApp } from '../setup/test-app.js';

const WRITE_STEPS = new URL('../../src/write-steps.ts', import.meta.url);

/** Writes counted by the main connection's group commit, and by every group commit. */
async function writeCounts(t: TestApp): Promise<{ main: number; all: number }> {
  const transactor = t.services.transactor;
  if (!(transactor instanceof GroupCommitTransactor)) throw new Error('expected group commit');
  const metrics = await t.services.metrics.registry.getSingleMetricAsString(
    'callmind_sqlite_group_commit_writes_total',
  );
  const all = Number(/_total (\d+)/.exec(metrics)?.[1]);
  return { main: transactor.stats.writes, all };
}

/** The writer thread of a test app (the database hands out the one it started). */
function writerOf(t: TestApp): SqliteWriterThread {
  const thread = t.database.writerThread?.({ module: WRITE_STEPS, settings: {}, batchMax: 1 });
  if (thread === undefined) throw new Error('expected a writer thread');
  return thread;
}

/** POST /api/call-history with a new call, as a client would. */
function postCall(t: TestApp) {
  return t.app.inject({ method: 'POST', url: '/api/call-history', payload: callStartBody() });
}

function ingestWrite(callSid = newCallSid()): IngestWrite {
  return {
    auth: {
      kind: 'dev',
      tenantId: 'tenant_writer',
      userId: 'user_writer',
      orgId: null,
      scopes: [],
      isAdmin: true,
      credentialId: 'dev',
    },
    kind: 'create',
    callSid,
    input: { direction: 'inbound', status: 'in-progress' },
    claimedOwner: { userId: null, orgId: null },
    payload: '{}',
    delivery: undefined,
    order: undefined,
    now: new Date().toISOString(),
    newId: newCallId(),
  };
}

describe('SQLite writer thread', () => {
  const apps: TestApp[] = [];
  const app = async (env: Record<string, string> = {}) => {
    const t = await createTestApp('sqlite', { env });
    apps.push(t);
    return t;
  };
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.close()));
  });

  it('runs ingest, status updates and search indexing, not the main connection', async () => {
    const t = await app();
    const created = await postCall(t);
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const completed = await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      payload: completionBody({ summary: 'writer thread walrus' }),
    });
    expect(completed.statusCode).toBe(200);
    // A search indexes what waits first: that write runs on the thread too.
    const found = await t.app.inject({ method: 'GET', url: '/api/call-history?q=walrus' });
    expect(found.json<{ data: Array<{ id: string }> }>().data.map((call) => call.id)).toEqual([id]);
    const counts = await writeCounts(t);
    expect(counts.main).toBe(0);
    expect(counts.all).toBeGreaterThanOrEqual(3);

    // With the thread off, the same writes are the main connection's.
    const local = await app({ SQLITE_WRITE_THREAD: '0' });
    expect((await postCall(local)).statusCode).toBe(201);
    expect(await writeCounts(local)).toEqual({ main: 1, all: 1 });
  });

  it("answers the API's errors from the thread as the same problems", async () => {
    const t = await app();
    const missing = await t.app.inject({
      method: 'PATCH',
      url: '/api/call-history/call_nope/status',
      payload: { status: 'completed' },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'call_not_found' });

    const { id } = (await postCall(t)).json<{ id: string }>();
    await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      payload: { status: 'completed' },
    });
    const regression = await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      payload: { status: 'ringing' },
    });
    expect(regression.statusCode).toBe(409);
    expect(regression.json()).toMatchObject({
      code: 'status_regression',
      errors: [{ field: 'status', message: 'cannot move from completed to ringing' }],
    });
  });

  it("shares the write lock with the main connection's writes: none waits out its timeout", async () => {
    const t = await app();
    const first = await Promise.all(Array.from({ length: 20 }, () => postCall(t)));
    const ids = first.map((res) => res.json<{ id: string }>().id);
    // Creates on the thread while deletes (the main connection's) run between them.
    const answers = await Promise.all([
      ...Array.from({ length: 200 }, () => postCall(t)),
      ...ids.map((id) => t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` })),
    ]);
    expect(answers.map((res) => res.statusCode).filter((status) => status >= 300)).toEqual([]);
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/call-history?limit=1&includeTotal=true',
    });
    expect(list.json<{ total: number }>().total).toBe(200);
  });

  it('a write that cannot have the lock in SQLITE_BUSY_TIMEOUT_MS is a 503, as on the main thread', async () => {
    const t = await app({ SQLITE_BUSY_TIMEOUT_MS: '300' });
    const holder = new BetterSqlite3(path.join(t.dir, 'callmind.db'));
    try {
      holder.exec('BEGIN IMMEDIATE');
      const busy = await postCall(t);
      expect(busy.statusCode).toBe(503);
      expect(busy.headers['retry-after']).toBeDefined();
      expect(busy.json()).toMatchObject({ code: 'service_unavailable' });
      holder.exec('ROLLBACK');
      const free = await postCall(t);
      expect(free.statusCode).toBe(201);
    } finally {
      holder.close();
    }
  });

  it('a thread that dies fails the writes it held (a 503 the sender retries) and is replaced', async () => {
    const t = await app();
    const thread = writerOf(t);
    await thread.started();
    const worker = (thread as unknown as { worker: Worker }).worker;
    const held = thread.run('ingest', ingestWrite());
    void worker.terminate();
    await expect(held).rejects.toMatchObject({ code: 'SQLITE_WRITER_EXITED' });
    const retried = await postCall(t);
    expect(retried.statusCode).toBe(201);
    expect((thread as unknown as { worker: Worker }).worker).not.toBe(worker);
  });

  it('a thread that cannot start says why, to every write', async () => {
    const file = path.join(makeTempDir(), 'writer.db');
    const database = openDatabase(loadConfig({ DATABASE_URL: `sqlite:${file}` }));
    await migrateToLatest(database.db, database.dialect);
    const thread = new SqliteWriterThread({
      file,
      options: { synchronous: 'full', busyTimeoutMs: 1000 },
      batchMax: 8,
      stepsModule: new URL('./no-such-steps.js', import.meta.url).href,
      stepsSettings: {},
    });
    try {
      await expect(thread.started()).rejects.toThrow(/no-such-steps/);
      await expect(thread.run('ingest', ingestWrite())).rejects.toThrow();
    } finally {
      await thread.close();
      await database.close();
    }
  });

  it('closing waits for the writes in flight, and each is committed', async () => {
    const file = path.join(makeTempDir(), 'writer.db');
    const database = openDatabase(loadConfig({ DATABASE_URL: `sqlite:${file}` }));
    await migrateToLatest(database.db, database.dialect);
    const thread = database.writerThread!({
      module: WRITE_STEPS,
      settings: { registerUnknownAgents: true },
      batchMax: 16,
    });
    const writes = Array.from({ length: 50 }, () => thread.run('ingest', ingestWrite()));
    await database.close();
    const results = await Promise.all(writes);
    expect(results).toHaveLength(50);
    const check = new BetterSqlite3(file, { readonly: true });
    try {
      expect(check.prepare('SELECT count(*) AS n FROM calls').get()).toEqual({ n: 50 });
    } finally {
      check.close();
    }
    await expect(thread.run('ingest', ingestWrite())).rejects.toThrow(/closed/);
  });
});
