// Frozen in time: never edit a migration that has shipped; add a new one.
// Per-tenant settings; for now how long calls are kept.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, _dialect: MigrationDialect): Promise<void> {
  await db.schema
    .createTable('tenant_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    // Days a call is kept after it started; 0 keeps calls forever; null follows RETENTION_DAYS.
    .addColumn('retention_days', 'integer')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tenant_settings').execute();
}
