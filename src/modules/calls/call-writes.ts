// The calls' hot writes (ingest, a status update, a round of search indexing) as what runs
// inside the write transaction, taking plain data only: no request, no clock, no closure. That
// lets the same code run on the main thread's connection (PostgreSQL, or SQLite with
// SQLITE_WRITE_THREAD=false) and on SQLite's writer thread, which gets the arguments by message
// (src/db/sqlite-writer.ts). The caller computes `now` and the new call's id before the write.
import type { Kysely, Transaction } from 'kysely';
import type { CallRow, Database } from '../../db/types.js';
import type { Transactor } from '../../db/transactor.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import type { AgentService } from '../agents/agents.service.js';
import type { AuthContext } from '../identity/identity.js';
import type { WebhookSigningRepository } from '../webhook-signing/webhook-signing.repository.js';
import {
  buildNewCall,
  mergeIntoCall,
  statusRank,
  type CallInput,
  type Owner,
} from './call-merge.js';
import type { CallRepository, SearchIndexRound } from './calls.repository.js';
import type { Call, CallStatus } from './calls.schemas.js';
import { toCall } from './call-shape.js';

/** What arrived, recorded as the event's kind. */
export type IngestKind = 'create' | 'started' | 'completed';

export const DEFAULT_STATUS: Record<IngestKind, CallStatus> = {
  create: 'in-progress',
  started: 'in-progress',
  completed: 'completed',
};

/**
 * What a write did, for the metrics: made the record, changed it, or changed nothing (a repeat
 * of what is stored, or a replayed signed delivery).
 */
export type IngestOutcome = 'created' | 'merged' | 'duplicate';

export interface IngestResult {
  /** Undefined only for a replayed delivery whose call has since been deleted. */
  readonly call: Call | undefined;
  /** True when this write made the record (201), false when it merged into one (200). */
  readonly created: boolean;
  /**
   * A signed delivery whose id was processed before, or a callback older than one applied
   * (IngestOrder): acknowledged, not applied again.
   */
  readonly replayed: boolean;
  readonly outcome: IngestOutcome;
}

export interface StatusUpdateResult {
  readonly call: Call;
  /** merged when a column changed, duplicate when the update repeated what is stored. */
  readonly outcome: Exclude<IngestOutcome, 'created'>;
}

/** A signed webhook delivery: its id makes redeliveries idempotent. */
export interface Delivery {
  readonly webhookId: string;
}

/**
 * A sender's own numbering of its callbacks for one call (Twilio's SequenceNumber). It is
 * claimed inside the write transaction before anything is written, so concurrent callbacks are
 * ordered by it; a callback numbered the same as or lower than one applied is acknowledged with
 * the call as it is, changing nothing (as a replayed delivery).
 */
export interface IngestOrder {
  readonly provider: string;
  readonly sequence: number;
}

/** Where a provider's callback numbers are kept (the providers' repository). */
export interface SequenceClaims {
  inTransaction(trx: Transaction<Database>): {
    claimSequence(
      tenantId: string,
      provider: string,
      callSid: string,
      sequence: number,
      at: string,
    ): Promise<boolean>;
  };
}

export interface IngestWrite {
  readonly auth: AuthContext;
  readonly kind: IngestKind;
  readonly callSid: string;
  readonly input: CallInput;
  /** The owner the body claims (already checked against the credential). */
  readonly claimedOwner: Owner;
  /** The event's record of what arrived (eventPayload). */
  readonly payload: string;
  readonly delivery: Delivery | undefined;
  readonly order: IngestOrder | undefined;
  readonly now: string;
  /** The id the call gets if this write creates it. */
  readonly newId: string;
}

export interface StatusWrite {
  readonly tenantId: string;
  readonly id: string;
  readonly input: CallInput;
  readonly payload: string;
  readonly now: string;
}

export interface SearchIndexWrite {
  /** Calls indexed in this transaction, at most. */
  readonly batch: number;
  /** Only calls noted up to here (so a round under steady writes ends). */
  readonly upTo: number;
}

/** The writes, wherever they run. Each resolves once its transaction has committed. */
export interface CallWrites {
  ingest(write: IngestWrite): Promise<IngestResult>;
  updateStatus(write: StatusWrite): Promise<StatusUpdateResult>;
  /**
   * SQLite: indexes up to `batch` calls waiting for the search index; returns how many, and
   * the last note done. On the search indexer's thread when there is one (sqlite-search-file.ts).
   */
  indexSearch(write: SearchIndexWrite): Promise<SearchIndexRound>;
  /** SQLite: deletes the notes the search index has done, up to `through`. */
  forgetIndexedSearch(through: number): Promise<void>;
}

export interface CallWriteDeps {
  readonly calls: CallRepository;
  readonly agents: AgentService;
  readonly deliveries: WebhookSigningRepository;
  readonly sequences: SequenceClaims;
}

/** Each write as a function of its transaction and its data. */
export function callWriteSteps(deps: CallWriteDeps) {
  const { calls, agents, deliveries, sequences } = deps;
  return {
    async ingest(trx: Transaction<Database>, write: IngestWrite): Promise<IngestResult> {
      const { auth, kind, callSid, input, payload, delivery, order, now } = write;
      const callsInTrx = calls.inTransaction(trx);
      const deliveriesInTrx = deliveries.inTransaction(trx);
      if (
        delivery !== undefined &&
        !(await deliveriesInTrx.claimDelivery(auth.tenantId, delivery.webhookId, now))
      ) {
        // Processed before: acknowledge with the call as it is now, change nothing.
        const callId = await deliveriesInTrx.deliveryCall(auth.tenantId, delivery.webhookId);
        const row = callId === null ? undefined : await callsInTrx.get(auth.tenantId, callId);
        return { call: row && toCall(row), created: false, replayed: true, outcome: 'duplicate' };
      }
      if (
        order !== undefined &&
        !(await sequences
          .inTransaction(trx)
          .claimSequence(auth.tenantId, order.provider, callSid, order.sequence, now))
      ) {
        const row = await callsInTrx.getBySid(auth.tenantId, callSid);
        return { call: row && toCall(row), created: false, replayed: true, outcome: 'duplicate' };
      }
      const owner: Owner =
        input.agentId !== undefined
          ? await agents.resolveForIngest(trx, auth, input.agentId, write.claimedOwner, now)
          : { userId: auth.userId, orgId: auth.orgId };

      const inserted = await callsInTrx.insertIfAbsent(
        buildNewCall({
          id: write.newId,
          tenantId: auth.tenantId,
          callSid,
          owner,
          input,
          defaultStatus: DEFAULT_STATUS[kind],
          now,
        }),
      );
      if (inserted !== undefined) {
        await callsInTrx.insertEvent({
          tenant_id: auth.tenantId,
          call_id: inserted.id,
          kind,
          outcome: 'created',
          status_before: null,
          status_after: inserted.status,
          received_at: now,
          payload,
        });
        if (delivery !== undefined) {
          await deliveriesInTrx.setDeliveryCall(auth.tenantId, delivery.webhookId, inserted.id);
        }
        return { call: toCall(inserted), created: true, replayed: false, outcome: 'created' };
      }

      const stored = await callsInTrx.getBySidForUpdate(auth.tenantId, callSid);
      if (stored === undefined) {
        // The conflicting row was deleted between our two statements; the sender may retry.
        throw new ConflictError('call_changed', `call ${callSid} changed concurrently; retry`);
      }
      if (
        input.agentId !== undefined &&
        stored.agent_id !== '' &&
        stored.agent_id !== input.agentId
      ) {
        throw new ConflictError(
          'call_agent_mismatch',
          `call ${callSid} already belongs to agent ${stored.agent_id}`,
          [{ field: 'agentId', message: `does not match the call's agent ${stored.agent_id}` }],
        );
      }
      // Webhooks are at-least-once and unordered: a late, lower status is ignored, not
      // refused, and such a stale write only fills what is missing.
      const fillOnly = statusRank(input.status ?? DEFAULT_STATUS[kind]) < statusRank(stored.status);
      const { changes } = mergeIntoCall(stored, input, owner, now, { fillOnly });
      if (Object.keys(changes).length > 0) {
        await callsInTrx.update(auth.tenantId, stored.id, changes);
      }
      const merged: CallRow = { ...stored, ...changes };
      await callsInTrx.insertEvent({
        tenant_id: auth.tenantId,
        call_id: stored.id,
        kind,
        outcome: 'merged',
        status_before: stored.status,
        status_after: merged.status,
        received_at: now,
        payload,
      });
      if (delivery !== undefined) {
        await deliveriesInTrx.setDeliveryCall(auth.tenantId, delivery.webhookId, stored.id);
      }
      return {
        call: toCall(merged),
        created: false,
        replayed: false,
        outcome: Object.keys(changes).length > 0 ? 'merged' : 'duplicate',
      };
    },

    async updateStatus(
      trx: Transaction<Database>,
      { tenantId, id, input, payload, now }: StatusWrite,
    ): Promise<StatusUpdateResult> {
      const callsInTrx = calls.inTransaction(trx);
      const stored = await callsInTrx.getByIdForUpdate(tenantId, id);
      if (stored === undefined) throw callNotFound(id);
      const { changes, statusRefused } = mergeIntoCall(
        stored,
        input,
        { userId: stored.user_id, orgId: stored.org_id },
        now,
      );
      if (statusRefused) {
        throw new ConflictError(
          'status_regression',
          `call ${id} is already ${stored.status}; its status cannot go back to ${input.status}`,
          [{ field: 'status', message: `cannot move from ${stored.status} to ${input.status}` }],
        );
      }
      if (Object.keys(changes).length > 0) {
        await callsInTrx.update(tenantId, id, changes);
      }
      const merged = { ...stored, ...changes };
      await callsInTrx.insertEvent({
        tenant_id: tenantId,
        call_id: id,
        kind: 'status_update',
        outcome: 'merged',
        status_before: stored.status,
        status_after: merged.status,
        received_at: now,
        payload,
      });
      return {
        call: toCall(merged),
        outcome: Object.keys(changes).length > 0 ? 'merged' : 'duplicate',
      };
    },

    ...searchIndexSteps(calls),

    forgetIndexedSearch(trx: Transaction<Database>, through: number): Promise<void> {
      return calls.inTransaction(trx).forgetIndexedSearch(through);
    },
  };
}

/** SQLite's index upkeep: it writes the search file only (sqlite-search-file.ts). */
export function searchIndexSteps(calls: CallRepository) {
  return {
    indexSearch(
      trx: Transaction<Database>,
      { batch, upTo }: SearchIndexWrite,
    ): Promise<SearchIndexRound> {
      return calls.inTransaction(trx).indexPendingSearch(batch, upTo);
    },
  };
}

export type CallWriteSteps = ReturnType<typeof callWriteSteps>;

/** The writes run by a transactor on this thread's connection. */
export function createLocalCallWrites(transactor: Transactor, deps: CallWriteDeps): CallWrites {
  const steps = callWriteSteps(deps);
  return {
    ingest: (write) => transactor.write((trx) => steps.ingest(trx, write)),
    updateStatus: (write) => transactor.write((trx) => steps.updateStatus(trx, write)),
    indexSearch: (write) => transactor.write((trx) => steps.indexSearch(trx, write)),
    forgetIndexedSearch: (through) =>
      transactor.write((trx) => steps.forgetIndexedSearch(trx, through)),
  };
}

export function callNotFound(id: string): NotFoundError {
  return new NotFoundError('call_not_found', `no call with id ${id}`);
}

/**
 * SQLite's indexing on the search indexer's connection (database.searchIndexDb), one round a
 * transaction: it writes the search file only, so ingest never waits for it.
 */
export function createSearchIndexWrites(
  indexDb: Kysely<Database>,
  calls: CallRepository,
): Pick<CallWrites, 'indexSearch'> {
  const steps = searchIndexSteps(calls);
  return {
    indexSearch: (write) => indexDb.transaction().execute((trx) => steps.indexSearch(trx, write)),
  };
}

/**
 * The writes sent by name to SQLite's writer thread; the indexing goes to the search indexer's
 * connection (the writer's has no search file attached).
 */
export function createRemoteCallWrites(
  writer: { run(step: keyof CallWriteSteps, args: unknown): Promise<unknown> },
  indexer: Pick<CallWrites, 'indexSearch'>,
): CallWrites {
  return {
    ingest: (write) => writer.run('ingest', write) as Promise<IngestResult>,
    updateStatus: (write) => writer.run('updateStatus', write) as Promise<StatusUpdateResult>,
    indexSearch: indexer.indexSearch,
    forgetIndexedSearch: (through) => writer.run('forgetIndexedSearch', through) as Promise<void>,
  };
}
