// SQL of the background sweepers and the tenant settings they read. Sweeps work in bounded
// batches, each in its own short write transaction, so they never hold SQLite's write lock for
// long; on PostgreSQL, SKIP LOCKED lets several instances sweep at once without waiting.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Dialect } from '../../db/database.js';
import type { Database } from '../../db/types.js';

export interface StaleCall {
  readonly tenantId: string;
  readonly id: string;
  readonly status: string;
}

export type MaintenanceRepository = ReturnType<typeof createMaintenanceRepository>;

export function createMaintenanceRepository(
  db: Kysely<Database> | Transaction<Database>,
  dialect: Dialect,
) {
  return {
    inTransaction: (trx: Transaction<Database>) => createMaintenanceRepository(trx, dialect),

    /**
     * PostgreSQL: ANALYZEs the tables changed by more than autoanalyze's default share (50 rows
     * + 10 %) since their last analysis, and names them. A no-op where autovacuum keeps up; where
     * it is off, the planner would otherwise plan for the tables as they were when small. Not in
     * a transaction.
     */
    async analyzeChanged(): Promise<string[]> {
      if (dialect !== 'postgres') return [];
      const { rows } = await sql<{ table: string }>`
        SELECT relname AS table FROM pg_stat_user_tables
        WHERE schemaname = current_schema() AND n_mod_since_analyze > 50 + 0.1 * n_live_tup
        ORDER BY relname`.execute(db);
      for (const { table } of rows) await sql`ANALYZE ${sql.table(table)}`.execute(db);
      return rows.map((row) => row.table);
    },

    /**
     * PostgreSQL: VACUUMs call_search_pending, the search index's queue of notes (migration
     * 2026-12-07T1000): every write inserts a note and the indexer deletes it, so where
     * autovacuum is off the dead notes would pile up, and the indexer's scan from the oldest
     * note would cross them all. Skipped while another instance vacuums it. Not in a transaction.
     */
    async vacuumSearchNotes(): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`VACUUM (SKIP_LOCKED) call_search_pending`.execute(db);
    },

    /** Live calls that started before `cutoff`, locked for this transaction (PostgreSQL). */
    async claimStaleCalls(cutoff: string, limit: number): Promise<StaleCall[]> {
      let query = db
        .selectFrom('calls')
        .select(['tenant_id', 'id', 'status'])
        .where('status', 'in', ['ringing', 'in-progress'])
        .where('started_at', '<', cutoff)
        .orderBy('started_at')
        .limit(limit);
      if (dialect === 'postgres') query = query.forUpdate().skipLocked();
      const rows = await query.execute();
      return rows.map((row) => ({ tenantId: row.tenant_id, id: row.id, status: row.status }));
    },

    /** Ends a claimed call as failed: its final event never came. */
    async endStaleCall(call: StaleCall, now: string): Promise<void> {
      await db
        .updateTable('calls')
        .set({ status: 'failed', end_reason: 'missing_final_event', updated_at: now })
        .where('tenant_id', '=', call.tenantId)
        .where('id', '=', call.id)
        .execute();
      await db
        .insertInto('call_events')
        .values({
          tenant_id: call.tenantId,
          call_id: call.id,
          kind: 'sweep',
          outcome: 'merged',
          status_before: call.status,
          status_after: 'failed',
          received_at: now,
          payload: JSON.stringify({ endReason: 'missing_final_event' }),
        })
        .execute();
    },

    /** Tenants whose own retention differs from the default (0: keep forever). */
    async retentionOverrides(): Promise<Array<{ tenantId: string; days: number }>> {
      const rows = await db
        .selectFrom('tenant_settings')
        .select(['tenant_id', 'retention_days'])
        .where('retention_days', 'is not', null)
        .execute();
      return rows.map((row) => ({ tenantId: row.tenant_id, days: Number(row.retention_days) }));
    },

    /**
     * Deletes up to `limit` calls that started before `cutoff`: one tenant's, or (tenantId
     * undefined) those of every tenant without its own retention. Events cascade; the search
     * index follows. Returns how many went.
     */
    async deleteExpired(
      cutoff: string,
      tenantId: string | undefined,
      limit: number,
    ): Promise<Array<{ tenantId: string; id: string }>> {
      let expired = db
        .selectFrom('calls')
        .select('id')
        .where('started_at', '<', cutoff)
        .where((eb) =>
          tenantId !== undefined
            ? eb('tenant_id', '=', tenantId)
            : eb(
                'tenant_id',
                'not in',
                eb
                  .selectFrom('tenant_settings')
                  .select('tenant_id')
                  .where('retention_days', 'is not', null),
              ),
        )
        .limit(limit);
      if (dialect === 'postgres') expired = expired.forUpdate().skipLocked();
      const deleted = await db
        .deleteFrom('calls')
        .where('id', 'in', expired)
        .returning(['tenant_id', 'id'])
        .execute();
      return deleted.map((row) => ({ tenantId: row.tenant_id, id: row.id }));
    },

    async getSettings(tenantId: string): Promise<{ retentionDays: number | null }> {
      const row = await db
        .selectFrom('tenant_settings')
        .select('retention_days')
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst();
      return {
        retentionDays:
          row === undefined || row.retention_days === null ? null : Number(row.retention_days),
      };
    },

    async setRetention(tenantId: string, days: number | null, now: string): Promise<void> {
      await db
        .insertInto('tenant_settings')
        .values({ tenant_id: tenantId, retention_days: days, updated_at: now })
        .onConflict((oc) =>
          oc.column('tenant_id').doUpdateSet({ retention_days: days, updated_at: now }),
        )
        .execute();
    },
  };
}
