// Frozen in time: never edit a migration that has shipped; add a new one.
// Where a call's start, duration and direction came from, so that a value we inferred gives way
// to one a sender states later, whatever order webhooks arrive in.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, _dialect: MigrationDialect): Promise<void> {
  // sent | first_seen (when the record was made) | end (inferred from the end and duration)
  await db.schema
    .alterTable('calls')
    .addColumn('started_at_source', 'text', (c) => c.notNull().defaultTo('sent'))
    .execute();
  // null (unknown) | sent | computed (from the timestamps)
  await db.schema.alterTable('calls').addColumn('duration_source', 'text').execute();
  // sent | default (inbound, because nobody said)
  await db.schema
    .alterTable('calls')
    .addColumn('direction_source', 'text', (c) => c.notNull().defaultTo('sent'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('calls').dropColumn('direction_source').execute();
  await db.schema.alterTable('calls').dropColumn('duration_source').execute();
  await db.schema.alterTable('calls').dropColumn('started_at_source').execute();
}
