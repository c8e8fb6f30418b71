// Call ingest and reads. Never sees a request or reply: it takes the caller's AuthContext and
// validated input, and returns API shapes or throws AppErrors.
import { joinJsonText } from '../../lib/json-text.js';
import type { Transactor } from '../../db/transactor.js';
import type { Transaction } from 'kysely';
import type { CallEventRow, CallRow, Database } from '../../db/types.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  type FieldError,
} from '../../errors.js';
import { decodeCallCursor, encodeCallCursor, type CallCursor } from '../../lib/cursor.js';
import { newCallId } from '../../lib/ids.js';
import { dollarsToMicros, microsToDollars } from '../../lib/money.js';
import type { Clock } from '../../lib/time.js';
import type { AgentService } from '../agents/agents.service.js';
import type { AuthContext } from '../identity/identity.js';
import {
  buildNewCall,
  mergeIntoCall,
  statusRank,
  type CallInput,
  type Owner,
} from './call-merge.js';
import type { WebhookSigningRepository } from '../webhook-signing/webhook-signing.repository.js';
import type { CallChange } from './call-stream.js';
import type { CallKey, CallRepository, ListedCallRow } from './calls.repository.js';
import { EXPORT_WALK, exportWalk, type ExportWalkSizes } from './calls.export.js';
import { parseCallFilter, searchMatches, type CallFilter } from './call-query.js';
import { buildStats } from './call-stats.js';
import { isTimeZone, ZoneOffsets } from '../../lib/time-zones.js';
import {
  LIMITS,
  type Call,
  type CallCompletedWebhookBody,
  type CallEvent,
  type CallStartedWebhookBody,
  type CallExportQuery,
  type CallStats,
  type CallStatsQuery,
  type EraseCallsBody,
  type CallStatus,
  type CreateCallBody,
  type ListCallEventsQuery,
  type ListCallsQuery,
  type ListedCall,
  type UpdateCallStatusBody,
} from './calls.schemas.js';

/** What arrived, recorded as the event's kind. */
export type IngestKind = 'create' | 'started' | 'completed';

const DEFAULT_STATUS: Record<IngestKind, CallStatus> = {
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
 * A sender's own numbering of its callbacks for one call (Twilio's SequenceNumber). `claim` runs
 * inside the write transaction before anything is written, so concurrent callbacks are ordered
 * by it; false when one numbered the same or later was applied already, and the write is then
 * acknowledged with the call as it is, changing nothing (as a replayed delivery).
 */
export interface IngestOrder {
  claim(trx: Transaction<Database>, tenantId: string): Promise<boolean>;
}

export interface CallPage {
  readonly data: ListedCall[];
  readonly nextCursor: string | null;
  readonly total?: number;
}

export interface CallServiceDeps {
  readonly calls: CallRepository;
  readonly agents: AgentService;
  readonly deliveries: WebhookSigningRepository;
  readonly transactor: Transactor;
  readonly clock: Clock;
  /** How the export walks the calls; EXPORT_WALK unless a test sets it. */
  readonly exportWalkSizes?: ExportWalkSizes | undefined;
  /** Tells the live streams about a committed write (call-stream.ts). */
  readonly publishChange: (change: CallChange) => void;
  /** SQLite: calls indexed for search per write transaction (config SEARCH_INDEX_BATCH). */
  readonly searchIndexBatch: number;
}

type IngestBody = CreateCallBody | CallStartedWebhookBody | CallCompletedWebhookBody;

export type CallService = ReturnType<typeof createCallService>;

export function createCallService({
  calls,
  agents,
  deliveries,
  transactor,
  clock,
  exportWalkSizes = EXPORT_WALK,
  publishChange,
  searchIndexBatch,
}: CallServiceDeps) {
  /**
   * Indexes the calls waiting for the search index when it was called (not those noted since,
   * so a search under steady writes still ends), in batches of `searchIndexBatch`, stopping
   * once `maxCalls` are done; returns how many.
   */
  async function indexPendingSearch({ maxCalls = Number.POSITIVE_INFINITY } = {}): Promise<number> {
    if (!calls.defersSearchIndex) return 0;
    // Read on a reader first, so a search (or an idle server's round) with nothing waiting
    // neither opens a write transaction nor queues behind the writes in flight.
    const upTo = await calls.lastPendingSearch();
    if (upTo === undefined) return 0;
    let indexed = 0;
    while (indexed < maxCalls) {
      const done = await transactor.write((trx) =>
        calls.inTransaction(trx).indexPendingSearch(searchIndexBatch, upTo),
      );
      indexed += done;
      if (done < searchIndexBatch) break;
    }
    return indexed;
  }

  /**
   * Before a read that searches: on SQLite, calls are indexed in batches after their writes
   * commit (T1600), so what still waits is indexed first. The read then sees every write
   * acknowledged before it began. Called once the request is known to be valid.
   */
  async function searchable(filter: CallFilter): Promise<void> {
    if (filter.search !== undefined) await indexPendingSearch();
  }

  /**
   * An export's pages of the calls matching `query`, newest first, each read by `read` from its
   * calls' keys (see exportWalk in calls.export.ts). The filter is checked and the first page
   * read before anything is sent, so a bad query is a 400 and an unreachable database a 503,
   * not a truncated file.
   */
  async function exportPagesOf<Row>(
    auth: AuthContext,
    query: CallExportQuery,
    read: (tenantId: string, keys: CallKey[]) => Promise<Row[]>,
  ): Promise<AsyncIterable<Row[]>> {
    const filter = parseCallFilter(query);
    await searchable(filter);
    return exportWalk(
      (after, limit) => calls.listKeys(auth.tenantId, filter, { after, limit }),
      (keys) => read(auth.tenantId, keys),
      exportWalkSizes,
    );
  }

  const service = {
    /**
     * The search index's upkeep on SQLite (every SEARCH_INDEX_INTERVAL_MS in the server, after
     * an import): adds the calls waiting for it, in batches. Returns how many.
     */
    indexPendingSearch,

    /**
     * POST /api/call-history and both webhooks: idempotent on (tenant, callSid), tolerant of
     * order (completed before started creates the record), never lowering a status.
     */
    async ingest(
      auth: AuthContext,
      kind: IngestKind,
      body: IngestBody,
      delivery?: Delivery,
      order?: IngestOrder,
    ): Promise<IngestResult> {
      assertOwnerClaims(auth, body);
      const input = normaliseInput(body);
      // A webhook's name says what happened: `completed` with no status still ends the call,
      // and `started` still means in-progress. A create without a status changes none.
      if (kind !== 'create') input.status ??= DEFAULT_STATUS[kind];
      const payload = eventPayload(body);
      const callSid = body.callSid;
      const result = await transactor.write(async (trx): Promise<IngestResult> => {
        const now = clock().toISOString();
        const callsInTrx = calls.inTransaction(trx);
        const deliveriesInTrx = deliveries.inTransaction(trx);
        if (
          delivery !== undefined &&
          !(await deliveriesInTrx.claimDelivery(auth.tenantId, delivery.webhookId, now))
        ) {
          // Processed before: acknowledge with the call as it is now, change nothing.
          const callId = await deliveriesInTrx.deliveryCall(auth.tenantId, delivery.webhookId);
          const row = callId === null ? undefined : await callsInTrx.get(auth.tenantId, callId);
          return {
            call: row && toCall(row),
            created: false,
            replayed: true,
            outcome: 'duplicate',
          };
        }
        if (order !== undefined && !(await order.claim(trx, auth.tenantId))) {
          const row = await callsInTrx.getBySid(auth.tenantId, callSid);
          return {
            call: row && toCall(row),
            created: false,
            replayed: true,
            outcome: 'duplicate',
          };
        }
        const owner: Owner =
          input.agentId !== undefined
            ? await agents.resolveForIngest(trx, auth, input.agentId, {
                userId: body.userId ?? null,
                orgId: body.orgId ?? null,
              })
            : { userId: auth.userId, orgId: auth.orgId };

        const inserted = await callsInTrx.insertIfAbsent(
          buildNewCall({
            id: newCallId(),
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
        const fillOnly =
          statusRank(input.status ?? DEFAULT_STATUS[kind]) < statusRank(stored.status);
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
      });
      if (!result.replayed && result.call !== undefined) {
        publishChange({ tenantId: auth.tenantId, kind: 'upsert', callId: result.call.id });
      }
      return result;
    },

    /** PATCH /api/call-history/{id}/status: repeatable; a final status never goes back (409). */
    async updateStatus(
      auth: AuthContext,
      id: string,
      body: UpdateCallStatusBody,
    ): Promise<StatusUpdateResult> {
      const input = normaliseInput(body);
      const payload = eventPayload(body);
      const result = await transactor.write(async (trx): Promise<StatusUpdateResult> => {
        const now = clock().toISOString();
        const callsInTrx = calls.inTransaction(trx);
        const stored = await callsInTrx.getByIdForUpdate(auth.tenantId, id);
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
          await callsInTrx.update(auth.tenantId, id, changes);
        }
        const merged = { ...stored, ...changes };
        await callsInTrx.insertEvent({
          tenant_id: auth.tenantId,
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
      });
      publishChange({ tenantId: auth.tenantId, kind: 'upsert', callId: id });
      return result;
    },

    async get(auth: AuthContext, id: string): Promise<Call> {
      const row = await calls.get(auth.tenantId, id);
      if (row === undefined) throw callNotFound(id);
      return toCall(row);
    },

    async getBySid(auth: AuthContext, callSid: string): Promise<Call> {
      const row = await calls.getBySid(auth.tenantId, callSid);
      if (row === undefined) {
        throw new NotFoundError('call_not_found', `no call with callSid ${callSid}`);
      }
      return toCall(row);
    },

    async delete(auth: AuthContext, id: string): Promise<void> {
      const deleted = await transactor.write((trx) =>
        calls.inTransaction(trx).delete(auth.tenantId, id),
      );
      if (!deleted) throw callNotFound(id);
      publishChange({ tenantId: auth.tenantId, kind: 'delete', callId: id });
    },

    /**
     * GET /api/call-history as the answer's JSON text. A page without a search is written by
     * the database, record by record (repository listJson), and only joined here: building
     * and serialising fifty objects was most of the main thread's time per page (profiled). A
     * search's page is list's, serialised, since its records carry their matches.
     */
    async listJson(auth: AuthContext, query: ListCallsQuery): Promise<string | Buffer> {
      const { filter, sort, limit, after } = listRequest(query);
      if (filter.search !== undefined || sort === 'relevance') {
        return JSON.stringify(await service.list(auth, query));
      }
      const [rows, total] = await Promise.all([
        calls.listJson(auth.tenantId, filter, {
          sort,
          after,
          limit: limit + 1,
          withTranscript: query.include === 'transcript',
        }),
        query.includeTotal === true ? calls.count(auth.tenantId, filter) : undefined,
      ]);
      const { shown, nextCursor } = pageOf(rows, limit, (row) => ({
        sort,
        key: row.sort_key,
        id: row.id,
      }));
      return joinJsonText(
        '{"data":[',
        shown.map((row) => row.line),
        ',',
        `],"nextCursor":${JSON.stringify(nextCursor)}${total === undefined ? '' : `,"total":${total}`}}`,
      );
    },

    /** GET /api/call-history: filters, search, four sorts, keyset pages, an optional total. */
    async list(auth: AuthContext, query: ListCallsQuery): Promise<CallPage> {
      const { filter, sort, limit, after } = listRequest(query);
      await searchable(filter);
      const search = filter.search;
      const withTranscript = query.include === 'transcript';
      // One row more than asked tells whether another page exists. A search reads the
      // transcripts for its snippets, even when the answer leaves them out.
      const readTranscripts = withTranscript || search !== undefined;
      const page = async (): Promise<{ rows: ListedCallRow[]; cursorOf: CursorOf }> => {
        if (sort !== 'relevance') {
          const rows = await calls.list(auth.tenantId, filter, {
            sort,
            after,
            limit: limit + 1,
            withTranscript: readTranscripts,
          });
          return { rows, cursorOf: (row) => ({ sort, key: row.sort_key, id: row.id }) };
        }
        // Taken before the read: a call changed from here on may have moved from where this page
        // saw it (see listByRelevance).
        const issuedAt = clock().toISOString();
        const ranked = await calls.listByRelevance(auth.tenantId, filter, {
          after: after === undefined ? undefined : { ...after, tail: after.tail === true },
          // A version 2 cursor (before windows) continues as it began: every match ranked.
          window: after === undefined ? undefined : (after.window ?? null),
          limit: limit + 1,
          withTranscript: readTranscripts,
        });
        if (ranked.expired) {
          throw new ValidationError([
            {
              field: 'cursor',
              message:
                'has expired: the search has changed too much since its first page; ask again without a cursor',
            },
          ]);
        }
        const tails = new Map(ranked.rows.map((row) => [row.id, row.tail]));
        return {
          rows: ranked.rows,
          cursorOf: (row) => ({
            sort,
            key: row.sort_key,
            id: row.id,
            window: ranked.window,
            tail: tails.get(row.id) === true,
            issuedAt,
          }),
        };
      };
      const [{ rows, cursorOf }, total] = await Promise.all([
        page(),
        query.includeTotal === true ? calls.count(auth.tenantId, filter) : undefined,
      ]);
      const { shown, nextCursor } = pageOf(rows, limit, cursorOf);
      return {
        data: shown.map((row) => {
          const call = listedRowToCall(row);
          const { transcript, ...listed } = call;
          return {
            ...listed,
            ...(withTranscript ? { transcript } : {}),
            hasTranscript: Boolean(row.has_transcript),
            ...(search === undefined ? {} : { matches: searchMatches(call, search) }),
          };
        }),
        nextCursor,
        ...(total === undefined ? {} : { total }),
      };
    },

    /** GET /api/call-history/stats: the same filters as the list, summed. */
    async stats(auth: AuthContext, query: CallStatsQuery): Promise<CallStats> {
      const filter = parseCallFilter(query);
      const tz = query.tz ?? 'UTC';
      if (!isTimeZone(tz)) {
        throw new ValidationError([
          { field: 'tz', message: 'must be an IANA time zone such as Europe/Lisbon or UTC' },
        ]);
      }
      await searchable(filter);
      const zone = new ZoneOffsets(tz);
      const bucket = query.bucket ?? 'day';
      const [slots, agentsSeen, durations] = await Promise.all([
        calls.statsBySlot(auth.tenantId, filter, { zone, bucket }),
        calls.statsByAgent(auth.tenantId, filter),
        calls.durationDistribution(auth.tenantId, filter, [50, 90]),
      ]);
      const [p50, p90] = durations.percentiles;
      return buildStats({
        slots,
        agents: agentsSeen,
        duration: { p50: p50 ?? null, p90: p90 ?? null, bins: durations.bins },
        bucket,
        zone,
        from: filter.from,
        to: filter.to,
      });
    },

    /** The CSV export's pages of calls: the list's filters, newest first. */
    async exportPages(auth: AuthContext, query: CallExportQuery): Promise<AsyncIterable<Call[]>> {
      const pages = await exportPagesOf(auth, query, (tenantId, keys) =>
        calls.rowsOf(tenantId, keys),
      );
      return mapPages(pages, (rows) => rows.map(listedRowToCall));
    },

    /**
     * The NDJSON export, a page of lines at a time: as exportPages, but each call comes from the
     * database as its JSON record (the same as GET's), so the server only joins text.
     */
    async exportNdjson(
      auth: AuthContext,
      query: CallExportQuery,
    ): Promise<AsyncIterable<string | Buffer>> {
      const pages = await exportPagesOf(auth, query, (tenantId, keys) =>
        calls.ndjsonOf(tenantId, keys),
      );
      return mapPages(pages, (rows) =>
        joinJsonText(
          '',
          rows.map((row) => row.line),
          '\n',
          '\n',
        ),
      );
    },

    /** POST /api/call-history/erase: every call from one number, with its timeline and index. */
    async eraseCaller(auth: AuthContext, body: EraseCallsBody): Promise<{ deleted: number }> {
      const deleted = await transactor.write((trx) =>
        calls.inTransaction(trx).deleteByCaller(auth.tenantId, body.callerNumber),
      );
      if (deleted > 0) publishChange({ tenantId: auth.tenantId, kind: 'bulk' });
      return { deleted };
    },

    async listEvents(
      auth: AuthContext,
      id: string,
      query: ListCallEventsQuery,
    ): Promise<{ data: CallEvent[]; nextCursor: string | null }> {
      const call = await calls.get(auth.tenantId, id);
      if (call === undefined) throw callNotFound(id);
      const limit = query.limit ?? 200;
      const rows = await calls.listEvents(auth.tenantId, id, {
        afterId: query.cursor === undefined ? undefined : Number(query.cursor),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit).map(toCallEvent);
      const last = page.at(-1);
      return {
        data: page,
        nextCursor: rows.length > limit && last !== undefined ? String(last.id) : null,
      };
    },
  };
  return service;
}

/**
 * userId and orgId in a body are claims: they must agree with the credential (403 naming the
 * field), and they never grant access. Dev mode has no credential to agree with.
 */
function assertOwnerClaims(auth: AuthContext, body: IngestBody): void {
  if (auth.kind === 'dev') return;
  const errors: FieldError[] = [];
  if (body.orgId !== undefined && body.orgId !== null && body.orgId !== auth.orgId) {
    errors.push({
      field: 'orgId',
      message:
        auth.orgId === null
          ? 'this credential acts for no organization'
          : `must be ${auth.orgId}, the credential's organization`,
    });
  }
  if (body.userId !== undefined && body.userId !== null && body.userId !== auth.userId) {
    errors.push({
      field: 'userId',
      message:
        auth.userId === null
          ? 'this credential acts for the organization, not for a user: omit userId'
          : `must be ${auth.userId}, the credential's user`,
    });
  }
  if (errors.length > 0) {
    throw new ForbiddenError(
      'credential_mismatch',
      'the body claims another owner than the credential',
      errors,
    );
  }
}

function callNotFound(id: string): NotFoundError {
  return new NotFoundError('call_not_found', `no call with id ${id}`);
}

/** Drops absent and null fields (null means "not known") and converts to stored units. */
function normaliseInput(body: IngestBody | UpdateCallStatusBody): CallInput {
  const problems: FieldError[] = [];
  const input: CallInput = {};
  const b = body as Partial<CreateCallBody>;
  const set = <K extends keyof CallInput>(key: K, value: CallInput[K] | null | undefined) => {
    if (value !== null && value !== undefined) input[key] = value;
  };
  set('agentId', b.agentId);
  set('direction', b.direction);
  set('callerNumber', b.callerNumber);
  set('callerName', b.callerName);
  set('status', b.status);
  set('startedAt', normaliseTimestamp('startedAt', b.startedAt, problems));
  set('endedAt', normaliseTimestamp('endedAt', b.endedAt, problems));
  set('duration', b.duration);
  set('recordingUrl', b.recordingUrl);
  set('transcript', b.transcript);
  set('sentiment', b.sentiment);
  set('topics', b.topics);
  set('summary', b.summary);
  if (b.collectedData !== null && b.collectedData !== undefined) {
    checkCollectedData(b.collectedData, problems);
    input.collectedData = b.collectedData;
  }
  if (b.cost !== null && b.cost !== undefined) input.costMicros = dollarsToMicros(b.cost);
  set('endReason', b.endReason);
  if (
    input.startedAt !== undefined &&
    input.endedAt !== undefined &&
    input.endedAt < input.startedAt
  ) {
    problems.push({ field: 'endedAt', message: 'must not be before startedAt' });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return input;
}

const EARLIEST = Date.parse('1970-01-01T00:00:00Z');
const LATEST = Date.parse('9999-12-31T23:59:59Z');

function normaliseTimestamp(
  field: string,
  value: string | null | undefined,
  problems: FieldError[],
): string | undefined {
  if (value === null || value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time) || time < EARLIEST || time > LATEST) {
    problems.push({ field, message: 'must be a date-time between 1970 and 9999' });
    return undefined;
  }
  return new Date(time).toISOString();
}

/**
 * True when `value` nests deeper than `limit` levels. Walks with an explicit stack and stops at
 * the first value past the limit: the body may hold 100,000 levels or array elements, which
 * recursion or spreading into Math.max would turn into a stack overflow (a 500).
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (item.value === null || typeof item.value !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > limit) return true;
    const children = Array.isArray(item.value) ? item.value : Object.values(item.value);
    for (const child of children) stack.push({ value: child, depth });
  }
  return false;
}

function checkCollectedData(data: Record<string, unknown>, problems: FieldError[]): void {
  if (nestsDeeperThan(data, LIMITS.collectedDataDepth)) {
    problems.push({
      field: 'collectedData',
      message: `must not nest deeper than ${LIMITS.collectedDataDepth} levels`,
    });
  } else if (Buffer.byteLength(JSON.stringify(data)) > LIMITS.collectedDataBytes) {
    problems.push({
      field: 'collectedData',
      message: `must not exceed ${LIMITS.collectedDataBytes} bytes of JSON`,
    });
  }
}

/**
 * The event's record of what arrived: the accepted body without its nulls. A transcript (up to a
 * megabyte, and often resent whole) is recorded by its length only; the call holds the text.
 */
function eventPayload(body: object): string {
  const entries = (Object.entries(body) as Array<[string, unknown]>)
    .filter(([, value]) => value !== null)
    .map(([key, value]): [string, unknown] =>
      key === 'transcript' && typeof value === 'string'
        ? [key, { omitted: true, characters: value.length }]
        : [key, value],
    );
  return JSON.stringify(Object.fromEntries(entries));
}

/**
 * A page of at most `limit` rows out of `limit + 1` read, and the cursor past its last row
 * when the extra row says there is more.
 */
function pageOf<Row>(
  rows: readonly Row[],
  limit: number,
  cursorOf: (row: Row) => CallCursor,
): { shown: Row[]; nextCursor: string | null } {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return {
    shown,
    nextCursor: rows.length > limit && last !== undefined ? encodeCallCursor(cursorOf(last)) : null,
  };
}

/** A list request's filter, sort, page size and position, checked. */
function listRequest(query: ListCallsQuery) {
  const filter = parseCallFilter(query);
  const sort = query.sort ?? 'newest';
  if (sort === 'relevance' && filter.search === undefined) {
    throw new ValidationError([{ field: 'sort', message: 'relevance needs a search (q)' }]);
  }
  const limit = query.limit ?? 50;
  const after = query.cursor === undefined ? undefined : decodeCallCursor(query.cursor, sort);
  return { filter, sort, limit, after };
}

export function toCall(row: CallRow): Call {
  return {
    id: row.id,
    callSid: row.call_sid,
    agentId: row.agent_id,
    userId: row.user_id,
    orgId: row.org_id,
    direction: row.direction as Call['direction'],
    callerNumber: row.caller_number,
    callerName: row.caller_name,
    status: row.status as Call['status'],
    startedAt: row.started_at,
    endedAt: row.ended_at,
    duration: row.duration === null ? null : Number(row.duration),
    recordingUrl: row.recording_url,
    transcript: row.transcript,
    sentiment: row.sentiment as Call['sentiment'],
    topics: JSON.parse(row.topics) as string[],
    summary: row.summary,
    collectedData: JSON.parse(row.collected_data) as Record<string, unknown>,
    cost: row.cost_micros === null ? null : microsToDollars(Number(row.cost_micros)),
    endReason: row.end_reason as Call['endReason'],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The cursor that continues a page after `row`. */
type CursorOf = (row: ListedCallRow) => CallCursor;

async function* mapPages<Row, Out>(
  pages: AsyncIterable<Row[]>,
  map: (rows: Row[]) => Out,
): AsyncGenerator<Out> {
  for await (const rows of pages) yield map(rows);
}

/** A listed row as a call; its transcript is null when the list did not read it. */
function listedRowToCall(row: ListedCallRow): Call {
  return toCall({ ...row, transcript: row.transcript ?? null });
}

function toCallEvent(row: CallEventRow): CallEvent {
  return {
    id: Number(row.id),
    kind: row.kind as CallEvent['kind'],
    outcome: row.outcome as CallEvent['outcome'],
    statusBefore: row.status_before as CallEvent['statusBefore'],
    statusAfter: row.status_after as CallEvent['statusAfter'],
    receivedAt: row.received_at,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
  };
}
