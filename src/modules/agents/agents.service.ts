// Agents: who handled a call. An agent belongs to one tenant; its calls belong to that tenant.
import type { Transaction } from 'kysely';
import type { AgentRow, Database } from '../../db/types.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { newAgentId } from '../../lib/ids.js';
import type { Clock } from '../../lib/time.js';
import type { AuthContext } from '../identity/identity.js';
import type { AgentRepository } from './agents.repository.js';
import type { Agent, CreateAgentBody } from './agents.schemas.js';

export interface AgentServiceDeps {
  readonly agents: AgentRepository;
  readonly clock: Clock;
  /** Dev mode: an unknown agentId on ingest registers the agent instead of a 404. */
  readonly registerUnknownAgents: boolean;
}

export interface AgentOwner {
  readonly userId: string | null;
  readonly orgId: string | null;
}

export type AgentService = ReturnType<typeof createAgentService>;

export function createAgentService({ agents, clock, registerUnknownAgents }: AgentServiceDeps) {
  return {
    async create(auth: AuthContext, body: CreateAgentBody, owner?: AgentOwner): Promise<Agent> {
      const now = clock().toISOString();
      const inserted = await agents.createIfAbsent({
        tenant_id: auth.tenantId,
        id: body.id ?? newAgentId(),
        name: body.name,
        user_id: owner?.userId ?? auth.userId,
        org_id: owner?.orgId ?? auth.orgId,
        created_at: now,
        updated_at: now,
      });
      if (inserted === undefined) {
        throw new ConflictError('agent_exists', `an agent with id ${body.id} already exists`, [
          { field: 'id', message: 'is already taken' },
        ]);
      }
      return toAgent(inserted);
    },

    async get(auth: AuthContext, id: string): Promise<Agent> {
      const row = await agents.get(auth.tenantId, id);
      if (row === undefined) throw agentNotFound(id);
      return toAgent(row);
    },

    async list(auth: AuthContext): Promise<Agent[]> {
      return (await agents.list(auth.tenantId)).map(toAgent);
    },

    /**
     * The owner of a call's agent, inside the ingest transaction. In dev mode an unknown agent is
     * registered on first use; INSERT .. ON CONFLICT DO NOTHING makes racing first uses safe.
     */
    async resolveForIngest(
      trx: Transaction<Database>,
      auth: AuthContext,
      agentId: string,
      claimedOwner: AgentOwner,
      now: string,
    ): Promise<AgentOwner> {
      const repo = agents.inTransaction(trx);
      let row = await repo.get(auth.tenantId, agentId);
      if (row === undefined && registerUnknownAgents) {
        row =
          (await repo.createIfAbsent({
            tenant_id: auth.tenantId,
            id: agentId,
            name: agentId,
            user_id: claimedOwner.userId ?? auth.userId,
            org_id: claimedOwner.orgId ?? auth.orgId,
            created_at: now,
            updated_at: now,
          })) ?? (await repo.get(auth.tenantId, agentId));
      }
      if (row === undefined) throw agentNotFound(agentId);
      return { userId: row.user_id, orgId: row.org_id };
    },
  };
}

function agentNotFound(id: string): NotFoundError {
  return new NotFoundError('agent_not_found', `no agent with id ${id}`);
}

export function toAgent(row: AgentRow): Agent {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    orgId: row.org_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
