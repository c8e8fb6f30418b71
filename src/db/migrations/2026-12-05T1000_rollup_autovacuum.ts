// Frozen in time: never edit a migration that has shipped; add a new one.
// PostgreSQL's rollup tables churn: every write to a call inserts delta rows, and the compactor
// deletes them every few seconds, so a table of a few hundred live rows leaves tens of
// thousands of dead ones a minute. Autovacuum's default threshold (20 % of the table) reacts
// late on a table that small and then busy; here it vacuums once a few thousand rows are dead.
// (The compactor also vacuums these tables itself, for servers where autovacuum is off: see
// maintenance.service.ts.) SQLite updates its rollups in place: nothing to do.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

const TABLES = ['call_rollup_slots', 'call_rollup_agents', 'call_rollup_durations'];

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  for (const table of TABLES) {
    await sql`
      ALTER TABLE ${sql.table(table)} SET (
        autovacuum_vacuum_scale_factor = 0,
        autovacuum_vacuum_threshold = 5000
      )`.execute(db);
  }
}
