// Frozen in time: never edit a migration that has shipped; add a new one.
// SQLite: the FTS5 index is written in batches off the request's commit, not by the write itself.
//
// Why: FTS5 writes a transaction's new terms out as a new segment when it commits, so a
// document costs several times more to index in a commit of its own (or of a group commit's
// handful) than in a commit of a hundred: about 450 µs per 3,000-character transcript in
// commits of 10, about 200 µs in commits of 200 (bench/fts-batches.ts). Completions with the
// index on ran at 45 % of the rate without it.
//
// Now a write only notes its call in `calls_search_pending` (in the same transaction, so a crash
// loses nothing; `seq` keeps the notes in the order they came), and the server indexes waiting
// calls in batches (CallService.indexPendingSearch): every SEARCH_INDEX_INTERVAL_MS, and before
// every read that searches, so a search still sees every write acknowledged before it began. A
// deletion still leaves the index at once (erasure). PostgreSQL's index (T1500) is untouched.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

const INDEXED_COLUMNS = 'caller_name, topics, summary, collected_data, transcript';
const SEARCH_COLUMNS = 'rowid, tenant, caller_name, topics, summary, collected, transcript';

/** The columns of calls_search_documents, one per column of documentOf. */
const VIEW_COLUMNS = [
  'call_rowid',
  'tenant',
  'caller_name',
  'topics',
  'summary',
  'collected',
  'transcript',
] as const;

/** What the index holds for the call in `row`, as T1000's triggers computed it, column by column. */
function documentOf(row: 'calls' | 'new'): string[] {
  return [
    `${row}.rowid`,
    `hex(${row}.tenant_id)`,
    `${row}.caller_name`,
    `(SELECT group_concat(value, ' ') FROM json_each(${row}.topics))`,
    `${row}.summary`,
    `(SELECT group_concat(value, ' ') FROM json_tree(${row}.collected_data)
        WHERE type IN ('text', 'integer', 'real'))`,
    `substr(${row}.transcript, 1, 100000)`,
  ];
}

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

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await sql`
    CREATE TABLE calls_search_pending (
      seq INTEGER PRIMARY KEY,
      call_rowid INTEGER NOT NULL UNIQUE
    )`.execute(db);
  // What the index holds for a call, as T1000's triggers computed it: the indexer reads it here.
  const viewColumns = documentOf('calls').map(
    (expression, i) => `${expression} AS ${VIEW_COLUMNS[i]}`,
  );
  await sql`CREATE VIEW calls_search_documents AS SELECT ${sql.raw(viewColumns.join(', '))}
    FROM calls`.execute(db);
  await sql`DROP TRIGGER calls_search_insert`.execute(db);
  await sql`DROP TRIGGER calls_search_update`.execute(db);
  await sql`DROP TRIGGER calls_search_delete`.execute(db);
  await sql`
    CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
      INSERT OR IGNORE INTO calls_search_pending (call_rowid) VALUES (new.rowid);
    END`.execute(db);
  await onIndexedTextUpdate(
    'INSERT OR IGNORE INTO calls_search_pending (call_rowid) VALUES (new.rowid);',
  ).execute(db);
  await sql`
    CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
      DELETE FROM calls_search WHERE rowid = old.rowid;
      DELETE FROM calls_search_pending WHERE call_rowid = old.rowid;
    END`.execute(db);
  // Every call is indexed at least twice (its start, then its end), so many of a segment's
  // documents are later deleted. By default FTS5 rewrites a segment as soon as a tenth of it is
  // deleted ('deletemerge' 10): re-indexing 200 calls cost 700 µs each. At 50 it cost 180 µs,
  // as with the rewrites off, and a segment is still rewritten once it is mostly dead entries,
  // so deleted calls (retention, erasure) do not pile up in segments that seldom merge.
  await sql`INSERT INTO calls_search (calls_search, rank) VALUES ('deletemerge', 50)`.execute(db);
  // FTS5 merges a level's segments once it holds `automerge` of them (default 4). With 8, each
  // term is rewritten less often; a search probes a few more segments, which at 60k documents in
  // commits of 100 did not change its time measurably (0.05 ms either way).
  await sql`INSERT INTO calls_search (calls_search, rank) VALUES ('automerge', 8)`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  // Index what is still pending, so T1000's triggers find the index complete.
  await sql`
    DELETE FROM calls_search WHERE rowid IN (SELECT call_rowid FROM calls_search_pending)`.execute(
    db,
  );
  await sql`
    INSERT INTO calls_search (${sql.raw(SEARCH_COLUMNS)})
    SELECT ${sql.raw(VIEW_COLUMNS.map((column) => `d.${column}`).join(', '))}
    FROM calls_search_pending p JOIN calls_search_documents d ON d.call_rowid = p.call_rowid
    ORDER BY p.call_rowid`.execute(db);
  await sql`DROP TRIGGER calls_search_insert`.execute(db);
  await sql`DROP TRIGGER calls_search_update`.execute(db);
  await sql`DROP TRIGGER calls_search_delete`.execute(db);
  await sql`DROP VIEW calls_search_documents`.execute(db);
  await sql`DROP TABLE calls_search_pending`.execute(db);
  await sql`INSERT INTO calls_search (calls_search, rank) VALUES ('automerge', 4)`.execute(db);
  await sql`INSERT INTO calls_search (calls_search, rank) VALUES ('deletemerge', 10)`.execute(db);
  const indexNew = `INSERT INTO calls_search (${SEARCH_COLUMNS})
      VALUES (${documentOf('new').join(', ')});`;
  await sql`
    CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
      ${sql.raw(indexNew)}
    END`.execute(db);
  await onIndexedTextUpdate(`DELETE FROM calls_search WHERE rowid = old.rowid;
      ${indexNew}`).execute(db);
  await sql`
    CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
      DELETE FROM calls_search WHERE rowid = old.rowid;
    END`.execute(db);
}
