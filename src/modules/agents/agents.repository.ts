// SQL for agents. Every query is scoped to a tenant.
import type { Kysely, Transaction } from 'kysely';
import type { AgentRow, Database, NewAgentRow } from '../../db/types.js';

const AGENT_COLUMNS = [
  'tenant_id',
  'id',
  'name',
  'user_id',
  'org_id',
  'created_at',
  'updated_at',
] as const;

export type AgentRepository = ReturnType<typeof createAgentRepository>;

export function createAgentRepository(db: Kysely<Database> | Transaction<Database>) {
  return {
    inTransaction: (trx: Transaction<Database>) => createAgentRepository(trx),

    get(tenantId: string, id: string): Promise<AgentRow | undefined> {
      return db
        .selectFrom('agents')
        .select(AGENT_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
    },

    list(tenantId: string): Promise<AgentRow[]> {
      return db
        .selectFrom('agents')
        .select(AGENT_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .orderBy('created_at', 'asc')
        .orderBy('id', 'asc')
        .execute();
    },

    /** Inserts unless the tenant already has that id; returns the row only if it was inserted. */
    createIfAbsent(row: NewAgentRow): Promise<AgentRow | undefined> {
      return db
        .insertInto('agents')
        .values(row)
        .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
        .returning(AGENT_COLUMNS)
        .executeTakeFirst();
    },
  };
}
