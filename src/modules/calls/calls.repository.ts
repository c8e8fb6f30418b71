// SQL for calls and their event timeline. Every query takes the tenant and filters on it.
import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type RawBuilder,
  type SqlBool,
  type Transaction,
} from 'kysely';
import type { Dialect } from '../../db/database.js';
import type {
  CallEventRow,
  CallRow,
  CallRowUpdate,
  Database,
  NewCallEventRow,
  NewCallRow,
} from '../../db/types.js';
import { toFts5Query, toTsQuery, type CallFilter, type CallSort } from './call-query.js';

/** Every stored column of a call (not PostgreSQL's generated search_vector). */
export const CALL_COLUMNS = [
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
  'end_reason',
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

/** Where the previous page ended: its last row's sort key and id. */
export interface PagePosition {
  readonly key: string | number;
  readonly id: string;
}

export interface ListCallsOptions {
  readonly sort: CallSort;
  readonly after?: PagePosition | undefined;
  readonly limit: number;
}

/** A listed row with its sort key: startedAt, duration (-1 for none) or relevance score. */
export type ListedCallRow = CallRow & { readonly sort_key: string | number };

/** One UTC slot × status of the stats (see statsBySlot). */
export interface StatsSlotRow {
  /** `YYYY-MM-DDTHH` of the slot's UTC hour. */
  readonly hour: string;
  /** 0–3: the quarter of the hour (always 0 for hour slots). */
  readonly quarter: number;
  readonly status: string;
  readonly calls: number;
  readonly inbound: number;
  readonly positive: number;
  readonly negative: number;
  readonly neutral: number;
  readonly durationSum: number;
  readonly durationCount: number;
  readonly costSumMicros: number;
  readonly costCount: number;
}

export type CallRepository = ReturnType<typeof createCallRepository>;

/**
 * `reads` runs the heavy reads (list, count, stats): SQLite reader threads in the server, so they
 * never stall writes; the same as `db` inside a transaction and on PostgreSQL.
 */
export function createCallRepository(
  db: Kysely<Database> | Transaction<Database>,
  dialect: Dialect,
  reads: Kysely<Database> | Transaction<Database> = db,
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

    /** Deletes every call of one caller (events cascade, the search index follows). */
    async deleteByCaller(tenantId: string, callerNumber: string): Promise<number> {
      const result = await db
        .deleteFrom('calls')
        .where('tenant_id', '=', tenantId)
        .where('caller_number', '=', callerNumber)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /**
     * A page of the tenant's calls matching `filter`, in `sort` order, continuing strictly past
     * `after`. Every sort ends with the id, so the order is total and a keyset cursor never skips
     * or repeats a call, however many arrive in between.
     */
    async list(
      tenantId: string,
      filter: CallFilter,
      { sort, after, limit }: ListCallsOptions,
    ): Promise<ListedCallRow[]> {
      const columns = CALL_COLUMNS.map((column) => `calls.${column}` as const);
      if (sort === 'relevance') {
        const search = filter.search;
        if (search === undefined) throw new Error('relevance needs search terms');
        const rank = relevance(dialect, tenantId, search);
        let query = reads
          .selectFrom('calls')
          .select(columns)
          .select(rank.score.as('sort_key'))
          .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, rank.joined)));
        if (rank.join !== undefined) {
          query = query.innerJoin(rank.join.as('ranked'), (join) =>
            join.on(sql<SqlBool>`calls.rowid = ranked.call_rowid`),
          );
        }
        if (after !== undefined) {
          query = query.where(
            sql<SqlBool>`(${rank.score}, calls.id) < (CAST(${after.key} AS DOUBLE PRECISION), ${after.id})`,
          );
        }
        const rows = await query
          .orderBy(rank.score, 'desc')
          .orderBy('calls.id', 'desc')
          .limit(limit)
          .execute();
        return rows;
      }

      const key = SORT_KEYS[sort];
      let query = reads
        .selectFrom('calls')
        .select(columns)
        .select(key.expression.as('sort_key'))
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, false)));
      if (after !== undefined) {
        const bound =
          sort === 'longest' ? sql`CAST(${after.key} AS DOUBLE PRECISION)` : sql`${after.key}`;
        query = query.where(
          key.direction === 'desc'
            ? sql<SqlBool>`(${key.expression}, calls.id) < (${bound}, ${after.id})`
            : sql<SqlBool>`(${key.expression}, calls.id) > (${bound}, ${after.id})`,
        );
      }
      const rows = await query
        .orderBy(key.expression, key.direction)
        .orderBy('calls.id', key.direction)
        .limit(limit)
        .execute();
      return rows;
    },

    /** How many of the tenant's calls match `filter`. */
    async count(tenantId: string, filter: CallFilter): Promise<number> {
      const row = await reads
        .selectFrom('calls')
        .select((eb) => eb.fn.countAll().as('total'))
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, false)))
        .executeTakeFirst();
      return Number(row?.total ?? 0);
    },

    /**
     * The stats' raw material in one pass: per UTC time slot (an hour, or a quarter hour for
     * zones off UTC by a fraction of an hour) and status, the counts and sums of everything the
     * stats report. Reads only columns of the stats index.
     */
    async statsBySlot(
      tenantId: string,
      filter: CallFilter,
      slotMinutes: 60 | 15,
    ): Promise<StatsSlotRow[]> {
      const quarter =
        slotMinutes === 15
          ? sql<number>`CAST(substr(calls.started_at, 15, 2) AS INTEGER) / 15`
          : sql<number>`0`;
      const count = (condition: RawBuilder<unknown>) =>
        sql<number>`sum(CASE WHEN ${condition} THEN 1 ELSE 0 END)`;
      const rows = await reads
        .selectFrom('calls')
        .select([
          sql<string>`substr(calls.started_at, 1, 13)`.as('hour'),
          quarter.as('quarter'),
          'calls.status',
          sql<number>`count(*)`.as('calls'),
          count(sql`calls.direction = 'inbound'`).as('inbound'),
          count(sql`calls.sentiment = 'positive'`).as('positive'),
          count(sql`calls.sentiment = 'negative'`).as('negative'),
          count(sql`calls.sentiment = 'neutral'`).as('neutral'),
          sql<number | null>`sum(calls.duration)`.as('duration_sum'),
          sql<number>`count(calls.duration)`.as('duration_count'),
          sql<number | string | null>`sum(calls.cost_micros)`.as('cost_sum'),
          sql<number>`count(calls.cost_micros)`.as('cost_count'),
        ])
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, false)))
        .groupBy(
          slotMinutes === 15
            ? [sql`substr(calls.started_at, 1, 13)`, quarter, 'calls.status']
            : [sql`substr(calls.started_at, 1, 13)`, 'calls.status'],
        )
        .execute();
      // pg answers count and sum of bigint as text; numbers leave the repository.
      return rows.map((row) => ({
        hour: row.hour,
        quarter: Number(row.quarter),
        status: row.status,
        calls: Number(row.calls),
        inbound: Number(row.inbound),
        positive: Number(row.positive),
        negative: Number(row.negative),
        neutral: Number(row.neutral),
        durationSum: Number(row.duration_sum ?? 0),
        durationCount: Number(row.duration_count),
        costSumMicros: Number(row.cost_sum ?? 0),
        costCount: Number(row.cost_count),
      }));
    },

    /** Calls per agent. */
    async statsByAgent(
      tenantId: string,
      filter: CallFilter,
    ): Promise<Array<{ agentId: string; calls: number }>> {
      const rows = await reads
        .selectFrom('calls')
        .select(['calls.agent_id', sql<number>`count(*)`.as('calls')])
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, false)))
        .groupBy('calls.agent_id')
        .execute();
      return rows.map((row) => ({ agentId: row.agent_id, calls: Number(row.calls) }));
    },

    /** How many calls lasted each distinct duration, shortest first (for exact percentiles). */
    async durationHistogram(
      tenantId: string,
      filter: CallFilter,
    ): Promise<Array<{ duration: number; calls: number }>> {
      const rows = await reads
        .selectFrom('calls')
        .select(['calls.duration', sql<number>`count(*)`.as('calls')])
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, false)))
        .where('calls.duration', 'is not', null)
        .groupBy('calls.duration')
        .orderBy('calls.duration')
        .execute();
      return rows.map((row) => ({ duration: Number(row.duration), calls: Number(row.calls) }));
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

const SORT_KEYS: Record<
  Exclude<CallSort, 'relevance'>,
  { expression: RawBuilder<string | number>; direction: 'asc' | 'desc' }
> = {
  newest: { expression: sql`calls.started_at`, direction: 'desc' },
  oldest: { expression: sql`calls.started_at`, direction: 'asc' },
  // A call without a duration sorts after every call with one (durations are never negative).
  longest: { expression: sql`coalesce(calls.duration, -1)`, direction: 'desc' },
};

/** The tenant's token in the SQLite search index (see the search migration). */
const tenantToken = (tenantId: string) => Buffer.from(tenantId, 'utf8').toString('hex');

/**
 * The relevance score, higher is better. SQLite: FTS5's bm25 with column weights (name and
 * topics 4, summary and collected data 2, transcript 1), computed by joining the index's
 * matches. PostgreSQL: ts_rank_cd over the weighted tsvector.
 */
function relevance(
  dialect: Dialect,
  tenantId: string,
  search: NonNullable<CallFilter['search']>,
): { score: RawBuilder<number>; join?: RawBuilder<unknown>; joined: boolean } {
  if (dialect === 'sqlite') {
    return {
      score: sql<number>`ranked.score`,
      join: sql`(SELECT rowid AS call_rowid, -bm25(calls_search, 0, 4, 4, 2, 2, 1) AS score
        FROM calls_search WHERE calls_search MATCH ${toFts5Query(search, tenantToken(tenantId))})`,
      joined: true,
    };
  }
  return {
    score: sql<number>`ts_rank_cd(calls.search_vector, to_tsquery('simple', ${toTsQuery(search)}), 1)::float8`,
    joined: false,
  };
}

/** The WHERE conditions of `filter`, always scoped to the tenant. */
function filterConditions(
  eb: ExpressionBuilder<Database, 'calls'>,
  dialect: Dialect,
  tenantId: string,
  filter: CallFilter,
  searchJoined: boolean,
): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [eb('calls.tenant_id', '=', tenantId)];
  const anyOf = (
    column: 'agent_id' | 'status' | 'direction' | 'sentiment' | 'end_reason',
    values: readonly string[] | undefined,
  ) => {
    if (values === undefined) return;
    conditions.push(
      values.length === 1
        ? eb(`calls.${column}`, '=', values[0]!)
        : eb(`calls.${column}`, 'in', [...values]),
    );
  };
  anyOf('agent_id', filter.agentIds);
  anyOf('status', filter.statuses);
  anyOf('direction', filter.directions);
  anyOf('sentiment', filter.sentiments);
  anyOf('end_reason', filter.endReasons);
  if (filter.from !== undefined) conditions.push(eb('calls.started_at', '>=', filter.from));
  if (filter.to !== undefined) conditions.push(eb('calls.started_at', '<', filter.to));
  if (filter.minDuration !== undefined) {
    conditions.push(eb('calls.duration', '>=', filter.minDuration));
  }
  if (filter.maxDuration !== undefined) {
    conditions.push(eb('calls.duration', '<=', filter.maxDuration));
  }
  if (filter.minCostMicros !== undefined) {
    conditions.push(eb('calls.cost_micros', '>=', filter.minCostMicros));
  }
  if (filter.maxCostMicros !== undefined) {
    conditions.push(eb('calls.cost_micros', '<=', filter.maxCostMicros));
  }
  if (filter.callerNumber !== undefined) {
    conditions.push(eb('calls.caller_number', '=', filter.callerNumber));
  }
  if (filter.hasRecording !== undefined) {
    conditions.push(eb('calls.recording_url', filter.hasRecording ? 'is not' : 'is', null));
  }
  if (filter.hasTranscript !== undefined) {
    conditions.push(eb('calls.transcript', filter.hasTranscript ? 'is not' : 'is', null));
  }
  if (filter.topics !== undefined) {
    conditions.push(
      dialect === 'postgres'
        ? sql<SqlBool>`calls.topics::jsonb ?| ${[...filter.topics]}::text[]`
        : sql<SqlBool>`EXISTS (SELECT 1 FROM json_each(calls.topics) WHERE value IN (${sql.join(
            filter.topics,
          )}))`,
    );
  }
  for (const { key, value } of filter.collectedData ?? []) {
    // Keys are letters, digits, _ and - (call-query.ts), so the quoted JSON path is safe.
    const path = `$."${key}"`;
    conditions.push(
      dialect === 'postgres'
        ? sql<SqlBool>`(calls.collected_data::jsonb ->> ${key}) = ${value}`
        : sql<SqlBool>`(CASE json_type(calls.collected_data, ${path})
            WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
            ELSE CAST(json_extract(calls.collected_data, ${path}) AS TEXT) END) = ${value}`,
    );
  }
  if (filter.search !== undefined && !searchJoined) {
    conditions.push(
      dialect === 'postgres'
        ? sql<SqlBool>`calls.search_vector @@ to_tsquery('simple', ${toTsQuery(filter.search)})`
        : sql<SqlBool>`calls.rowid IN (SELECT rowid FROM calls_search WHERE calls_search MATCH ${toFts5Query(
            filter.search,
            tenantToken(tenantId),
          )})`,
    );
  }
  return conditions;
}
