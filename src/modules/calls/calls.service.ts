// Call ingest and reads. Never sees a request or reply: it takes the caller's AuthContext and
// validated input, and returns API shapes or throws AppErrors.
import { setTimeout as delay } from 'node:timers/promises';
import type { ConcurrencyGate } from '../../lib/concurrency-gate.js';
import { joinJsonText } from '../../lib/json-text.js';
import type { Transactor } from '../../db/transactor.js';
import type { CallEventRow } from '../../db/types.js';
import { ForbiddenError, NotFoundError, ValidationError, type FieldError } from '../../errors.js';
import { decodeCallCursor, encodeCallCursor, type CallCursor } from '../../lib/cursor.js';
import { newCallId } from '../../lib/ids.js';
import { dollarsToMicros } from '../../lib/money.js';
import type { Clock } from '../../lib/time.js';
import type { Stopping } from '../../lib/stopping.js';
import type { AuthContext } from '../identity/identity.js';
import type { CallInput } from './call-merge.js';
import { toCall } from './call-shape.js';
import {
  callNotFound,
  DEFAULT_STATUS,
  type CallWrites,
  type Delivery,
  type IngestKind,
  type IngestOrder,
  type IngestResult,
  type StatusUpdateResult,
} from './call-writes.js';
import type { CallChange } from './call-stream.js';
import type { CallCsvRow, CallKey, CallRepository, ListedCallRow } from './calls.repository.js';
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
  type CreateCallBody,
  type ListCallEventsQuery,
  type ListCallsQuery,
  type ListedCall,
  type UpdateCallStatusBody,
} from './calls.schemas.js';

export type {
  Delivery,
  IngestKind,
  IngestOrder,
  IngestOutcome,
  IngestResult,
  StatusUpdateResult,
} from './call-writes.js';

export interface CallPage {
  readonly data: ListedCall[];
  readonly nextCursor: string | null;
  readonly total?: number;
}

export interface CallServiceDeps {
  readonly calls: CallRepository;
  /** Runs the deletes and erasures (the hot writes go through `writes`). */
  readonly transactor: Transactor;
  /** Ingest, status updates and search indexing: here or on SQLite's writer thread. */
  readonly writes: CallWrites;
  readonly clock: Clock;
  /** How the export walks the calls; EXPORT_WALK unless a test sets it. */
  readonly exportWalkSizes?: ExportWalkSizes | undefined;
  /** Tells the live streams about a committed write (call-stream.ts). */
  readonly publishChange: (change: CallChange) => void;
  /** SQLite: calls indexed for search per write transaction (config SEARCH_INDEX_BATCH). */
  readonly searchIndexBatch: number;
  /**
   * Where searches and stats wait their turn (config HEAVY_READS_AT_ONCE); undefined: they
   * never wait. Each holds its rows (a search page's 51 transcripts) until answered, so the
   * number at once, not the number of clients, sets the memory they take.
   */
  readonly heavyReads?: ConcurrencyGate | undefined;
}

/**
 * How long a read that searches waits for notes another indexer holds (see indexPendingSearch):
 * a batch takes well under a second; past this, the read goes on without them.
 */
const AWAIT_OTHER_INDEXERS_MS = 5_000;

type IngestBody = CreateCallBody | CallStartedWebhookBody | CallCompletedWebhookBody;

export type CallService = ReturnType<typeof createCallService>;

export function createCallService({
  calls,
  transactor,
  writes,
  clock,
  exportWalkSizes = EXPORT_WALK,
  publishChange,
  searchIndexBatch,
  heavyReads,
}: CallServiceDeps) {
  const heavyRead = <T>(task: () => Promise<T>): Promise<T> =>
    heavyReads === undefined ? task() : heavyReads.run(task);

  /**
   * Indexes the calls waiting for the search index when it was called (not those noted since,
   * so a search under steady writes still ends), in batches of `searchIndexBatch`, stopping
   * once `maxCalls` are done; with `rechecks`, that many more passes, each up to the notes
   * there are when the one before ends. Then has the notes done deleted. Returns how many calls.
   * With `awaitOthers` (a read that searches), notes held by another indexer (PostgreSQL, where
   * several servers share the work) are waited for, so that they are in the index when it ends.
   * Once `stopping` is set (a server shutting down) it ends after the batch in hand: a round of
   * long transcripts takes seconds on PostgreSQL, and the notes left are indexed later.
   */
  async function indexPendingSearch({
    maxCalls = Number.POSITIVE_INFINITY,
    rechecks = 0,
    awaitOthers = false,
    stopping,
  }: {
    maxCalls?: number;
    rechecks?: number;
    awaitOthers?: boolean;
    stopping?: Stopping;
  } = {}): Promise<number> {
    // Read on a reader first, so a search (or an idle server's round) with nothing waiting
    // neither opens a write transaction nor queues behind the writes in flight.
    let upTo = await calls.lastPendingSearch();
    let indexed = 0;
    let through = 0;
    const waitedSince = performance.now();
    let pause = 1;
    for (let pass = 0; upTo !== undefined && pass <= rechecks; pass++) {
      while (indexed < maxCalls && stopping?.aborted !== true) {
        const round = await writes.indexSearch({ batch: searchIndexBatch, upTo });
        indexed += round.calls;
        through = round.through;
        if (round.more) continue;
        if (!awaitOthers || round.busy !== true) break;
        // Another indexer's batch commits within a few hundred milliseconds; a note held
        // longer belongs to a write still in flight, which no read is owed.
        if (performance.now() - waitedSince > AWAIT_OTHER_INDEXERS_MS) break;
        await delay(pause);
        pause = Math.min(pause * 2, 16);
      }
      if (pass < rechecks) {
        const now = await calls.lastPendingSearch();
        upTo = now !== undefined && now > upTo ? now : undefined;
      }
    }
    if (through > 0) await writes.forgetIndexedSearch(through);
    return indexed;
  }

  /**
   * Before a read that searches: calls are indexed in batches after their writes commit (SQLite
   * T1600, PostgreSQL 2026-12-07T1000), so what still waits is indexed first, and on PostgreSQL
   * what another server is indexing is waited for. The read then sees every write acknowledged
   * before it began. Called once the request is known to be valid.
   */
  async function searchable(filter: CallFilter): Promise<void> {
    // A call noted before the search began and changed while the first pass ran can have a new
    // note above where that pass stops (SQLite replaces the note, T1200; PostgreSQL notes the
    // call again once the indexer holding its note commits): one more pass, up to the notes
    // there are then, takes it in. It does not chase later writes further, so it still ends.
    if (filter.search !== undefined) await indexPendingSearch({ rechecks: 1, awaitOthers: true });
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

  /** The stats' reads and their sums, for a valid filter and time zone. */
  async function statsOf(
    tenantId: string,
    filter: CallFilter,
    { tz, bucket }: { tz: string; bucket: NonNullable<CallStatsQuery['bucket']> },
  ): Promise<CallStats> {
    await searchable(filter);
    const zone = new ZoneOffsets(tz);
    const [slots, agentsSeen, durations] = await Promise.all([
      calls.statsBySlot(tenantId, filter, { zone, bucket }),
      calls.statsByAgent(tenantId, filter),
      calls.durationDistribution(tenantId, filter, [50, 90]),
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
      const result = await writes.ingest({
        auth,
        kind,
        callSid: body.callSid,
        input,
        claimedOwner: { userId: body.userId ?? null, orgId: body.orgId ?? null },
        payload: eventPayload(body),
        delivery,
        order,
        now: clock().toISOString(),
        newId: newCallId(),
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
      const result = await writes.updateStatus({
        tenantId: auth.tenantId,
        id,
        input,
        payload: eventPayload(body),
        now: clock().toISOString(),
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
      // On SQLite the delete only noted the call for the index (another file): its words leave
      // at the next round, and no search can find it before then, since every search first
      // indexes what is noted. Erasure, below, does not wait even that long.
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
        return heavyRead(async () => JSON.stringify(await service.list(auth, query)));
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
      // A bad query is answered at once; only valid ones wait in line for the reads.
      return heavyRead(() => statsOf(auth.tenantId, filter, { tz, bucket: query.bucket ?? 'day' }));
    },

    /**
     * The CSV export's pages: the list's filters, newest first, each call as its CSV row
     * written by the database (see callCsv), so the server only joins text.
     */
    async exportCsv(
      auth: AuthContext,
      query: CallExportQuery,
    ): Promise<AsyncIterable<readonly CallCsvRow[]>> {
      return exportPagesOf(auth, query, (tenantId, keys) => calls.csvOf(tenantId, keys));
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
      // The erased calls' words leave SQLite's index (another file, which the delete only
      // noted) before the answer says they are gone.
      await indexPendingSearch();
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
