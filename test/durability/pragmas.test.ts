// What durability rests on, checked on real files: every connection the server opens runs in WAL
// mode with the configured synchronous level, foreign keys on and the configured busy timeout.
// The trap this guards: better-sqlite3 is built with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, so a
// connection that opens an EXISTING WAL database silently gets synchronous=NORMAL (a commit can be
// lost on power failure) unless it sets the level itself.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import {
  openSqliteConnection,
  readSqlitePragmas,
  type SqliteOptions,
} from '../../src/db/sqlite-connection.js';
import { migrateToLatest } from '../../src/db/migrator.js';

const FULL = 2;
const NORMAL = 1;

describe('SQLite pragmas on every connection', () => {
  let dir: string;
  let file: string;
  const opened: BetterSqlite3.Database[] = [];
  const open = (options: SqliteOptions) => {
    const connection = openSqliteConnection(file, options);
    opened.push(connection);
    return connection;
  };
  const openRaw = () => {
    const connection = new BetterSqlite3(file, { fileMustExist: true });
    opened.push(connection);
    return connection;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-pragmas-'));
    file = path.join(dir, 'db.sqlite');
  });
  afterEach(() => {
    for (const connection of opened.splice(0)) if (connection.open) connection.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the defaults (loadConfig with no env): WAL, synchronous=FULL, foreign keys, 5000 ms, two reader threads, 32 MiB caches', () => {
    const { sqlite } = loadConfig({});
    expect(sqlite).toEqual({
      synchronous: 'full',
      busyTimeoutMs: 5000,
      readers: 2,
      cacheMb: 32,
      writeThread: true,
      writeThreadCacheMb: 8,
    });
    const connection = open(sqlite);
    expect(connection.pragma('cache_size', { simple: true })).toBe(-32 * 1024);
    expect(connection.pragma('temp_store', { simple: true }), 'temp_store=MEMORY').toBe(2);
    expect(readSqlitePragmas(connection)).toEqual({
      journalMode: 'wal',
      synchronous: FULL,
      foreignKeys: 1,
      busyTimeout: 5000,
    });
  });

  it('SQLITE_SYNCHRONOUS=normal and SQLITE_BUSY_TIMEOUT_MS are what the connection gets', () => {
    const { sqlite } = loadConfig({ SQLITE_SYNCHRONOUS: 'normal', SQLITE_BUSY_TIMEOUT_MS: '1234' });
    const connection = open(sqlite);
    expect(readSqlitePragmas(connection)).toEqual({
      journalMode: 'wal',
      synchronous: NORMAL,
      foreignKeys: 1,
      busyTimeout: 1234,
    });
  });

  it('control: a plain better-sqlite3 connection to an existing WAL database gets NORMAL', () => {
    open({ synchronous: 'full', busyTimeoutMs: 5000 }).close(); // the file is now in WAL mode
    const raw = openRaw();
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    // The build default this suite guards against; if it ever changes, the guard is still right.
    expect(raw.pragma('synchronous', { simple: true })).toBe(NORMAL);
  });

  it.each([
    ['full', FULL],
    ['normal', NORMAL],
  ] as const)(
    'a second connection to an existing WAL database gets synchronous=%s too',
    (level, expected) => {
      const options: SqliteOptions = { synchronous: level, busyTimeoutMs: 2500 };
      const first = open(options);
      first.exec('create table t (x integer)');
      first.prepare('insert into t (x) values (1)').run();
      // Opened while the first one is still open (server and CLI together), then once more after
      // the first has closed (a restart): the file is WAL in both cases.
      const second = open(options);
      first.close();
      const third = open(options);
      for (const connection of [second, third]) {
        expect(readSqlitePragmas(connection)).toEqual({
          journalMode: 'wal',
          synchronous: expected,
          foreignKeys: 1,
          busyTimeout: 2500,
        });
        // Still so after the connection has read and written (a read is when SQLite notices WAL).
        connection.prepare('insert into t (x) values (2)').run();
        expect(connection.prepare('select count(*) from t').pluck().get()).toBeGreaterThan(0);
        expect(readSqlitePragmas(connection).synchronous).toBe(expected);
      }
    },
  );

  it.each([
    ['full', FULL],
    ['normal', NORMAL],
  ] as const)(
    "the server's path (openDatabase, migrations, reopen) runs synchronous=%s",
    async (level, expected) => {
      const config = loadConfig({
        DATABASE_URL: `sqlite:${file}`,
        SQLITE_SYNCHRONOUS: level,
        SQLITE_BUSY_TIMEOUT_MS: '3000',
      });
      const pragmasOf = async (handle: ReturnType<typeof openDatabase>) => {
        const read = async (name: string) => {
          const { rows } = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(
            handle.db,
          );
          return Object.values(rows[0] ?? {})[0];
        };
        return {
          journalMode: await read('journal_mode'),
          synchronous: await read('synchronous'),
          foreignKeys: await read('foreign_keys'),
          busyTimeout: await read('busy_timeout'),
        };
      };
      const expectedPragmas = {
        journalMode: 'wal',
        synchronous: expected,
        foreignKeys: 1,
        busyTimeout: 3000,
      };

      const first = openDatabase(config);
      try {
        await migrateToLatest(first.db, first.dialect);
        expect(await pragmasOf(first)).toEqual(expectedPragmas);
      } finally {
        await first.close();
      }
      // A restart: the file already exists and is in WAL mode.
      const second = openDatabase(config);
      try {
        expect(await pragmasOf(second)).toEqual(expectedPragmas);
      } finally {
        await second.close();
      }
    },
  );
});
