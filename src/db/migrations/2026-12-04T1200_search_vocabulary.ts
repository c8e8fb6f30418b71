// Frozen in time: never edit a migration that has shipped; add a new one.
// SQLite: a read-only view of the search index's vocabulary (how many calls hold each word), so
// a search can pick its plan by how common its words are (calls.repository.ts).
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await sql`CREATE VIRTUAL TABLE calls_search_vocab USING fts5vocab(calls_search, 'row')`.execute(
    db,
  );
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await sql`DROP TABLE calls_search_vocab`.execute(db);
}
