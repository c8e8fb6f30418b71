// SQL for moving a whole database between installations (SQLite ↔ PostgreSQL). Reads walk the
// tables in keyset batches, so neither memory nor a long-held SQLite connection grows with size.
import type { Kysely, Transaction } from 'kysely';
import type { AgentRow, CallEventRow, CallRow, Database } from '../../db/types.js';
import { CALL_COLUMNS } from '../calls/calls.repository.js';

export type TransferRepository = ReturnType<typeof createTransferRepository>;

export function createTransferRepository(db: Kysely<Database> | Transaction<Database>) {
  return {
    inTransaction: (trx: Transaction<Database>) => createTransferRepository(trx),

    agentsAfter(
      after: { tenantId: string; id: string } | undefined,
      limit: number,
    ): Promise<AgentRow[]> {
      let query = db.selectFrom('agents').selectAll();
      if (after !== undefined) {
        query = query.where((eb) =>
          eb(eb.refTuple('tenant_id', 'id'), '>', eb.tuple(after.tenantId, after.id)),
        );
      }
      return query.orderBy('tenant_id').orderBy('id').limit(limit).execute();
    },

    callsAfter(afterId: string | undefined, limit: number): Promise<CallRow[]> {
      let query = db.selectFrom('calls').select(CALL_COLUMNS);
      if (afterId !== undefined) query = query.where('id', '>', afterId);
      return query.orderBy('id').limit(limit).execute();
    },

    eventsOfCalls(callIds: readonly string[]): Promise<CallEventRow[]> {
      if (callIds.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('call_events')
        .selectAll()
        .where('call_id', 'in', callIds)
        .orderBy('id')
        .execute();
    },

    /** True when the agent was inserted, false when (tenant, id) already existed. */
    async insertAgent(row: AgentRow): Promise<boolean> {
      const inserted = await db
        .insertInto('agents')
        .values(row)
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    /** True when the call was inserted; false when its id or (tenant, callSid) already existed. */
    async insertCall(row: CallRow): Promise<boolean> {
      // Only the columns we know: a file written by an older version lacks newer ones (they
      // take their defaults), and a hand-edited one must not name columns of its own.
      const values = Object.fromEntries(
        CALL_COLUMNS.filter((column) => row[column] !== undefined).map((column) => [
          column,
          row[column],
        ]),
      ) as CallRow;
      const inserted = await db
        .insertInto('calls')
        .values(values)
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    /** Events get new ids in the target database; their order is kept. */
    async insertEvents(rows: readonly Omit<CallEventRow, 'id'>[]): Promise<void> {
      if (rows.length === 0) return;
      await db
        .insertInto('call_events')
        .values([...rows])
        .execute();
    },
  };
}
