// Frozen in time: never edit a migration that has shipped; add a new one.
// callmind_json_words (T1000), which turns a call's topics and collected data into words for
// PostgreSQL's search trigger, is a SQL function with a FROM clause: the planner cannot inline
// it, so it was parsed and planned again for each of its two calls in every written call.
// Measured with track_functions on a server under ingest (creates, then completions with a
// 3 KB transcript; two alternating runs a side): 0.14-0.15 ms a call as SQL, 0.03 as PL/pgSQL,
// whose plan each connection makes once and keeps; the search trigger 1.63-1.69 ms a write
// against 1.29-1.36. The trigger's other helpers (the search document, the facets) are inlined
// into the trigger's own statements, so they stay SQL: as PL/pgSQL they measured no faster.
//
// Same body, same result: no document changes, so nothing is rebuilt.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    CREATE OR REPLACE FUNCTION callmind_json_words(doc jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE words text;
    BEGIN
      SELECT coalesce(string_agg(value #>> '{}', ' '), '') INTO words
      FROM jsonb_path_query(doc, 'strict $.**') AS value
      WHERE jsonb_typeof(value) IN ('string', 'number');
      RETURN words;
    END $$`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    CREATE OR REPLACE FUNCTION callmind_json_words(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(string_agg(value #>> '{}', ' '), '')
      FROM jsonb_path_query(doc, 'strict $.**') AS value
      WHERE jsonb_typeof(value) IN ('string', 'number')
    $$`.execute(db);
}
