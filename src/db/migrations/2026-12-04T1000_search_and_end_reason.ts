// Frozen in time: never edit a migration that has shipped; add a new one.
// Filters, full-text search and the end reason (issue #5).
//
// Search covers callerName, topics, summary, the string and number values of collectedData and
// the transcript (its first 100,000 characters). Both dialects split text the same way: at every
// character that is not a letter or a digit, case-folded, with no stemming and no accent
// folding, so one search finds the same calls on either engine.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  // Why a call ended: a small canonical set (calls.schemas.ts END_REASONS), null if unknown.
  await db.schema.alterTable('calls').addColumn('end_reason', 'text').execute();

  // callerNumber filter and erasure by caller.
  await db.schema
    .createIndex('calls_tenant_caller_started_idx')
    .on('calls')
    .columns(['tenant_id', 'caller_number', 'started_at', 'id'])
    .execute();
  // sort=longest: a call without a duration sorts after every call with one.
  await sql`CREATE INDEX calls_tenant_duration_idx ON calls (tenant_id, (coalesce(duration, -1)), id)`.execute(
    db,
  );
  // Stats read only these columns: over a tenant's time range the index alone answers them,
  // without touching rows (which hold whole transcripts).
  await db.schema
    .createIndex('calls_tenant_stats_idx')
    .on('calls')
    .columns([
      'tenant_id',
      'started_at',
      'status',
      'agent_id',
      'direction',
      'sentiment',
      'duration',
      'cost_micros',
    ])
    .execute();
  // The stale-call sweeper looks for live calls started long ago, across tenants.
  await db.schema
    .createIndex('calls_status_started_idx')
    .on('calls')
    .columns(['status', 'started_at'])
    .execute();

  if (dialect === 'postgres') await createPostgresSearch(db);
  else await createSqliteSearch(db);
}

async function createPostgresSearch(db: Kysely<any>): Promise<void> {
  // The scalar values of a JSON document as words (keys are not searchable).
  await sql`
    CREATE FUNCTION callmind_json_words(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(string_agg(value #>> '{}', ' '), '')
      FROM jsonb_path_query(doc, 'strict $.**') AS value
      WHERE jsonb_typeof(value) IN ('string', 'number')
    $$`.execute(db);
  await sql`
    CREATE FUNCTION callmind_words(content text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT to_tsvector('simple', regexp_replace(coalesce(content, ''), '[^[:alnum:]]+', ' ', 'g'))
    $$`.execute(db);
  // Computed by PostgreSQL on every write, so no writer can forget it. The weights rank a match
  // in the caller's name or a topic above one in the summary or collected data, and those above
  // one in the transcript.
  await sql`
    ALTER TABLE calls ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
      setweight(callmind_words(caller_name), 'A') ||
      setweight(callmind_words(callmind_json_words(topics::jsonb)), 'A') ||
      setweight(callmind_words(summary), 'B') ||
      setweight(callmind_words(callmind_json_words(collected_data::jsonb)), 'B') ||
      setweight(callmind_words(left(transcript, 100000)), 'C')
    ) STORED`.execute(db);
  await sql`CREATE INDEX calls_search_idx ON calls USING gin (search_vector)`.execute(db);
}

async function createSqliteSearch(db: Kysely<any>): Promise<void> {
  // Contentless: the text lives only in `calls`; the index holds tokens, keyed by the call's
  // rowid. `tenant` holds one token (the tenant id in hex) so a query is scoped to one tenant
  // inside the index itself. unicode61 splits at every non-alphanumeric character.
  await sql`
    CREATE VIRTUAL TABLE calls_search USING fts5(
      tenant, caller_name, topics, summary, collected, transcript,
      content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0'
    )`.execute(db);
  const document = (row: 'new') =>
    sql.raw(`
      ${row}.rowid,
      hex(${row}.tenant_id),
      ${row}.caller_name,
      (SELECT group_concat(value, ' ') FROM json_each(${row}.topics)),
      ${row}.summary,
      (SELECT group_concat(value, ' ') FROM json_tree(${row}.collected_data)
        WHERE type IN ('text', 'integer', 'real')),
      substr(${row}.transcript, 1, 100000)`);
  const columns = sql.raw('rowid, tenant, caller_name, topics, summary, collected, transcript');
  await sql`
    CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
      INSERT INTO calls_search (${columns}) VALUES (${document('new')});
    END`.execute(db);
  await sql`
    CREATE TRIGGER calls_search_update AFTER UPDATE OF
      caller_name, topics, summary, collected_data, transcript ON calls
    WHEN old.caller_name IS NOT new.caller_name OR old.topics IS NOT new.topics
      OR old.summary IS NOT new.summary OR old.collected_data IS NOT new.collected_data
      OR old.transcript IS NOT new.transcript
    BEGIN
      DELETE FROM calls_search WHERE rowid = old.rowid;
      INSERT INTO calls_search (${columns}) VALUES (${document('new')});
    END`.execute(db);
  await sql`
    CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
      DELETE FROM calls_search WHERE rowid = old.rowid;
    END`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect === 'postgres') {
    await sql`ALTER TABLE calls DROP COLUMN search_vector`.execute(db);
    await sql`DROP FUNCTION callmind_words(text)`.execute(db);
    await sql`DROP FUNCTION callmind_json_words(jsonb)`.execute(db);
  } else {
    await sql`DROP TRIGGER calls_search_delete`.execute(db);
    await sql`DROP TRIGGER calls_search_update`.execute(db);
    await sql`DROP TRIGGER calls_search_insert`.execute(db);
    await sql`DROP TABLE calls_search`.execute(db);
  }
  await db.schema.dropIndex('calls_status_started_idx').execute();
  await db.schema.dropIndex('calls_tenant_stats_idx').execute();
  await db.schema.dropIndex('calls_tenant_duration_idx').execute();
  await db.schema.dropIndex('calls_tenant_caller_started_idx').execute();
  await db.schema.alterTable('calls').dropColumn('end_reason').execute();
}
