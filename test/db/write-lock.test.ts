// SQLite only: when another connection (another server process sharing the file, the CLI) holds
// the write lock, a write transaction waits for it on the event loop. SQLite's own busy handler
// would sleep the whole thread: no request parsed, no timer run, for as long as the lock is held.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteConnection, type SqliteOptions } from '../../src/db/sqlite-connection.js';
import { ImmediateSqliteDialect } from '../../src/db/sqlite-dialect.js';
import { callStartBody } from '../factories.js';
import { createTestApp } from '../setup/test-app.js';

describe('SQLite write lock held by another connection', () => {
  let dir: string;
  let file: string;
  const connections: BetterSqlite3.Database[] = [];

  const open = (options: Partial<SqliteOptions> = {}) => {
    const connection = openSqliteConnection(file, {
      synchronous: 'full',
      busyTimeoutMs: 5_000,
      ...options,
    });
    connections.push(connection);
    return connection;
  };
  const kyselyOver = (connection: BetterSqlite3.Database) =>
    new Kysely<unknown>({ dialect: new ImmediateSqliteDialect(connection) });
  const insert = (db: Kysely<unknown>, value: number) =>
    db.transaction().execute((trx) => sql`insert into t (x) values (${value})`.execute(trx));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-write-lock-'));
    file = path.join(dir, 'db.sqlite');
    open().exec('create table t (x integer not null)');
  });
  afterEach(() => {
    for (const connection of connections.splice(0)) if (connection.open) connection.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('waits with the event loop running, and commits once the other connection has', async () => {
    const other = open();
    other.exec('begin immediate; insert into t (x) values (1)');
    const db = kyselyOver(open());

    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 5);
    const released = new Promise<void>((resolve) =>
      setTimeout(() => {
        other.exec('commit');
        resolve();
      }, 150),
    );
    try {
      const startedAt = Date.now();
      await insert(db, 2);
      const waitedMs = Date.now() - startedAt;
      await released;
      // The other connection committed from a timer on this thread: had the busy handler held
      // the thread, that timer could not have run and the write would have failed after 5 s.
      expect(waitedMs).toBeGreaterThanOrEqual(100);
      expect(waitedMs).toBeLessThan(5_000);
      expect(ticks, 'timers ran while the write waited').toBeGreaterThanOrEqual(10);
    } finally {
      clearInterval(ticker);
    }
    const rows = connections[0]!.prepare('select x from t order by x').pluck().all();
    expect(rows).toEqual([1, 2]);
  });

  it('gives up with SQLITE_BUSY after the busy timeout, and keeps the timeout for later statements', async () => {
    const other = open();
    other.exec('begin immediate');
    const connection = open({ busyTimeoutMs: 200 });
    const db = kyselyOver(connection);

    const startedAt = Date.now();
    await expect(insert(db, 1)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200);
    expect(connection.pragma('busy_timeout', { simple: true })).toBe(200);
    expect(connection.inTransaction).toBe(false);

    other.exec('commit');
    await insert(db, 2);
    expect(connection.prepare('select x from t').pluck().all()).toEqual([2]);
  });
});

describe('a server whose SQLite file another process holds the write lock of', () => {
  it('answers reads while a create waits for the lock, then stores the create', async () => {
    const t = await createTestApp('sqlite');
    const target = t.config.database;
    if (target.dialect !== 'sqlite') throw new Error('expected a SQLite test app');
    const other = openSqliteConnection(target.file, t.config.sqlite);
    try {
      // The CLI's import, say: a write transaction of its own, held while the server works.
      other.exec('begin immediate');
      let created: { statusCode: number; body: string } | undefined;
      const create = t.app
        .inject({ method: 'POST', url: '/api/call-history', payload: callStartBody() })
        .then((answer) => (created = answer));
      await new Promise((resolve) => setTimeout(resolve, 50));

      const list = await t.app.inject({ method: 'GET', url: '/api/call-history' });
      expect(list.statusCode).toBe(200);
      // Had the create's wait held the event loop, the list would have been answered only after
      // the create had given up (a 503 after the busy timeout).
      expect(created, 'the create still waits for the lock').toBeUndefined();

      other.exec('commit');
      await create;
      expect(created!.statusCode).toBe(201);
      const id = (JSON.parse(created!.body) as { id: string }).id;
      expect(
        (await t.app.inject({ method: 'GET', url: `/api/call-history/${id}` })).statusCode,
      ).toBe(200);
    } finally {
      if (other.inTransaction) other.exec('rollback');
      other.close();
      await t.close();
    }
  });
});
