// Frozen in time: never edit a migration that has shipped; add a new one.
// PostgreSQL's triggers call three helpers written in SQL: the search document of a call
// (T1500), the words of a JSON document (T1000) and a call's facets (T1300). A SQL function the
// planner cannot inline (a FROM clause, a UNION, or a body of several inlined calls) is parsed and
// planned again each time the statement calling it starts, and a row trigger's statement
// starts once per written call: every write planned the search document's seven parts, its two
// JSON walks and the facets' UNION afresh. Measured with EXPLAIN ANALYZE on a completed call
// (a 3,000-character transcript): the search trigger took 5.6-5.8 ms and the facets trigger
// 0.9-1.0 ms, of which the search document itself is about 0.7 ms when computed for many rows
// in one statement (planned once). As PL/pgSQL functions their plans are made once per
// connection and kept: 0.8 and 0.3 ms.
//
// Same bodies, same results: no document or facet row changes, so nothing is rebuilt.
// callmind_words stays SQL: it is a single expression, which the planner inlines.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

/** The longest value a facet keeps (as in T1300; frozen here). */
const FACET_VALUE_MAX = sql.raw('200');

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
  await sql`
    CREATE OR REPLACE FUNCTION callmind_search_document(
      tenant_id text, started_at text, caller_name text, topics text, summary text,
      collected_data text, transcript text
    ) RETURNS tsvector LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    BEGIN
      RETURN array_to_tsvector(ARRAY[
          '#tenant:' || encode(convert_to(tenant_id, 'UTF8'), 'hex'),
          '#month:' || left(started_at, 7)]) ||
        setweight(callmind_words(caller_name), 'A') ||
        setweight(callmind_words(callmind_json_words(topics::jsonb)), 'A') ||
        setweight(callmind_words(summary), 'B') ||
        setweight(callmind_words(callmind_json_words(collected_data::jsonb)), 'B') ||
        setweight(callmind_words(left(transcript, 100000)), 'C');
    END $$`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION callmind_facets(topics text, collected_data text)
    RETURNS TABLE (facet text, value text)
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    BEGIN
      RETURN QUERY
        SELECT 'topic', t.value FROM jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(topics::jsonb) = 'array' THEN topics::jsonb ELSE '[]' END)
            AS t(value)
          WHERE length(t.value) <= ${FACET_VALUE_MAX}
        UNION
        SELECT 'data.' || d.key, d.value #>> '{}' FROM jsonb_each(
            CASE WHEN jsonb_typeof(collected_data::jsonb) = 'object' THEN collected_data::jsonb
            ELSE '{}' END) AS d(key, value)
          WHERE jsonb_typeof(d.value) IN ('string', 'number', 'boolean')
            AND length(d.value #>> '{}') <= ${FACET_VALUE_MAX};
    END $$`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  // The signatures are unchanged, so the SQL bodies come back in place.
  await sql`
    CREATE OR REPLACE FUNCTION callmind_json_words(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(string_agg(value #>> '{}', ' '), '')
      FROM jsonb_path_query(doc, 'strict $.**') AS value
      WHERE jsonb_typeof(value) IN ('string', 'number')
    $$`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION callmind_search_document(
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
    CREATE OR REPLACE FUNCTION callmind_facets(topics text, collected_data text)
    RETURNS TABLE (facet text, value text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT 'topic', t.value FROM jsonb_array_elements_text(
          CASE WHEN jsonb_typeof(topics::jsonb) = 'array' THEN topics::jsonb ELSE '[]' END) AS t(value)
        WHERE length(t.value) <= ${FACET_VALUE_MAX}
      UNION
      SELECT 'data.' || d.key, d.value #>> '{}' FROM jsonb_each(
          CASE WHEN jsonb_typeof(collected_data::jsonb) = 'object' THEN collected_data::jsonb
          ELSE '{}' END) AS d(key, value)
        WHERE jsonb_typeof(d.value) IN ('string', 'number', 'boolean')
          AND length(d.value #>> '{}') <= ${FACET_VALUE_MAX}
    $$`.execute(db);
}
