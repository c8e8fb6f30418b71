// Frozen in time: never edit a migration that has shipped; add a new one.
// PostgreSQL's search index moves out of `calls` into a narrow table of its own: one row per
// call with its tenant, startedAt and its words, plus the tenant as a word of its own.
//
// Why: with the tsvector a column of `calls`, a search for a word in a few thousand of a
// tenant's calls had to visit each match's row in `calls` (rows of several kilobytes, most of
// them not in shared buffers) just to learn its startedAt: 270 ms at a million calls. Here the
// rows are about 80 bytes (the words are TOASTed out of line), so the same matches sort in a few
// milliseconds, and only the page's calls are read. And with the tenant a word of the document,
// GIN intersects "this tenant" and "this word" inside the index, where a btree on tenant_id had
// the planner AND a bitmap of the tenant's 200k calls with the word's: 70 ms for a word in 31.
//
// A trigger keeps the table in step with every write to `calls` (ingest, merges, the sweeper,
// erasure, retention, imports). SQLite keeps its FTS5 index (migration T1000): nothing to do.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  // Index builds over a large table go faster with room to sort in (this transaction only).
  await sql`SET LOCAL maintenance_work_mem = '256MB'`.execute(db);
  await sql`
    CREATE TABLE call_search (
      call_id text PRIMARY KEY,
      tenant_id text NOT NULL,
      started_at text NOT NULL,
      document tsvector NOT NULL
    )`.execute(db);
  // lz4 reads back several times faster than pglz, and ranking reads every candidate's words.
  // Servers built without lz4 keep the default.
  await sql`
    DO $$ BEGIN
      ALTER TABLE call_search ALTER COLUMN document SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
    END $$`.execute(db);
  // The tenant as a word: '#tenant:' and the tenant id in hex. Call text can never produce it
  // (callmind_words keeps letters and digits only), and no prefix search can reach it (a
  // searched prefix starts with a letter or digit, never '#'). The repository asks for it in
  // every search (calls.repository.ts, postgresTenantWord). The month the call started in is a
  // word too ('#month:2026-11'): a newest-first search asks GIN for this month's matches first,
  // a few hundred where the whole year has thousands to sort.
  await sql`
    CREATE FUNCTION callmind_search_document(
      tenant_id text, started_at text, caller_name text, topics text, summary text,
      collected_data text, transcript text
    ) RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT array_to_tsvector(ARRAY[
          '#tenant:' || encode(convert_to(tenant_id, 'UTF8'), 'hex'),
          '#month:' || left(started_at, 7)]) ||
        setweight(callmind_words(caller_name), 'A') ||
        setweight(callmind_words(callmind_json_words(topics::jsonb)), 'A') ||
        setweight(callmind_words(summary), 'B') ||
        setweight(callmind_words(callmind_json_words(collected_data::jsonb)), 'B') ||
        setweight(callmind_words(left(transcript, 100000)), 'C')
    $$`.execute(db);
  await sql`
    CREATE FUNCTION callmind_sync_search() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        DELETE FROM call_search WHERE call_id = OLD.id;
      ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO call_search (call_id, tenant_id, started_at, document)
        VALUES (NEW.id, NEW.tenant_id, NEW.started_at, callmind_search_document(
          NEW.tenant_id, NEW.started_at, NEW.caller_name, NEW.topics, NEW.summary, NEW.collected_data,
          NEW.transcript));
      ELSIF OLD.caller_name IS DISTINCT FROM NEW.caller_name
          OR OLD.topics IS DISTINCT FROM NEW.topics
          OR OLD.summary IS DISTINCT FROM NEW.summary
          OR OLD.collected_data IS DISTINCT FROM NEW.collected_data
          OR OLD.transcript IS DISTINCT FROM NEW.transcript
          OR OLD.started_at IS DISTINCT FROM NEW.started_at THEN
        -- An upsert: a call whose row went missing (a trigger disabled by hand) gets it back.
        INSERT INTO call_search (call_id, tenant_id, started_at, document)
        VALUES (NEW.id, NEW.tenant_id, NEW.started_at, callmind_search_document(
          NEW.tenant_id, NEW.started_at, NEW.caller_name, NEW.topics, NEW.summary, NEW.collected_data,
          NEW.transcript))
        ON CONFLICT (call_id) DO UPDATE
          SET started_at = excluded.started_at, document = excluded.document;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  // Before the backfill, in this transaction: no write can fall between the two.
  await sql`
    CREATE TRIGGER calls_search AFTER INSERT OR UPDATE OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION callmind_sync_search()`.execute(db);
  // The stored calls' words are already in calls.search_vector: only the tenant word is new.
  await sql`
    INSERT INTO call_search (call_id, tenant_id, started_at, document)
    SELECT id, tenant_id, started_at,
      array_to_tsvector(ARRAY[
          '#tenant:' || encode(convert_to(tenant_id, 'UTF8'), 'hex'),
          '#month:' || left(started_at, 7)]) ||
        coalesce(search_vector, ''::tsvector)
    FROM calls`.execute(db);
  await sql`CREATE INDEX call_search_document_idx ON call_search USING gin (document)`.execute(db);
  // Newest-first walks for words in most calls, where reading the first matches beats sorting all.
  await sql`CREATE INDEX call_search_tenant_started_idx
    ON call_search (tenant_id, started_at, call_id)`.execute(db);
  await sql`ALTER TABLE calls DROP COLUMN search_vector`.execute(db);
  await sql`ANALYZE call_search`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    ALTER TABLE calls ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
      setweight(callmind_words(caller_name), 'A') ||
      setweight(callmind_words(callmind_json_words(topics::jsonb)), 'A') ||
      setweight(callmind_words(summary), 'B') ||
      setweight(callmind_words(callmind_json_words(collected_data::jsonb)), 'B') ||
      setweight(callmind_words(left(transcript, 100000)), 'C')
    ) STORED`.execute(db);
  await sql`CREATE INDEX calls_search_idx ON calls USING gin (search_vector)`.execute(db);
  await sql`DROP TRIGGER calls_search ON calls`.execute(db);
  await sql`DROP FUNCTION callmind_sync_search()`.execute(db);
  await sql`DROP FUNCTION callmind_search_document(text, text, text, text, text, text, text)`.execute(
    db,
  );
  await sql`DROP TABLE call_search`.execute(db);
}
