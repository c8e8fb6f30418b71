// PostgreSQL's hot writes in one statement each, without BEGIN and COMMIT: a statement is its
// own transaction. The ingest path's usual transaction (BEGIN, the agent, the insert, its event,
// COMMIT) is five round trips, and a merge by callSid seven; a profile of the server under
// ingest put 40 % of its main thread in writing queries to PostgreSQL's socket, and each
// statement costs the server a parse, a plan and a wake-up besides. Here a new call is one
// statement (agent, insert and event together) and a merge two (the read, then the update and
// its event, applied only if the row is still the version read). Whatever these cannot settle
// (an unknown agent, a call another request is creating, a row changed since it was read) they
// report, and the caller takes the locking transaction instead (call-writes.ts).
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { CallRow, CallRowUpdate, Database, NewCallRow } from '../../db/types.js';
import type { Owner } from './call-merge.js';
import { CALL_COLUMNS } from './calls.repository.js';

/** A stored call and its row version (PostgreSQL's xmin: a new one on every update). */
export interface VersionedCall {
  readonly row: CallRow;
  readonly version: string;
}

/** What the event of a write records besides its call (the statement fills that in). */
export interface WriteEvent {
  readonly kind: string;
  readonly receivedAt: string;
  readonly payload: string;
}

export type CreateOutcome =
  | { readonly kind: 'created'; readonly row: CallRow }
  /** The callSid is taken: the stored call as this statement saw it, and the agent's owner. */
  | { readonly kind: 'exists'; readonly stored: VersionedCall; readonly owner: Owner }
  /** The agent is unknown, or the call is being created by a request not yet committed. */
  | { readonly kind: 'unsettled' };

/** Column types where a parameter in a SELECT list needs one (it would be text otherwise). */
const CALL_COLUMN_TYPES: Partial<Record<keyof NewCallRow, string>> = {
  duration: 'double precision',
  cost_micros: 'bigint',
};

const OWNER_COLUMNS = new Set(['user_id', 'org_id']);

const callColumns = (table: string): RawBuilder<unknown> =>
  sql.join(CALL_COLUMNS.map((column) => sql.ref(`${table}.${column}`)));

interface CreateRow extends CallRow {
  readonly outcome: 'created' | 'exists';
  readonly version: string | null;
  readonly owner_user_id: string | null;
  readonly owner_org_id: string | null;
}

function withoutExtras(row: CreateRow): CallRow {
  const call: Record<string, unknown> = {};
  for (const column of CALL_COLUMNS) call[column] = row[column];
  return call as unknown as CallRow;
}

export function createPostgresCallWriteRepository(db: Kysely<Database>) {
  return {
    /**
     * Inserts the call with its event unless its callSid is taken; its owner is the agent's
     * (`agentId`), or the row's own when no agent is named. When the callSid is taken, returns
     * the stored call instead, read in the same statement.
     */
    async create(
      row: NewCallRow,
      agentId: string | undefined,
      event: WriteEvent,
    ): Promise<CreateOutcome> {
      const columns = Object.keys(row).filter((column) => !OWNER_COLUMNS.has(column));
      const values = columns.map((column) => {
        const value = row[column as keyof NewCallRow];
        const type = CALL_COLUMN_TYPES[column as keyof NewCallRow] ?? 'text';
        return sql`${value}::${sql.raw(type)}`;
      });
      const owner =
        agentId === undefined
          ? sql`SELECT ${row.user_id ?? null}::text AS user_id, ${row.org_id ?? null}::text AS org_id`
          : sql`SELECT user_id, org_id FROM agents WHERE tenant_id = ${row.tenant_id} AND id = ${agentId}`;
      const { rows } = await sql<CreateRow>`
        WITH owner AS (${owner}),
        inserted AS (
          INSERT INTO calls (${sql.join(columns.map((column) => sql.ref(column)))}, user_id, org_id)
          SELECT ${sql.join(values)}, owner.user_id, owner.org_id FROM owner
          ON CONFLICT (tenant_id, call_sid) DO NOTHING
          RETURNING ${sql.join(CALL_COLUMNS.map((column) => sql.ref(column)))}
        ),
        event AS (
          INSERT INTO call_events (tenant_id, call_id, kind, outcome, status_before, status_after,
            received_at, payload)
          SELECT inserted.tenant_id, inserted.id, ${event.kind}, 'created', NULL, inserted.status,
            ${event.receivedAt}, ${event.payload}
          FROM inserted
        )
        SELECT 'created' AS outcome, ${callColumns('inserted')}, NULL::text AS version,
          NULL::text AS owner_user_id, NULL::text AS owner_org_id
        FROM inserted
        UNION ALL
        SELECT 'exists', ${callColumns('stored')}, stored.xmin::text, owner.user_id, owner.org_id
        FROM owner JOIN calls stored
          ON stored.tenant_id = ${row.tenant_id} AND stored.call_sid = ${row.call_sid}
        WHERE NOT EXISTS (SELECT 1 FROM inserted)`.execute(db);
      const [found] = rows;
      if (found === undefined) return { kind: 'unsettled' };
      if (found.outcome === 'created') return { kind: 'created', row: withoutExtras(found) };
      return {
        kind: 'exists',
        stored: { row: withoutExtras(found), version: found.version! },
        owner: { userId: found.owner_user_id, orgId: found.owner_org_id },
      };
    },

    /** The call and its version, read outside any transaction (no lock). */
    async read(tenantId: string, id: string): Promise<VersionedCall | undefined> {
      const { rows } = await sql<CallRow & { version: string }>`
        SELECT ${callColumns('calls')}, calls.xmin::text AS version FROM calls
        WHERE tenant_id = ${tenantId} AND id = ${id}`.execute(db);
      const [found] = rows;
      if (found === undefined) return undefined;
      const { version, ...row } = found;
      return { row, version };
    },

    /**
     * Applies `changes` (none: only the event) and records the event, in one statement, if the
     * call is still at `version`; false, changing nothing, if it was changed or deleted since.
     */
    async mergeAtVersion(
      stored: VersionedCall,
      changes: CallRowUpdate,
      event: WriteEvent & { readonly statusAfter: string },
    ): Promise<boolean> {
      const { tenant_id: tenantId, id, status } = stored.row;
      const assignments = Object.entries(changes).map(
        ([column, value]) => sql`${sql.ref(column)} = ${value as unknown}`,
      );
      // UPDATE re-reads a row changed by a transaction it waited for and checks the version
      // again; FOR UPDATE does the same when there is nothing to change.
      const target =
        assignments.length > 0
          ? sql`UPDATE calls SET ${sql.join(assignments)}
              WHERE tenant_id = ${tenantId} AND id = ${id} AND xmin = ${stored.version}::xid
              RETURNING id`
          : sql`SELECT id FROM calls
              WHERE tenant_id = ${tenantId} AND id = ${id} AND xmin = ${stored.version}::xid
              FOR UPDATE`;
      const { rows } = await sql<{ id: string }>`
        WITH target AS (${target}),
        event AS (
          INSERT INTO call_events (tenant_id, call_id, kind, outcome, status_before, status_after,
            received_at, payload)
          SELECT ${tenantId}, target.id, ${event.kind}, 'merged', ${status}, ${event.statusAfter},
            ${event.receivedAt}, ${event.payload}
          FROM target
        )
        SELECT id FROM target`.execute(db);
      return rows.length > 0;
    },
  };
}

export type PostgresCallWriteRepository = ReturnType<typeof createPostgresCallWriteRepository>;
