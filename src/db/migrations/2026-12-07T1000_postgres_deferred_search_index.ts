// Frozen in time: never edit a migration that has shipped; add a new one.
// PostgreSQL: calls are added to the search index (call_search, T1500) in batches off the
// request's transaction, as SQLite's are (T1600), not by the write's own trigger.
//
// Why: the trigger turned each written call into words and wrote its document and GIN entries
// inside the request's transaction, so a write's time grew with its transcript. Measured with
// pgbench on a table shaped like `calls` with the same functions (4 clients, 3 KB transcripts,
// each update a different call): 1,050-1,260 updates a second with the trigger indexing them,
// 3,400-3,600 with it only noting them, and indexing the notes afterwards in batches of 250
// took 0.5-0.6 ms a call on one backend, against about 1 ms of the two cores per write inline.
// In the server, a completion with a 50,000-character transcript answered in 10-11 ms (p50)
// instead of 16-22; ingest flat out on two cores did not measurably change, since the work
// moves to the indexer on the same cores (README, "The search index's cost to ingest").
//
// Now a write only notes its call in `call_search_pending`, in its own transaction, so a crash
// loses nothing. The server indexes the notes in batches (CallService.indexPendingSearch):
// every SEARCH_INDEX_INTERVAL_MS, and before every read that searches, so a search still sees
// every write acknowledged before it began. A deletion still leaves the index at once.
//
// Several servers share the work: an indexer locks the notes it takes (FOR UPDATE SKIP LOCKED),
// then reads the calls in a statement of its own, so a write that changed a call before the
// lock was taken is seen. A write noting a call whose note an indexer holds waits for it, then
// notes the call again (the upsert below takes the note's row lock even when the note exists;
// DO NOTHING would not, and a change could slip past an indexer reading the call before it
// commits). A deletion removes the call's note before its document, so it never holds a
// document an indexer is writing while waiting for a note the indexer holds.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

/** A change to one of these columns changes the call's search document (T1500). */
const CHANGED_DOCUMENT = `OLD.caller_name IS DISTINCT FROM NEW.caller_name
          OR OLD.topics IS DISTINCT FROM NEW.topics
          OR OLD.summary IS DISTINCT FROM NEW.summary
          OR OLD.collected_data IS DISTINCT FROM NEW.collected_data
          OR OLD.transcript IS DISTINCT FROM NEW.transcript
          OR OLD.started_at IS DISTINCT FROM NEW.started_at`;

/** The document of the call in row `row`, as T1500 computes it. */
const documentOf = (row: string) =>
  `callmind_search_document(${row}.tenant_id, ${row}.started_at, ${row}.caller_name,
          ${row}.topics, ${row}.summary, ${row}.collected_data, ${row}.transcript)`;

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    CREATE TABLE call_search_pending (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      call_id text NOT NULL UNIQUE
    )`.execute(db);
  // A queue: every note is deleted within a second or so of its write. Vacuum it once a few
  // thousand notes are dead, not at autovacuum's 20 % of a table that is nearly always empty.
  await sql`
    ALTER TABLE call_search_pending SET (
      autovacuum_vacuum_scale_factor = 0,
      autovacuum_vacuum_threshold = 5000
    )`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION callmind_sync_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        DELETE FROM call_search_pending WHERE call_id = OLD.id;
        DELETE FROM call_search WHERE call_id = OLD.id;
      ELSIF TG_OP = 'INSERT' OR ${sql.raw(CHANGED_DOCUMENT)} THEN
        INSERT INTO call_search_pending (call_id) VALUES (NEW.id)
        ON CONFLICT (call_id) DO UPDATE SET call_id = excluded.call_id;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  // Index what is still noted, so T1500's trigger finds the index complete.
  await sql`
    INSERT INTO call_search (call_id, tenant_id, started_at, document)
    SELECT c.id, c.tenant_id, c.started_at, ${sql.raw(documentOf('c'))}
    FROM call_search_pending p JOIN calls c ON c.id = p.call_id
    ON CONFLICT (call_id) DO UPDATE
      SET started_at = excluded.started_at, document = excluded.document`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION callmind_sync_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        DELETE FROM call_search WHERE call_id = OLD.id;
      ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO call_search (call_id, tenant_id, started_at, document)
        VALUES (NEW.id, NEW.tenant_id, NEW.started_at, ${sql.raw(documentOf('NEW'))});
      ELSIF ${sql.raw(CHANGED_DOCUMENT)} THEN
        INSERT INTO call_search (call_id, tenant_id, started_at, document)
        VALUES (NEW.id, NEW.tenant_id, NEW.started_at, ${sql.raw(documentOf('NEW'))})
        ON CONFLICT (call_id) DO UPDATE
          SET started_at = excluded.started_at, document = excluded.document;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`DROP TABLE call_search_pending`.execute(db);
}
