// Frozen in time: never edit a migration that has shipped; add a new one.
// SQLite: the full-text index moves to a file of its own (src/db/sqlite-search-file.ts says why
// and how). In the calls' file this leaves the notes of calls waiting for the index:
// - `calls_search_pending` is made again with AUTOINCREMENT: the index file records the last
//   note it has done, so a note's number must never be handed out twice, even once every note
//   has been deleted;
// - a note replaces the call's older one (INSERT OR REPLACE), so a call changed again after its
//   note was indexed gets a note above what the index has done;
// - a deleted call is noted too (the index drops what it holds for a rowid whose call is gone):
//   a trigger cannot reach another file. Erasure waits for that round before it answers.
// - `search_index_identity` names this database, so an index file made from another one is
//   never taken for its own.
// The new file starts empty and is filled from the calls by the indexer's first rounds.
// PostgreSQL's index (T1500) is untouched.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

const INDEXED_COLUMNS = 'caller_name, topics, summary, collected_data, transcript';

/** An update trigger of `calls` that runs `body` when an indexed column's value changed. */
function onIndexedTextUpdate(body: string) {
  return sql`
    CREATE TRIGGER calls_search_update AFTER UPDATE OF ${sql.raw(INDEXED_COLUMNS)} ON calls
    WHEN old.caller_name IS NOT new.caller_name OR old.topics IS NOT new.topics
      OR old.summary IS NOT new.summary OR old.collected_data IS NOT new.collected_data
      OR old.transcript IS NOT new.transcript
    BEGIN
      ${sql.raw(body)}
    END`;
}

async function dropSearchTriggers(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER calls_search_insert`.execute(db);
  await sql`DROP TRIGGER calls_search_update`.execute(db);
  await sql`DROP TRIGGER calls_search_delete`.execute(db);
}

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await dropSearchTriggers(db);
  // `main.`: the connection may have the new search file attached, whose tables share the names.
  await sql`DROP TABLE main.calls_search_vocab`.execute(db);
  await sql`DROP TABLE main.calls_search`.execute(db);
  await sql`DROP TABLE main.calls_search_pending`.execute(db);
  await sql`
    CREATE TABLE main.calls_search_pending (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      call_rowid INTEGER NOT NULL UNIQUE
    )`.execute(db);
  const note = 'INSERT OR REPLACE INTO calls_search_pending (call_rowid) VALUES';
  await sql`
    CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
      ${sql.raw(note)} (new.rowid);
    END`.execute(db);
  await onIndexedTextUpdate(`${note} (new.rowid);`).execute(db);
  await sql`
    CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
      ${sql.raw(note)} (old.rowid);
    END`.execute(db);
  await sql`CREATE TABLE main.search_index_identity (token TEXT NOT NULL)`.execute(db);
  await sql`INSERT INTO main.search_index_identity (token)
    VALUES (lower(hex(randomblob(16))))`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await dropSearchTriggers(db);
  await sql`DROP TABLE main.search_index_identity`.execute(db);
  await sql`DROP TABLE main.calls_search_pending`.execute(db);
  // T1600's layout, with every call noted: its indexer fills the index in the calls' file again.
  await sql`
    CREATE TABLE main.calls_search_pending (
      seq INTEGER PRIMARY KEY,
      call_rowid INTEGER NOT NULL UNIQUE
    )`.execute(db);
  await sql`INSERT INTO main.calls_search_pending (call_rowid)
    SELECT rowid FROM calls ORDER BY rowid`.execute(db);
  await sql`
    CREATE VIRTUAL TABLE main.calls_search USING fts5(
      tenant, caller_name, topics, summary, collected, transcript,
      content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0'
    )`.execute(db);
  await sql`INSERT INTO main.calls_search (calls_search, rank)
    VALUES ('deletemerge', 50)`.execute(db);
  await sql`INSERT INTO main.calls_search (calls_search, rank) VALUES ('automerge', 8)`.execute(db);
  await sql`CREATE VIRTUAL TABLE main.calls_search_vocab
    USING fts5vocab(calls_search, 'row')`.execute(db);
  const note = 'INSERT OR IGNORE INTO calls_search_pending (call_rowid) VALUES (new.rowid);';
  await sql`
    CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
      ${sql.raw(note)}
    END`.execute(db);
  await onIndexedTextUpdate(note).execute(db);
  await sql`
    CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
      DELETE FROM calls_search WHERE rowid = old.rowid;
      DELETE FROM calls_search_pending WHERE call_rowid = old.rowid;
    END`.execute(db);
}
