// Frozen in time: never edit a migration that has shipped; add a new one.
// Facets: one row per topic and per scalar collectedData value of every call, ordered by
// (tenant, facet, value, startedAt, id). A `topic=` or `collectedData.KEY=` filter then reads
// the newest matching calls straight off this index, however rare the value is; without it a
// page walks the tenant's calls until enough match, which for a value no call has is all of them.
//
// Triggers keep the table in step with `calls` on every write path (ingest, merges, the
// sweeper, erasure, retention, imports), on both dialects, and this migration fills it for the
// calls already stored. facet is 'topic' or 'data.' + the collectedData key; a value is the
// filter's text of it (strings as stored, numbers and true/false as their JSON text). Values
// longer than FACET_VALUE_MAX characters are not kept: a filter for such a value takes the
// walk instead (call-query.ts).
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

/** The longest value a facet keeps (also in calls.repository.ts; frozen here). */
const FACET_VALUE_MAX = 200;

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  await sql`
    CREATE TABLE call_facets (
      tenant_id text NOT NULL,
      facet text NOT NULL,
      value text NOT NULL,
      started_at text NOT NULL,
      call_id text NOT NULL,
      PRIMARY KEY (tenant_id, facet, value, started_at, call_id)
    ) ${sql.raw(dialect === 'sqlite' ? 'WITHOUT ROWID' : '')}`.execute(db);
  if (dialect === 'postgres') await createPostgresFacets(db);
  else await createSqliteFacets(db);
}

/**
 * SQLite: where a call row's (`new`, `old` or `calls`) facets come from: its topics, and its
 * collectedData's scalar values. Each as (facet, value) expressions over a json_each joined in
 * the FROM, which is where SQLite takes a table-valued function of an outer row.
 */
function sqliteFacetSources(row: 'new' | 'old' | 'calls') {
  return [
    {
      facet: `'topic'`,
      value: 't.value',
      from: `json_each(${row}.topics) AS t`,
      where: `t.type = 'text' AND length(t.value) <= ${FACET_VALUE_MAX}`,
    },
    {
      facet: `'data.' || d.key`,
      value: `CASE d.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
        ELSE CAST(d.value AS TEXT) END`,
      from: `json_each(${row}.collected_data) AS d`,
      where: `d.type IN ('text', 'integer', 'real', 'true', 'false')
        AND length(CAST(d.value AS TEXT)) <= ${FACET_VALUE_MAX}`,
    },
  ];
}

const FACET_COLUMNS = 'tenant_id, facet, value, started_at, call_id';

/** INSERTs of a row's facets (`calls`: every stored call's, joined). */
function sqliteInsertFacets(row: 'new' | 'calls'): string {
  return sqliteFacetSources(row)
    .map(
      ({ facet, value, from, where }) => `INSERT OR IGNORE INTO call_facets (${FACET_COLUMNS})
        SELECT ${row}.tenant_id, ${facet}, ${value}, ${row}.started_at, ${row}.id
        FROM ${row === 'calls' ? 'calls, ' : ''}${from} WHERE ${where};`,
    )
    .join('\n');
}

async function createSqliteFacets(db: Kysely<any>): Promise<void> {
  // Deletes by the old row's own facets, so every row goes by its primary key.
  // Deletes the old row's facets. Its rows are exactly those with this call's id, and every one
  // has a facet and a value from the old row's lists: as two IN lists SQLite seeks each row by
  // the whole primary key. (A row-value IN, (facet, value) IN (…), would use only tenant_id
  // and read every facet of the tenant: half a second per write at a million calls.)
  const oldSources = sqliteFacetSources('old');
  const listOf = (part: 'facet' | 'value') =>
    oldSources
      .map((source) => `SELECT ${source[part]} FROM ${source.from} WHERE ${source.where}`)
      .join(' UNION ');
  const removeOld = `DELETE FROM call_facets
      WHERE tenant_id = old.tenant_id AND started_at = old.started_at AND call_id = old.id
        AND facet IN (${listOf('facet')}) AND value IN (${listOf('value')});`;
  await sql`${sql.raw(`CREATE TRIGGER calls_facets_insert AFTER INSERT ON calls BEGIN
      ${sqliteInsertFacets('new')}
    END`)}`.execute(db);
  await sql`${sql.raw(`CREATE TRIGGER calls_facets_update
    AFTER UPDATE OF topics, collected_data, started_at ON calls
    WHEN old.topics IS NOT new.topics OR old.collected_data IS NOT new.collected_data
      OR old.started_at IS NOT new.started_at
    BEGIN
      ${removeOld}
      ${sqliteInsertFacets('new')}
    END`)}`.execute(db);
  await sql`${sql.raw(`CREATE TRIGGER calls_facets_delete AFTER DELETE ON calls BEGIN
      ${removeOld}
    END`)}`.execute(db);
  // The calls already stored.
  for (const statement of sqliteInsertFacets('calls').split(';')) {
    if (statement.trim() !== '') await sql`${sql.raw(statement)}`.execute(db);
  }
}

async function createPostgresFacets(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION callmind_facets(topics text, collected_data text)
    RETURNS TABLE (facet text, value text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT 'topic', t.value FROM jsonb_array_elements_text(
          CASE WHEN jsonb_typeof(topics::jsonb) = 'array' THEN topics::jsonb ELSE '[]' END) AS t(value)
        WHERE length(t.value) <= ${sql.raw(String(FACET_VALUE_MAX))}
      UNION
      SELECT 'data.' || d.key, d.value #>> '{}' FROM jsonb_each(
          CASE WHEN jsonb_typeof(collected_data::jsonb) = 'object' THEN collected_data::jsonb
          ELSE '{}' END) AS d(key, value)
        WHERE jsonb_typeof(d.value) IN ('string', 'number', 'boolean')
          AND length(d.value #>> '{}') <= ${sql.raw(String(FACET_VALUE_MAX))}
    $$`.execute(db);
  await sql`
    CREATE FUNCTION callmind_sync_facets() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' THEN
        IF TG_OP = 'UPDATE' AND OLD.topics IS NOT DISTINCT FROM NEW.topics
            AND OLD.collected_data IS NOT DISTINCT FROM NEW.collected_data
            AND OLD.started_at IS NOT DISTINCT FROM NEW.started_at THEN
          RETURN NULL;
        END IF;
        DELETE FROM call_facets f USING callmind_facets(OLD.topics, OLD.collected_data) o
          WHERE f.tenant_id = OLD.tenant_id AND f.facet = o.facet AND f.value = o.value
            AND f.started_at = OLD.started_at AND f.call_id = OLD.id;
      END IF;
      IF TG_OP <> 'DELETE' THEN
        INSERT INTO call_facets (tenant_id, facet, value, started_at, call_id)
          SELECT NEW.tenant_id, n.facet, n.value, NEW.started_at, NEW.id
          FROM callmind_facets(NEW.topics, NEW.collected_data) n
          ON CONFLICT DO NOTHING;
      END IF;
      RETURN NULL;
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER calls_facets AFTER INSERT OR UPDATE OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION callmind_sync_facets()`.execute(db);
  await sql`
    INSERT INTO call_facets (tenant_id, facet, value, started_at, call_id)
      SELECT calls.tenant_id, f.facet, f.value, calls.started_at, calls.id
      FROM calls, callmind_facets(calls.topics, calls.collected_data) f
      ON CONFLICT DO NOTHING`.execute(db);
  // Planner statistics now, not when autovacuum gets to it: a facet page joins this table.
  await sql`ANALYZE call_facets`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect === 'postgres') {
    await sql`DROP TRIGGER calls_facets ON calls`.execute(db);
    await sql`DROP FUNCTION callmind_sync_facets()`.execute(db);
    await sql`DROP FUNCTION callmind_facets(text, text)`.execute(db);
  } else {
    await sql`DROP TRIGGER calls_facets_delete`.execute(db);
    await sql`DROP TRIGGER calls_facets_update`.execute(db);
    await sql`DROP TRIGGER calls_facets_insert`.execute(db);
  }
  await sql`DROP TABLE call_facets`.execute(db);
}
