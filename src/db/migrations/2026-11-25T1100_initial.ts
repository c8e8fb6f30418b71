// Frozen in time: never edit a migration that has shipped; add a new one.
// Portable column types only (text ids and ISO timestamps, JSON as text, integer money).
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  await db.schema
    .createTable('agents')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('org_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('agents_pk', ['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('calls')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('call_sid', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('org_id', 'text')
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('caller_number', 'text')
    .addColumn('caller_name', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addColumn('duration', 'double precision')
    .addColumn('recording_url', 'text')
    .addColumn('transcript', 'text')
    .addColumn('sentiment', 'text')
    .addColumn('summary', 'text')
    .addColumn('topics', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('collected_data', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('cost_micros', 'bigint')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('calls_tenant_call_sid_unique', ['tenant_id', 'call_sid'])
    .execute();

  // Keyset pages: newest first within a tenant, optionally within an agent or a status.
  await db.schema
    .createIndex('calls_tenant_started_idx')
    .on('calls')
    .columns(['tenant_id', 'started_at', 'id'])
    .execute();
  await db.schema
    .createIndex('calls_tenant_agent_started_idx')
    .on('calls')
    .columns(['tenant_id', 'agent_id', 'started_at', 'id'])
    .execute();
  await db.schema
    .createIndex('calls_tenant_status_started_idx')
    .on('calls')
    .columns(['tenant_id', 'status', 'started_at', 'id'])
    .execute();

  await db.schema
    .createTable('call_events')
    .addColumn(
      'id',
      dialect === 'postgres' ? sql`bigint generated always as identity` : 'integer',
      (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()),
    )
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('call_id', 'text', (c) => c.notNull().references('calls.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('status_before', 'text')
    .addColumn('status_after', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('call_events_call_idx')
    .on('call_events')
    .columns(['call_id', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('call_events').execute();
  await db.schema.dropTable('calls').execute();
  await db.schema.dropTable('agents').execute();
}
