// Both dialects add calls to their search index in batches after their writes commit (SQLite
// T1600, PostgreSQL 2026-12-07T1000). What a user relies on must not change: a search sees every
// write acknowledged before it, in the list, the stats and the export; an erased call never
// comes back; a call still waiting at a stop is indexed after the next start; and the server
// indexes on its own, with no search to prompt it. On PostgreSQL several servers index at once,
// and a write can race an indexer: no change may slip past the index.
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { GroupCommitTransactor } from '../../src/db/transactor.js';
import { searchFileOf } from '../../src/db/sqlite-search-file.js';
import { openDatabase } from '../../src/db/database.js';
import { startServer } from '../../src/main.js';
import { createCallRepository } from '../../src/modules/calls/calls.repository.js';
import type { Call } from '../../src/modules/calls/calls.schemas.js';
import { newCallRow, newCallSid, uniqueId } from '../factories.js';
import { stoppingAfter } from '../setup/stopping.js';
import {
  createTestApp,
  createTestPostgresDatabase,
  makeTempDir,
  TEST_DIALECTS,
  type TestApp,
  type TestDialect,
} from '../setup/test-app.js';

/** The calls noted for the index and not yet in it (the notes done wait to be deleted). */
function pendingOf(file: string): number[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    db.prepare('ATTACH DATABASE ? AS search').run(searchFileOf(file));
    return db
      .prepare(
        `SELECT call_rowid FROM calls_search_pending
         WHERE seq > (SELECT indexed_up_to FROM search.search_index_state)`,
      )
      .pluck()
      .all() as number[];
  } finally {
    db.close();
  }
}

/**
 * How many documents FTS5 has had inserted: the first varint of its averages record (row 1 of
 * the data table). Every insert raises it; in a contentless-delete index, deletes leave it.
 */
function documentsIndexed(file: string): number {
  const db = new BetterSqlite3(searchFileOf(file), { readonly: true });
  try {
    const record = db.prepare('SELECT block FROM calls_search_data WHERE id = 1').pluck().get() as
      Buffer | undefined;
    if (record === undefined) return 0;
    // SQLite's varint: big-endian groups of 7 bits, the high bit set on every byte but the last.
    let value = 0;
    for (const byte of record.subarray(0, 8)) {
      value = value * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
    return value;
  } finally {
    db.close();
  }
}

/** How many calls are noted for the search index and not yet in it, on either dialect. */
async function waitingCount({ database }: Pick<TestApp, 'database'>): Promise<number> {
  if (database.dialect === 'sqlite') return pendingOf(database.description).length;
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM call_search_pending`.execute(database.db);
  return Number(rows[0]!.n);
}

/** How many calls the index itself (not a search, which indexes first) holds `word` for. */
async function indexedCount(
  { database }: Pick<TestApp, 'database'>,
  word: string,
): Promise<number> {
  if (database.dialect === 'sqlite') return indexedRowidsOf(database.description, word).length;
  const { rows } = await sql<{ n: string }>`
    SELECT count(*) AS n FROM call_search
    WHERE document @@ to_tsquery('simple', ${word})`.execute(database.db);
  return Number(rows[0]!.n);
}

/** A database of `dialect` for a server of a test's own; `drop` removes it. */
async function databaseFor(
  dialect: TestDialect,
  dir: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  if (dialect === 'postgres') return createTestPostgresDatabase();
  return { url: `sqlite:${path.join(dir, `own-${uniqueId('db_')}.db`)}`, drop: async () => {} };
}

function indexedRowidsOf(file: string, word: string): number[] {
  const db = new BetterSqlite3(searchFileOf(file), { readonly: true });
  try {
    return db
      .prepare('SELECT rowid FROM calls_search WHERE calls_search MATCH ?')
      .pluck()
      .all(`"${word}"`) as number[];
  } finally {
    db.close();
  }
}

describe.each(TEST_DIALECTS)('search sees every acknowledged write (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const inject = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    t.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });

  /** A call completed just now with `word` in its transcript; on SQLite not yet indexed. */
  const completedWith = async (agentId: string, word: string): Promise<Call> => {
    const created = await inject('POST', '/api/call-history', {
      agentId,
      callSid: newCallSid(),
      callerName: 'Ada',
    });
    expect(created.statusCode, created.body).toBe(201);
    const call = created.json<Call>();
    const patched = await inject('PATCH', `/api/call-history/${call.id}/status`, {
      status: 'completed',
      transcript: `Agent: Hello!\nCaller: my ${word} order never came`,
    });
    expect(patched.statusCode, patched.body).toBe(200);
    // Not indexed by its own write: noted for the next batch.
    expect(await waitingCount(t)).toBeGreaterThan(0);
    expect(await indexedCount(t, word)).toBe(0);
    return call;
  };
  const idsOf = (page: { data: Call[] }) => page.data.map((found) => found.id);

  /** A call of `callerNumber` named `callerName`, for the erasure tests. */
  const callOfCaller = async (callerNumber: string, callerName: string): Promise<void> => {
    const created = await inject('POST', '/api/call-history', {
      agentId: 'agent_erase',
      callSid: newCallSid(),
      callerNumber,
      callerName,
    });
    expect(created.statusCode, created.body).toBe(201);
  };

  it('a call completed a moment ago is found by every read that searches', async () => {
    const agentId = uniqueId('agent_fresh_');
    // Each read faces a call of its own, still waiting for the index.
    const newest = await completedWith(agentId, 'quokkanewest');
    expect(idsOf((await inject('GET', `/api/call-history?q=quokkanewest`)).json())).toEqual([
      newest.id,
    ]);
    const ranked = await completedWith(agentId, 'quokkaranked');
    const byRelevance = await inject('GET', '/api/call-history?q=quokkaranked&sort=relevance');
    expect(idsOf(byRelevance.json())).toEqual([ranked.id]);
    const counted = await completedWith(agentId, 'quokkacounted');
    const withTotal = await inject(
      'GET',
      `/api/call-history?q=quokkacounted&includeTotal=true&limit=1&agentId=${agentId}`,
    );
    expect(withTotal.json()).toMatchObject({ total: 1, data: [{ id: counted.id }] });
    await completedWith(agentId, 'quokkastats');
    const stats = await inject('GET', `/api/call-history/stats?q=quokkastats`);
    expect(stats.json().total).toBe(1);
    const exported = await completedWith(agentId, 'quokkaexport');
    const file = await inject('GET', `/api/call-history/export?format=ndjson&q=quokkaexport`);
    expect(
      file.body
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).id),
    ).toEqual([exported.id]);
  });

  it('an edited call is found by its new words only', async () => {
    const agentId = uniqueId('agent_edited_');
    const call = await completedWith(agentId, 'quokkafresh');
    expect(idsOf((await inject('GET', `/api/call-history?q=quokkafresh`)).json())).toEqual([
      call.id,
    ]);
    expect(await waitingCount(t)).toBe(0);
    if (dialect === 'sqlite') {
      // With nothing waiting, a search opens no write transaction (none queues behind writes).
      const transactor = t.services.transactor as GroupCommitTransactor;
      const batches = transactor.stats.batches;
      await inject('GET', `/api/call-history?q=quokkafresh&agentId=${agentId}`);
      expect(transactor.stats.batches).toBe(batches);
    }

    // Its words change: the old ones leave the index, the new ones are found.
    const edited = await inject('PATCH', `/api/call-history/${call.id}/status`, {
      status: 'completed',
      transcript: 'Agent: Hello!\nCaller: it is a wombatlate order now',
    });
    expect(edited.statusCode, edited.body).toBe(200);
    const now = await inject('GET', `/api/call-history?q=wombatlate&agentId=${agentId}`);
    expect(now.json().data.map((found: Call) => found.id)).toEqual([call.id]);
    const before = await inject('GET', `/api/call-history?q=quokkafresh&agentId=${agentId}`);
    expect(before.json().data).toEqual([]);
  });

  it('an erased call still waiting for the index never reaches it', async () => {
    const callerNumber = '+15550100777';
    await callOfCaller(callerNumber, 'Zebedeeerase');
    expect(await waitingCount(t)).toBeGreaterThan(0);
    const erased = await inject('POST', '/api/call-history/erase', { callerNumber });
    expect(erased.json()).toEqual({ deleted: 1 });
    expect(await waitingCount(t)).toBe(0);
    const found = await inject('GET', '/api/call-history?q=zebedeeerase');
    expect(found.json().data).toEqual([]);
    expect(await indexedCount(t, 'zebedeeerase')).toBe(0);
  });

  it('an erased call that was indexed has left the index when the erasure answers', async () => {
    const callerNumber = '+15550100778';
    await callOfCaller(callerNumber, 'Zacchaeuserase');
    const before = await inject('GET', '/api/call-history?q=zacchaeuserase');
    expect(before.json().data).toHaveLength(1);
    expect(await indexedCount(t, 'zacchaeuserase')).toBe(1);
    const erased = await inject('POST', '/api/call-history/erase', { callerNumber });
    expect(erased.json()).toEqual({ deleted: 1 });
    // Read from the index itself, before any search could index the erasure's notes.
    expect(await indexedCount(t, 'zacchaeuserase')).toBe(0);
  });

  it('more calls than one batch are all indexed, each exactly once, and again once when edited', async () => {
    const tenant = uniqueId('tenant_bulk_');
    const calls = createCallRepository(t.database.db, dialect);
    await t.services.calls.indexPendingSearch();
    // A call indexed twice would still match once; the index's own document count tells
    // (SQLite; PostgreSQL's call_search holds one row per call by its primary key).
    const documents = () => (dialect === 'sqlite' ? documentsIndexed(t.database.description) : 0);
    const before = documents();
    const rows = Array.from({ length: 1_234 }, () =>
      newCallRow(tenant, { transcript: 'Agent: bulkword' }),
    );
    for (const row of rows) await calls.insertIfAbsent(row);
    expect(await t.services.calls.indexPendingSearch()).toBe(1_234);
    expect(await t.services.calls.indexPendingSearch()).toBe(0);
    expect(await waitingCount(t)).toBe(0);
    if (dialect === 'sqlite') expect(documents() - before).toBe(1_234);
    for (const row of rows) await calls.update(tenant, row.id, { transcript: 'Agent: redone' });
    expect(await t.services.calls.indexPendingSearch()).toBe(1_234);
    // Each edited call inserted once more; a contentless-delete index does not count deletes.
    if (dialect === 'sqlite') expect(documents() - before).toBe(2 * 1_234);
    const search = (word: string) =>
      calls.count(tenant, { search: [{ words: [word], prefix: false }] });
    expect(await search('redone')).toBe(1_234);
    expect(await search('bulkword')).toBe(0);
  });

  /**
   * A server indexing 3 calls a batch, with 10 calls of a new tenant saying `word` waiting for
   * the index and nothing else; `run` gets it and how many of those calls a search finds.
   */
  async function withTenWaiting(
    word: string,
    run: (small: TestApp, found: () => Promise<number>) => Promise<void>,
  ): Promise<void> {
    const small = await createTestApp(dialect, { env: { SEARCH_INDEX_BATCH: '3' } });
    try {
      const tenant = uniqueId('tenant_batch_');
      const calls = createCallRepository(small.database.db, dialect);
      await small.services.calls.indexPendingSearch();
      for (let i = 0; i < 10; i++) {
        await calls.insertIfAbsent(newCallRow(tenant, { transcript: `Agent: ${word}` }));
      }
      await run(small, () => calls.count(tenant, { search: [{ words: [word], prefix: false }] }));
    } finally {
      await small.close();
    }
  }

  it('SEARCH_INDEX_BATCH sets the calls per transaction, and a round stops once it has done its share', async () => {
    await withTenWaiting('batchword', async (small, found) => {
      // Batches of 3: past 5 after the second, so this round ends there with 6 done.
      expect(await small.services.calls.indexPendingSearch({ maxCalls: 5 })).toBe(6);
      expect(await waitingCount(small)).toBe(4);
      expect(await small.services.calls.indexPendingSearch()).toBe(4);
      expect(await found()).toBe(10);
    });
  });

  it('a round told to stop (a shutdown) ends after the batch in hand, and the next takes the rest', async () => {
    await withTenWaiting('stopword', async (small, found) => {
      // Stopping is set once the first batch has begun: that batch of 3 is done, nothing more.
      const stopping = stoppingAfter(1);
      expect(await small.services.calls.indexPendingSearch({ stopping })).toBe(3);
      expect(await waitingCount(small)).toBe(7);
      expect(await small.services.calls.indexPendingSearch()).toBe(7);
      expect(await found()).toBe(10);
    });
  });

  it('a search indexes what waited when it began, not every call noted since', async () => {
    const tenant = uniqueId('tenant_steady_');
    const calls = createCallRepository(t.database.db, dialect);
    await t.services.calls.indexPendingSearch();
    for (let i = 0; i < 300; i++) {
      await calls.insertIfAbsent(newCallRow(tenant, { transcript: 'Agent: steadyword' }));
    }
    // Writes keep coming while the catch-up runs, more per commit than it indexes per batch,
    // so it would never end if it chased every new note; it still ends.
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await t.services.transactor.write(async (trx) => {
          for (let i = 0; i < 300; i++) {
            await calls
              .inTransaction(trx)
              .insertIfAbsent(newCallRow(tenant, { transcript: 'Agent: steadyword' }));
          }
        });
      }
    })();
    try {
      const indexed = await t.services.calls.indexPendingSearch();
      expect(indexed).toBeGreaterThanOrEqual(300);
      expect(indexed).toBeLessThanOrEqual(300 + 300);
    } finally {
      writing = false;
      await writer;
    }
  });

  it('the server indexes written calls every SEARCH_INDEX_INTERVAL_MS with no search asking', async () => {
    const { url, drop } = await databaseFor(dialect, t.dir);
    const config = loadConfig({
      DATABASE_URL: url,
      LOG_LEVEL: 'silent',
      PORT: '0',
      HOST: '127.0.0.1',
      SEARCH_INDEX_INTERVAL_MS: '50',
    });
    const server = await startServer(config);
    const database = openDatabase(config);
    try {
      const created = await fetch(`${server.address}/api/call-history`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          agentId: 'agent_timer',
          callSid: newCallSid(),
          callerName: 'Tilly Timerword',
        }),
      });
      expect(created.status).toBe(201);
      const deadline = Date.now() + 10_000;
      while ((await indexedCount({ database }, 'timerword')) === 0) {
        if (Date.now() > deadline) throw new Error('the call was never indexed');
        await delay(25);
      }
      expect(await waitingCount({ database })).toBe(0);
    } finally {
      await database.close();
      await server.close();
      await drop();
    }
  });

  // PostgreSQL: an indexer locks the notes it takes and reads their calls after, so a write
  // racing it is never lost, whichever commits first (see migration 2026-12-07T1000).
  it.runIf(dialect === 'postgres')(
    'a change written while an indexer runs is indexed, whichever of the two commits first',
    async () => {
      const tenant = uniqueId('tenant_race_');
      const calls = createCallRepository(t.database.db, dialect);
      const matches = (word: string) =>
        calls.count(tenant, { search: [{ words: [word], prefix: false }] });
      const indexRound = () =>
        t.database.db
          .transaction()
          .execute((trx) => calls.inTransaction(trx).indexPendingSearch(1_000));
      const noted = async (id: string) =>
        Number(
          (
            await sql<{ n: string }>`SELECT count(*) AS n FROM call_search_pending
              WHERE call_id = ${id}`.execute(t.database.db)
          ).rows[0]!.n,
        );

      await t.services.calls.indexPendingSearch();
      // The write first: it has changed a call already noted, and not committed. An indexer
      // that took the note now would read the old words and drop the note; it leaves it.
      const first = newCallRow(tenant, { transcript: 'Agent: medlarold' });
      await calls.insertIfAbsent(first);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let changed!: () => void;
      const hasChanged = new Promise<void>((resolve) => (changed = resolve));
      const writer = t.database.db.transaction().execute(async (trx) => {
        await calls.inTransaction(trx).update(tenant, first.id, { transcript: 'Agent: medlarnew' });
        changed();
        await released;
      });
      try {
        await hasChanged;
        expect(await indexRound()).toMatchObject({ calls: 0, busy: true });
        expect(await noted(first.id)).toBe(1);
      } finally {
        release();
        await writer;
      }
      expect((await indexRound()).calls).toBeGreaterThanOrEqual(1);
      expect([await matches('medlarnew'), await matches('medlarold')]).toEqual([1, 0]);

      // The indexer first: it has taken the note and written the old words. The write waits
      // for it, then notes the call again.
      const second = newCallRow(tenant, { transcript: 'Agent: quinceold' });
      await calls.insertIfAbsent(second);
      let written = false;
      let writing: Promise<void> | undefined;
      await t.database.db.transaction().execute(async (trx) => {
        expect((await calls.inTransaction(trx).indexPendingSearch(1_000)).calls).toBe(1);
        writing = calls
          .update(tenant, second.id, { transcript: 'Agent: quincenew' })
          .then(() => void (written = true));
        await delay(200);
        expect(written).toBe(false);
      });
      await writing;
      expect(await noted(second.id)).toBe(1);
      expect([await matches('quincenew'), await matches('quinceold')]).toEqual([0, 1]);
      await indexRound();
      expect([await matches('quincenew'), await matches('quinceold')]).toEqual([1, 0]);
    },
  );

  it.runIf(dialect === 'postgres')(
    'a search waits for the calls another indexer holds, and finds them once it commits',
    async () => {
      const calls = createCallRepository(t.database.db, dialect);
      const call = await completedWith(uniqueId('agent_held_'), 'sorbusheld');
      let searched: Promise<{ json: () => { data: Call[] } }> | undefined;
      // Another server's indexer has taken the call's note and not yet committed its document.
      await t.database.db.transaction().execute(async (trx) => {
        expect((await calls.inTransaction(trx).indexPendingSearch(1_000)).calls).toBeGreaterThan(0);
        searched = inject('GET', '/api/call-history?q=sorbusheld');
        await delay(200);
      });
      expect(idsOf((await searched!).json())).toEqual([call.id]);
    },
  );
});

describe('the SQLite search index across restarts and on its own', () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'restart.db');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a call still waiting at a stop is found after the next start', async () => {
    const first = await createTestApp('sqlite', { env: { DATABASE_URL: `sqlite:${file}` } });
    const created = await first.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: { agentId: 'agent_restart', callSid: newCallSid(), callerName: 'Ottorestart' },
    });
    expect(created.statusCode, created.body).toBe(201);
    await first.close();
    expect(pendingOf(file)).toHaveLength(1);

    const second = await createTestApp('sqlite', { env: { DATABASE_URL: `sqlite:${file}` } });
    try {
      const found = await second.app.inject({
        method: 'GET',
        url: '/api/call-history?q=ottorestart',
      });
      expect(found.json().data.map((call: Call) => call.id)).toEqual([created.json<Call>().id]);
    } finally {
      await second.close();
    }
  });

  // The index is a file of its own (src/db/sqlite-search-file.ts), written by its own thread.

  /** A test app over the database in `dbFile`; its calls are posted through the API. */
  const appOn = (dbFile: string, env: Record<string, string> = {}) =>
    createTestApp('sqlite', { env: { DATABASE_URL: `sqlite:${dbFile}`, ...env } });
  const post = async (app: TestApp, callerName: string) => {
    const created = await app.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: { agentId: 'agent_file', callSid: newCallSid(), callerName },
    });
    expect(created.statusCode, created.body).toBe(201);
    return created.json<Call>().id;
  };
  const searchIds = async (app: TestApp, word: string) =>
    (await app.app.inject({ method: 'GET', url: `/api/call-history?q=${word}&limit=100` }))
      .json<{ data: Call[] }>()
      .data.map((call) => call.id)
      .sort();

  it('ingest never waits for the search file: a create commits while another connection holds its write lock', async () => {
    const dbFile = path.join(dir, 'locked.db');
    const app = await appOn(dbFile, { SQLITE_BUSY_TIMEOUT_MS: '300' });
    try {
      await post(app, 'Warm Lockword');
      const holder = new BetterSqlite3(searchFileOf(dbFile));
      holder.exec('BEGIN IMMEDIATE');
      let id: string;
      try {
        // Were the create to touch the search file it would wait out the busy timeout: a 503.
        id = await post(app, 'Held Lockword');
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
      // The search, once the lock is gone, indexes what waited and finds it.
      expect(await searchIds(app, 'held')).toEqual([id]);
    } finally {
      await app.close();
    }
  });

  it('a search file lost while the server was stopped is filled again from the calls, in rounds', async () => {
    const dbFile = path.join(dir, 'lost.db');
    const first = await appOn(dbFile);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 7; i++) ids.push(await post(first, `Lost Refillword ${i}`));
      expect(await searchIds(first, 'refillword')).toEqual(ids.sort());
    } finally {
      await first.close();
    }
    for (const suffix of ['', '-wal', '-shm']) {
      fs.rmSync(searchFileOf(dbFile) + suffix, { force: true });
    }
    // Three calls a round: the refill takes three rounds, and a call written after the file
    // was lost (before the refill's first round) is in it too.
    const second = await appOn(dbFile, { SEARCH_INDEX_BATCH: '3' });
    try {
      const later = await post(second, 'Later Refillword');
      expect(await searchIds(second, 'refillword')).toEqual([...ids, later].sort());
      expect(pendingOf(dbFile)).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('a search file made with other merge settings takes the current ones and keeps its index', async () => {
    const dbFile = path.join(dir, 'merges.db');
    const mergeSettings = () => {
      const search = new BetterSqlite3(searchFileOf(dbFile), { readonly: true });
      try {
        return Object.fromEntries(
          search
            .prepare(`SELECT k, v FROM calls_search_config WHERE k IN ('automerge', 'deletemerge')`)
            .raw()
            .all() as [string, number][],
        );
      } finally {
        search.close();
      }
    };
    const first = await appOn(dbFile);
    let id: string;
    try {
      id = await post(first, 'Merge Settingword');
      expect(await searchIds(first, 'settingword')).toEqual([id]);
    } finally {
      await first.close();
    }
    expect(mergeSettings()).toEqual({ automerge: 16, deletemerge: 50 });
    // As an earlier version left it (T1600's automerge 8), and deletemerge at FTS5's default.
    const earlier = new BetterSqlite3(searchFileOf(dbFile));
    try {
      earlier.exec(`INSERT INTO calls_search (calls_search, rank) VALUES ('automerge', 8)`);
      earlier.exec(`INSERT INTO calls_search (calls_search, rank) VALUES ('deletemerge', 10)`);
    } finally {
      earlier.close();
    }
    expect(mergeSettings()).toEqual({ automerge: 8, deletemerge: 10 });
    const documentsBefore = documentsIndexed(dbFile);
    const second = await appOn(dbFile);
    try {
      expect(mergeSettings()).toEqual({ automerge: 16, deletemerge: 50 });
      // Not filled again: the call indexed before is found, and no document was added.
      expect(await searchIds(second, 'settingword')).toEqual([id]);
      expect(documentsIndexed(dbFile)).toBe(documentsBefore);
    } finally {
      await second.close();
    }
  });

  it("a search file made from another database is emptied, never read as this one's", async () => {
    const aFile = path.join(dir, 'a.db');
    const bFile = path.join(dir, 'b.db');
    const a = await appOn(aFile);
    const b = await appOn(bFile);
    let bId: string;
    try {
      // The same tenant and rowid in both: a foreign index would answer with B's call.
      await post(a, 'Alpha Foreignword');
      bId = await post(b, 'Beta Foreignword');
      expect(await searchIds(a, 'alpha')).toHaveLength(1);
      expect(await searchIds(b, 'beta')).toEqual([bId]);
    } finally {
      await a.close();
      await b.close();
    }
    for (const suffix of ['', '-wal', '-shm']) {
      fs.rmSync(searchFileOf(bFile) + suffix, { force: true });
    }
    fs.copyFileSync(searchFileOf(aFile), searchFileOf(bFile));
    const again = await appOn(bFile);
    try {
      expect(await searchIds(again, 'alpha')).toEqual([]);
      expect(await searchIds(again, 'beta')).toEqual([bId]);
    } finally {
      await again.close();
    }
  });

  it('a database restored from a backup beside its newer search file gets its index made again', async () => {
    const dbFile = path.join(dir, 'restored.db');
    const backup = path.join(dir, 'restored-backup.db');
    const first = await appOn(dbFile);
    let kept: string;
    try {
      kept = await post(first, 'Kept Restoreword');
      expect(await searchIds(first, 'restoreword')).toEqual([kept]);
    } finally {
      await first.close();
    }
    fs.copyFileSync(dbFile, backup);
    const second = await appOn(dbFile);
    try {
      // Notes the backup never numbered: the search file records them as done.
      for (let i = 0; i < 3; i++) await post(second, `Lost Restoreword ${i}`);
      expect(await searchIds(second, 'restoreword')).toHaveLength(4);
    } finally {
      await second.close();
    }
    for (const suffix of ['-wal', '-shm']) fs.rmSync(dbFile + suffix, { force: true });
    fs.copyFileSync(backup, dbFile);
    const restored = await appOn(dbFile);
    try {
      // Its next note has a number the search file counts as done: without a rebuild the new
      // call would never be indexed, and the lost calls' words would stay in the index.
      const later = await post(restored, 'Later Restoreword');
      expect(await searchIds(restored, 'restoreword')).toEqual([kept, later].sort());
      const total = await restored.app.inject({
        method: 'GET',
        url: '/api/call-history?q=restoreword&includeTotal=true&limit=1',
      });
      expect(total.json().total).toBe(2);
    } finally {
      await restored.close();
    }
  });
});
