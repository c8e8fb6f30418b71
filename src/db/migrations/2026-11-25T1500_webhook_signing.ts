// Frozen in time: never edit a migration that has shipped; add a new one.
// Signing secrets for Standard Webhooks, and the ids of deliveries already processed.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, _dialect: MigrationDialect): Promise<void> {
  await db.schema
    .createTable('webhook_secrets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    // The HMAC key itself: a receiver must hold it to check signatures.
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    // Null while current; set when a newer secret replaces it (the end of the overlap).
    .addColumn('expires_at', 'text')
    .execute();
  await db.schema
    .createIndex('webhook_secrets_tenant_idx')
    .on('webhook_secrets')
    .columns(['tenant_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('webhook_id', 'text', (c) => c.notNull())
    // Set once the delivery is processed; kept (as null) when the call is deleted, so that a
    // replay of an old delivery cannot bring an erased call back.
    .addColumn('call_id', 'text', (c) => c.references('calls.id').onDelete('set null'))
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_deliveries_pk', ['tenant_id', 'webhook_id'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_call_idx')
    .on('webhook_deliveries')
    .column('call_id')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_deliveries').execute();
  await db.schema.dropTable('webhook_secrets').execute();
}
