// Frozen in time: never edit a migration that has shipped; add a new one.
// Provider adapters (issue 8): each tenant's provider secrets (Twilio auth token, Vapi server
// secret, Retell API key), and the last Twilio SequenceNumber applied to each call.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, _dialect: MigrationDialect): Promise<void> {
  await db.schema
    .createTable('provider_secrets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    // Who the tenant is (an organization, or a user's personal tenant): the credential a
    // delivery verified by this secret acts as.
    .addColumn('org_id', 'text')
    .addColumn('user_id', 'text')
    // twilio, vapi or retell.
    .addColumn('provider', 'text', (c) => c.notNull())
    // The key itself: signatures can only be checked with it (as webhook_secrets.secret).
    .addColumn('secret', 'text', (c) => c.notNull())
    // Its last four characters, for lists (the secret itself is never shown again).
    .addColumn('hint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    // Null while current; set when a newer secret replaces it (the end of the overlap).
    .addColumn('expires_at', 'text')
    .execute();
  await db.schema
    .createIndex('provider_secrets_tenant_idx')
    .on('provider_secrets')
    .columns(['tenant_id', 'provider', 'created_at'])
    .execute();

  await db.schema
    .createTable('provider_call_sequences')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('call_sid', 'text', (c) => c.notNull())
    // The highest sequence number applied. Kept when the call is deleted (no foreign key), as
    // webhook_deliveries rows are, so that a late callback cannot bring an erased call back.
    .addColumn('sequence', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('provider_call_sequences_pk', ['tenant_id', 'provider', 'call_sid'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('provider_call_sequences').execute();
  await db.schema.dropTable('provider_secrets').execute();
}
