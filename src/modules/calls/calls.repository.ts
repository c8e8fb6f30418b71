// SQL for calls and their event timeline. Every query takes the tenant and filters on it.
import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from '../../db/database.js';
import type {
  CallEventRow,
  CallRow,
  CallRowUpdate,
  Database,
  NewCallEventRow,
  NewCallRow,
} from '../../db/types.js';
import type { CallCursor } from '../../lib/cursor.js';

const CALL_COLUMNS = [
  'id',
  'tenant_id',
  'call_sid',
  'agent_id',
  'user_id',
  'org_id',
  'direction',
  'caller_number',
  'caller_name',
  'status',
  'started_at',
  'ended_at',
  'duration',
  'recording_url',
  'transcript',
  'sentiment',
  'summary',
  'topics',
  'collected_data',
  'cost_micros',
  'created_at',
  'updated_at',
  'started_at_source',
  'duration_source',
  'direction_source',
] as const;

const EVENT_COLUMNS = [
  'id',
  'tenant_id',
  'call_id',
  'kind',
  'outcome',
  'status_before',
  'status_after',
  'received_at',
  'payload',
] as const;

export interface ListCallsFilter {
  readonly agentId?: string | undefined;
  readonly status?: string | undefined;
  readonly after?: CallCursor | undefined;
  readonly limit: number;
}

export type CallRepository = ReturnType<typeof createCallRepository>;

export function createCallRepository(
  db: Kysely<Database> | Transaction<Database>,
  dialect: Dialect,
) {
  return {
    inTransaction: (trx: Transaction<Database>) => createCallRepository(trx, dialect),

    /**
     * The idempotent create: ON CONFLICT on (tenant, callSid) lets the database decide which of
     * many racing requests creates the row. Returns the row only if this call inserted it.
     */
    insertIfAbsent(row: NewCallRow): Promise<CallRow | undefined> {
      return db
        .insertInto('calls')
        .values(row)
        .onConflict((oc) => oc.columns(['tenant_id', 'call_sid']).doNothing())
        .returning(CALL_COLUMNS)
        .executeTakeFirst();
    },

    /**
     * Reads a call to merge into it. Inside a write transaction this holds the row lock on
     * PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the database's write lock.
     */
    getBySidForUpdate(tenantId: string, callSid: string): Promise<CallRow | undefined> {
      let query = db
        .selectFrom('calls')
        .select(CALL_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('call_sid', '=', callSid);
      if (dialect === 'postgres') query = query.forUpdate();
      return query.executeTakeFirst();
    },

    getByIdForUpdate(tenantId: string, id: string): Promise<CallRow | undefined> {
      let query = db
        .selectFrom('calls')
        .select(CALL_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id);
      if (dialect === 'postgres') query = query.forUpdate();
      return query.executeTakeFirst();
    },

    get(tenantId: string, id: string): Promise<CallRow | undefined> {
      return db
        .selectFrom('calls')
        .select(CALL_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
    },

    getBySid(tenantId: string, callSid: string): Promise<CallRow | undefined> {
      return db
        .selectFrom('calls')
        .select(CALL_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('call_sid', '=', callSid)
        .executeTakeFirst();
    },

    async update(tenantId: string, id: string, changes: CallRowUpdate): Promise<void> {
      await db
        .updateTable('calls')
        .set(changes)
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
    },

    /** Deletes the call (its events go with it, ON DELETE CASCADE); true if there was one. */
    async delete(tenantId: string, id: string): Promise<boolean> {
      const result = await db
        .deleteFrom('calls')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    /** Newest first by (started_at, id); `after` continues strictly past the previous page. */
    list(tenantId: string, filter: ListCallsFilter): Promise<CallRow[]> {
      let query = db.selectFrom('calls').select(CALL_COLUMNS).where('tenant_id', '=', tenantId);
      if (filter.agentId !== undefined) query = query.where('agent_id', '=', filter.agentId);
      if (filter.status !== undefined) query = query.where('status', '=', filter.status);
      const after = filter.after;
      if (after !== undefined) {
        query = query.where((eb) =>
          eb(eb.refTuple('started_at', 'id'), '<', eb.tuple(after.startedAt, after.id)),
        );
      }
      return query
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .limit(filter.limit)
        .execute();
    },

    async insertEvent(row: NewCallEventRow): Promise<void> {
      await db.insertInto('call_events').values(row).execute();
    },

    /** Oldest first; `afterId` continues past the previous page. */
    listEvents(
      tenantId: string,
      callId: string,
      page: { afterId?: number | undefined; limit: number },
    ): Promise<CallEventRow[]> {
      let query = db
        .selectFrom('call_events')
        .select(EVENT_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('call_id', '=', callId);
      if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
      return query.orderBy('id', 'asc').limit(page.limit).execute();
    },
  };
}
