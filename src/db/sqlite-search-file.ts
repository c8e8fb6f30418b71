// SQLite's full-text index lives in a file of its own beside the database (`<file>-search`),
// attached to the connections that search or index as the schema `search`.
//
// Why: SQLite lets one connection write a file at a time. With the index in the calls' file,
// each indexing round (250 calls, about 50 ms of FTS5 work) held the write lock, and every
// ingest request that arrived meanwhile waited for it: at a million calls the ingest p99 was
// 64-85 ms with the rounds and 28-30 ms without them, at a quarter more requests a second
// (README, "The search index in its own file"). In a file of its own the index is written by its
// own thread, while the writer thread goes on committing calls.
//
// The index is derived data. The calls' file notes every call whose words changed in
// `calls_search_pending` (T1200's triggers, in the write's own transaction, so a crash loses no
// note); the indexer adds the noted calls here and records, in the same commit, the last note
// it has done (`indexed_up_to`). The notes it has done are deleted later, by the writer. A
// search file that is new, was made from another database (its token is not the database's),
// or has done notes the database has not numbered yet (a database restored from a backup
// beside its newer index) is emptied and filled
// again from the calls, in rowid order (the repository's indexPendingSearch). The indexer never
// writes the calls' file.
import type BetterSqlite3 from 'better-sqlite3';

/** The schema name the search file is attached as. */
export const SEARCH_SCHEMA = 'search';

/**
 * A write to the search file alone, changing nothing: the indexer's transactions begin with it,
 * so they hold the search file's write lock, and only it, before they read anything.
 */
export const SEARCH_FILE_FIRST_WRITE = `UPDATE ${SEARCH_SCHEMA}.search_index_state
  SET indexed_up_to = indexed_up_to`;

/** What the search file's layout is: a file of another version is made again. */
const SEARCH_FILE_VERSION = 1;

/** Where the search index of the database in `file` lives (the same for `:memory:`). */
export function searchFileOf(file: string): string {
  return file === ':memory:' ? ':memory:' : `${file}-search`;
}

/**
 * Attaches the search file (creating it and its tables if needed) to a connection that writes
 * it or reads it: the server's main connection and the indexer thread's. Its durability is the
 * database's: a round of indexing is forgotten by the writer only once it is on disk here.
 * Never attach it to the writer thread's connection: its BEGIN IMMEDIATE would take the search
 * file's write lock too, and ingest would wait for the indexer again.
 */
export function attachSearchFile(
  connection: BetterSqlite3.Database,
  searchFile: string,
  synchronousLevel: number,
): void {
  connection.prepare(`ATTACH DATABASE ? AS ${SEARCH_SCHEMA}`).run(searchFile);
  if (searchFile !== ':memory:') {
    const mode = String(connection.pragma(`${SEARCH_SCHEMA}.journal_mode = WAL`, { simple: true }));
    if (mode !== 'wal') throw new Error(`the search file refused journal_mode=WAL (${mode})`);
  }
  connection.pragma(`${SEARCH_SCHEMA}.synchronous = ${synchronousLevel}`);
  // IMMEDIATE: two processes opening a new database at once make its tables once, in turn.
  connection.transaction(() => createSearchTables(connection)).immediate();
}

function createSearchTables(connection: BetterSqlite3.Database): void {
  const state = connection
    .prepare(`SELECT name FROM ${SEARCH_SCHEMA}.sqlite_schema WHERE name = 'search_index_state'`)
    .pluck()
    .get();
  if (state !== undefined) {
    const version = connection
      .prepare(`SELECT version FROM ${SEARCH_SCHEMA}.search_index_state`)
      .pluck()
      .get();
    if (version === SEARCH_FILE_VERSION) {
      setMergeSettings(connection);
      return;
    }
    // Another layout: it is only derived data, so it is made again (and filled from the calls).
    for (const table of ['calls_search_vocab', 'calls_search', 'search_index_state']) {
      connection.exec(`DROP TABLE IF EXISTS ${SEARCH_SCHEMA}.${table}`);
    }
  }
  // Contentless: the text lives only in `calls`; the index holds tokens, keyed by the call's
  // rowid. `tenant` holds one token (the tenant id in hex) so a query is scoped to one tenant
  // inside the index itself. unicode61 splits at every non-alphanumeric character. (As T1000
  // made it in the calls' file.)
  connection.exec(`
    CREATE VIRTUAL TABLE ${SEARCH_SCHEMA}.calls_search USING fts5(
      tenant, caller_name, topics, summary, collected, transcript,
      content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0'
    )`);
  setMergeSettings(connection);
  // How many calls hold each word, so a search can pick its plan (calls.repository.ts).
  connection.exec(`
    CREATE VIRTUAL TABLE ${SEARCH_SCHEMA}.calls_search_vocab USING fts5vocab(calls_search, 'row')`);
  connection.exec(`
    CREATE TABLE ${SEARCH_SCHEMA}.search_index_state (
      version INTEGER NOT NULL,
      -- The database this index was made from (its search_index_identity); NULL: none yet.
      token TEXT,
      -- The last note of calls_search_pending whose call is in the index.
      indexed_up_to INTEGER NOT NULL,
      -- While the index is filled from the calls (a new file, or one made from another
      -- database): the last rowid done. NULL once every call is in.
      rebuild_after INTEGER
    )`);
  connection
    .prepare(
      `INSERT INTO ${SEARCH_SCHEMA}.search_index_state
         (version, token, indexed_up_to, rebuild_after) VALUES (?, NULL, 0, 0)`,
    )
    .run(SEARCH_FILE_VERSION);
}

/**
 * FTS5's merge settings, written when they differ from what the file holds (they persist in it),
 * so a file made by an earlier version takes them too; its segments stay as they are.
 * - `deletemerge` 50, as T1600 chose it (see there why).
 * - `automerge` 16, not T1600's 8: FTS5 merges a level's segments once it holds this many, and
 *   merging was about half of the indexing's work. Indexing 3,000-character transcripts in
 *   commits of 250 into an index of 100k: 147-148 µs a call at 8, 98-112 at 16 (bench:fts), and
 *   68-73 with no merging at all (which would leave searches ever more segments to read); a
 *   newest-first search's p50 stayed at 0.07-0.08 ms. Larger values (24, 32, 64, one run each)
 *   indexed no faster: 96-131 µs.
 */
const MERGE_SETTINGS = { automerge: 16, deletemerge: 50 } as const;

function setMergeSettings(connection: BetterSqlite3.Database): void {
  const held = new Map(
    (
      connection.prepare(`SELECT k, v FROM ${SEARCH_SCHEMA}.calls_search_config`).raw().all() as [
        string,
        unknown,
      ][]
    ).map(([key, value]) => [key, Number(value)]),
  );
  for (const [key, value] of Object.entries(MERGE_SETTINGS)) {
    if (held.get(key) === value) continue;
    // FTS5 wants an integer value; a bound JS number arrives as a real, which it refuses.
    connection
      .prepare(
        `INSERT INTO ${SEARCH_SCHEMA}.calls_search (calls_search, rank) VALUES (?, ${value})`,
      )
      .run(key);
  }
}
