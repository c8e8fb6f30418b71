// SQL for calls and their event timeline. Every query takes the tenant and filters on it.
import type { JsonText } from '../../lib/json-text.js';
import { CSV_COLUMNS, type CsvColumn } from './calls.export.js';
import {
  createQueryId,
  expressionBuilder,
  PostgresQueryCompiler,
  sql,
  SqliteQueryCompiler,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type RawBuilder,
  type SqlBool,
  type Transaction,
} from 'kysely';
import type { Dialect } from '../../db/database.js';
import { postgresLiteral, type CopiedRow, type CopyRows } from '../../db/pg-copy.js';
import type { RecencyPosition } from '../../lib/cursor.js';
import type {
  CallEventRow,
  CallRow,
  CallRowUpdate,
  Database,
  NewCallEventRow,
  NewCallRow,
} from '../../db/types.js';
import {
  toFts5Query,
  toTsQuery,
  type CallFilter,
  type CallSort,
  type SearchTerm,
} from './call-query.js';
import type { Bucket, ZoneOffsets } from '../../lib/time-zones.js';
import {
  createCallRollupRepository,
  type DurationBin,
  slotValueSql,
  toSlotSums,
  type SlotSums,
  type SlotSumsRow,
} from './call-rollups.repository.js';
import { percentile, readsRollups, slotMinutesFor } from './call-stats.js';

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

/** One round of the search index's upkeep (indexPendingSearch). */
export interface SearchIndexRound {
  /** Calls added to (or, deleted, taken out of) the index. */
  readonly calls: number;
  /** SQLite: the last note of calls_search_pending the index has done (PostgreSQL: 0). */
  readonly through: number;
  /** Whether a next round may find more to do (a full batch, or the index being filled). */
  readonly more: boolean;
  /**
   * PostgreSQL: notes up to the round's `upTo` were left because another transaction holds
   * them (another indexer, or a write noting the call again); they are done once it commits.
   */
  readonly busy?: boolean;
}

/** Where the previous page ended: its last row's sort key and id. */
export interface PagePosition {
  readonly key: string | number;
  readonly id: string;
}

/** Every sort but relevance, which pages through listByRelevance. */
export type ListSort = Exclude<CallSort, 'relevance'>;

export interface ListCallsOptions {
  readonly sort: ListSort;
  readonly after?: PagePosition | undefined;
  readonly limit: number;
  /** Read each call's transcript too (the export, `include=transcript`, search snippets). */
  readonly withTranscript: boolean;
}

/**
 * Inside this module, the list plans can also select, instead of the listed columns, only each
 * call's key (listKeys), or its id and its text: the NDJSON line (ndjsonOf), the listed record
 * (listJson, listedJsonOf) or the CSV row (csvOf). Their rows are then typed as listed rows (see
 * listColumns), and only those methods ask, giving them their own types.
 */
type ListPlanOptions = ListCallsOptions & {
  readonly select?: 'keys' | 'ndjson' | 'json' | 'csv';
};

/** A call's place in a page: its id, its sort key and, on SQLite, its rowid. */
export interface CallKey {
  readonly id: string;
  readonly sort_key: string | number;
  readonly r?: number;
}

/**
 * A call as JSON text: the export's NDJSON line, or a listed record (listedJsonOf). As bytes
 * when a SQLite reader thread read it (see JsonText).
 */
export interface CallJsonRow {
  readonly id: string;
  readonly line: JsonText;
}

/**
 * A call as its CSV row (see callCsv): `line`, then its duration, then `line_end`. The duration
 * is written by JavaScript: neither database writes a fraction in JavaScript's shortest form.
 */
export interface CallCsvRow {
  readonly id: string;
  readonly line: JsonText;
  readonly duration: number | null;
  readonly line_end: JsonText;
}

/** A listed call as the list's JSON record (see listJson), with its place in the sort. */
export interface JsonListedCallRow {
  readonly id: string;
  readonly sort_key: string | number;
  readonly line: JsonText;
}

/**
 * A listed row with its sort key (startedAt, duration (-1 for none) or relevance score) and
 * whether it has a transcript. `transcript` is read only when asked for (`withTranscript`):
 * at about 3 kB a call it is most of a page's bytes, and a list seldom shows it.
 */
export type ListedCallRow = Omit<CallRow, 'transcript'> & {
  readonly transcript?: string | null;
  readonly has_transcript: number | boolean;
  readonly sort_key: string | number;
};

function listedColumns(withTranscript: boolean) {
  return CALL_COLUMNS.filter((column) => withTranscript || column !== 'transcript').map(
    (column) => `calls.${column}` as const,
  );
}

/**
 * The columns a list selects: every one, or every one but the transcript; or (`select`) the
 * id alone, or the id and the call's text (see ListPlanOptions). Those are typed as the first
 * so that every list plan can serve them; the methods that ask give their rows their own types.
 */
function listColumns(
  dialect: Dialect,
  options: Pick<ListPlanOptions, 'withTranscript' | 'select'>,
) {
  if (options.select === undefined) return listedColumns(options.withTranscript);
  const columns =
    options.select === 'ndjson'
      ? ['calls.id', callJson(dialect, CALL_JSON_FIELDS).as('line')]
      : options.select === 'json'
        ? ['calls.id', callJson(dialect, listedJsonFields(options.withTranscript)).as('line')]
        : options.select === 'csv'
          ? [
              'calls.id',
              callCsv(dialect).line.as('line'),
              'calls.duration',
              callCsv(dialect).lineEnd.as('line_end'),
            ]
          : // The rowid lets SQLite read the page behind the keys by seeking (rowsInOrder).
            dialect === 'sqlite'
            ? ['calls.id', sql<number>`calls.rowid`.as('r')]
            : ['calls.id'];
  return columns as unknown as ReturnType<typeof listedColumns>;
}

/** A field of a record the database writes as JSON: its key, its column and how it is written. */
type JsonField = readonly [
  key: string,
  column: string,
  kind: 'value' | 'number' | 'json' | 'dollars' | 'present',
];

/** A call's fields in the API's record, in toCall's order (calls.service.ts), from its columns. */
const CALL_JSON_FIELDS: readonly JsonField[] = [
  ['id', 'id', 'value'],
  ['callSid', 'call_sid', 'value'],
  ['agentId', 'agent_id', 'value'],
  ['userId', 'user_id', 'value'],
  ['orgId', 'org_id', 'value'],
  ['direction', 'direction', 'value'],
  ['callerNumber', 'caller_number', 'value'],
  ['callerName', 'caller_name', 'value'],
  ['status', 'status', 'value'],
  ['startedAt', 'started_at', 'value'],
  ['endedAt', 'ended_at', 'value'],
  ['duration', 'duration', 'number'],
  ['recordingUrl', 'recording_url', 'value'],
  ['transcript', 'transcript', 'value'],
  ['sentiment', 'sentiment', 'value'],
  ['topics', 'topics', 'json'],
  ['summary', 'summary', 'value'],
  ['collectedData', 'collected_data', 'json'],
  ['cost', 'cost_micros', 'dollars'],
  ['endReason', 'end_reason', 'value'],
  ['createdAt', 'created_at', 'value'],
  ['updatedAt', 'updated_at', 'value'],
];

/**
 * A listed call's fields, in the list's order (calls.service.ts): the record's without the
 * transcript, the transcript when asked for, then whether there is one.
 */
function listedJsonFields(withTranscript: boolean): readonly JsonField[] {
  return withTranscript ? LISTED_JSON_FIELDS_WITH_TRANSCRIPT : LISTED_JSON_FIELDS;
}

const FIELDS_BUT_TRANSCRIPT = CALL_JSON_FIELDS.filter(([key]) => key !== 'transcript');
const HAS_TRANSCRIPT_FIELD: JsonField = ['hasTranscript', 'transcript', 'present'];

// Two constants, not arrays made per call: callJson keeps its SQL per field list.
const LISTED_JSON_FIELDS: readonly JsonField[] = [...FIELDS_BUT_TRANSCRIPT, HAS_TRANSCRIPT_FIELD];

const LISTED_JSON_FIELDS_WITH_TRANSCRIPT: readonly JsonField[] = [
  ...FIELDS_BUT_TRANSCRIPT,
  ['transcript', 'transcript', 'value'],
  HAS_TRANSCRIPT_FIELD,
];

/**
 * The call as a JSON record built by the database: the export's NDJSON line, a list's record. The
 * main thread then only joins text, where building objects and serialising them cost it twice
 * what the database spends (profiled). PostgreSQL writes numbers in their shortest exact form;
 * SQLite's json_object keeps 15 digits, so a fraction is written with 17 (exact, if longer than
 * JavaScript would write it) and a whole number as an integer. Tested against GET for both.
 */
function callJson(dialect: Dialect, jsonFields: readonly JsonField[]): RawBuilder<string> {
  const built = callJsonSql[dialect];
  let expression = built.get(jsonFields);
  if (expression === undefined) {
    expression = sql.raw<string>(compiledText(dialect, buildCallJson(dialect, jsonFields)));
    built.set(jsonFields, expression);
  }
  return expression;
}

/**
 * callJson's expression for each dialect and field list, as SQL text made once: it is the same
 * for every page, and building and compiling its few hundred nodes anew for each was a tenth of
 * the main thread's time per list page (profiled at 1M calls).
 */
const callJsonSql: Record<Dialect, WeakMap<readonly JsonField[], RawBuilder<string>>> = {
  sqlite: new WeakMap(),
  postgres: new WeakMap(),
};

/** An expression without parameters, compiled to its dialect's SQL text. */
function compiledText(dialect: Dialect, expression: RawBuilder<unknown>): string {
  const compiler = dialect === 'postgres' ? new PostgresQueryCompiler() : new SqliteQueryCompiler();
  const compiled = compiler.compileQuery(expression.toOperationNode(), createQueryId());
  if (compiled.parameters.length > 0) throw new Error('compiledText takes no parameters');
  return compiled.sql;
}

function buildCallJson(dialect: Dialect, jsonFields: readonly JsonField[]): RawBuilder<string> {
  if (dialect === 'postgres') {
    const fields = jsonFields.map(([key, column, kind]) => {
      const value = sql.ref(`calls.${column}`);
      const expression =
        kind === 'json'
          ? sql`${value}::json`
          : kind === 'dollars'
            ? sql`${value} / 1000000::float8`
            : kind === 'present'
              ? sql`(${value} IS NOT NULL)`
              : value;
      return sql`${expression} AS ${sql.id(key)}`;
    });
    return sql<string>`(SELECT row_to_json(j)::text FROM (SELECT ${sql.join(fields)}) AS j)`;
  }
  const fields = jsonFields.map(([key, column, kind]) => {
    const value = sql.ref(`calls.${column}`);
    const number = (n: RawBuilder<unknown>) => sql`CASE WHEN ${n} IS NULL THEN NULL
      WHEN ${n} = CAST(${n} AS INTEGER) THEN CAST(${n} AS INTEGER)
      ELSE json(printf('%!.17g', ${n})) END`;
    const expression =
      kind === 'json'
        ? sql`json(${value})`
        : kind === 'number'
          ? number(sql`${value}`)
          : kind === 'dollars'
            ? number(sql`${value} / 1000000.0`)
            : kind === 'present'
              ? sql`json(CASE WHEN ${value} IS NULL THEN 'false' ELSE 'true' END)`
              : value;
    return sql`${sql.lit(key)}, ${expression}`;
  });
  return sql<string>`json_object(${sql.join(fields)})`;
}

/** How the database writes a CSV cell of one of the call's columns (see callCsv). */
type CsvCellKind = 'text' | 'topics' | 'collected' | 'dollars';

/** The CSV export's columns (calls.export.ts' CSV_COLUMNS) but the duration, as stored. */
const CSV_CELLS: Record<Exclude<CsvColumn, 'duration'>, readonly [string, CsvCellKind]> = {
  id: ['id', 'text'],
  callSid: ['call_sid', 'text'],
  agentId: ['agent_id', 'text'],
  userId: ['user_id', 'text'],
  orgId: ['org_id', 'text'],
  status: ['status', 'text'],
  direction: ['direction', 'text'],
  callerNumber: ['caller_number', 'text'],
  callerName: ['caller_name', 'text'],
  startedAt: ['started_at', 'text'],
  endedAt: ['ended_at', 'text'],
  sentiment: ['sentiment', 'text'],
  endReason: ['end_reason', 'text'],
  topics: ['topics', 'topics'],
  summary: ['summary', 'text'],
  cost: ['cost_micros', 'dollars'],
  recordingUrl: ['recording_url', 'text'],
  collectedData: ['collected_data', 'collected'],
  transcript: ['transcript', 'text'],
  createdAt: ['created_at', 'text'],
  updatedAt: ['updated_at', 'text'],
};

/** A call's CSV row as the database writes it: see callCsv. */
interface CallCsvSql {
  readonly line: RawBuilder<string>;
  readonly lineEnd: RawBuilder<string>;
}

/**
 * A call's CSV row built by the database, cell for cell as csvRow (src/lib/csv.ts) writes the
 * export's values (calls.export.ts): the cells before the duration with the comma after them
 * (`line`), and the comma and the cells after it with the row's CRLF (`lineEnd`). Built in
 * JavaScript from row objects, a page cost the main thread about 20 µs a call, and CSV ran at
 * 60-82 % of NDJSON's rows a second. What it relies on, kept by every write (the import too): topics
 * and collectedData are stored as JSON.stringify wrote them, and the cost as whole
 * micro-dollars under $1M, whose decimal form is exactly the one JavaScript writes for
 * micros / 1e6. Tested against csvRow on both dialects.
 */
function callCsv(dialect: Dialect): CallCsvSql {
  callCsvSql[dialect] ??= buildCallCsv(dialect);
  return callCsvSql[dialect];
}

/** callCsv's SQL for each dialect, compiled once (as callJsonSql). */
const callCsvSql: Partial<Record<Dialect, CallCsvSql>> = {};

function buildCallCsv(dialect: Dialect): CallCsvSql {
  const postgres = dialect === 'postgres';
  const char = (code: number) => sql.raw(postgres ? `chr(${code})` : `char(${code})`);
  // One regular expression on PostgreSQL: each function given a long text decompresses it
  // again, and four strpos made a page's transcripts cost half as much again (measured).
  const needsQuotes = (value: RawBuilder<unknown>) =>
    postgres
      ? sql`${value} ~ ('[",' || chr(13) || chr(10) || ']')`
      : sql`(instr(${value}, '"') OR instr(${value}, ',') OR instr(${value}, char(13))
          OR instr(${value}, char(10)))`;
  // csvCell: a text that starts like a formula gets an apostrophe; one holding a quote, a comma
  // or a line break is quoted, its quotes doubled; NULL is an empty cell.
  const textCell = (value: RawBuilder<unknown>) => {
    const first = postgres ? sql`left(${value}, 1)` : sql`substr(${value}, 1, 1)`;
    const neutralised = sql`CASE WHEN ${first} IN ('=', '+', '-', '@', ${char(9)}, ${char(13)})
      THEN '''' || ${value} ELSE ${value} END`;
    return sql`CASE WHEN ${value} IS NULL THEN ''
      WHEN ${needsQuotes(value)} THEN '"' || replace(${neutralised}, '"', '""') || '"'
      ELSE ${neutralised} END`;
  };
  const cell = ([column, kind]: readonly [string, CsvCellKind]) => {
    const value = sql.ref(`calls.${column}`);
    switch (kind) {
      case 'text':
        return textCell(value);
      case 'topics': {
        // Joined with "; " in their order; none is an empty cell, as [].join gives. The cell is
        // made over the joined text in the subquery, which is then read once, not once for each
        // time textCell names it.
        const joined = postgres
          ? sql`SELECT string_agg(t.value, '; ' ORDER BY t.n) AS topics
              FROM json_array_elements_text(${value}::json) WITH ORDINALITY AS t(value, n)`
          : sql`SELECT group_concat(value, '; ' ORDER BY key) AS topics FROM json_each(${value})`;
        return sql`CASE WHEN ${value} = '[]' THEN ''
          ELSE (SELECT ${textCell(sql`joined.topics`)} FROM (${joined}) AS joined) END`;
      }
      case 'collected':
        // The stored text is JSON.stringify's; an empty object is an empty cell.
        return textCell(sql`nullif(${value}, '{}')`);
      case 'dollars':
        // Whole micro-dollars in decimal, trailing zeros dropped: JavaScript's micros / 1e6.
        return postgres
          ? sql`coalesce(trim_scale(${value}::numeric / 1000000)::text, '')`
          : sql`CASE WHEN ${value} IS NULL THEN ''
              ELSE CASE WHEN ${value} < 0 THEN '-' ELSE '' END || (abs(${value}) / 1000000)
                || CASE WHEN abs(${value}) % 1000000 = 0 THEN ''
                  ELSE '.' || rtrim(printf('%06d', abs(${value}) % 1000000), '0') END END`;
    }
  };
  const cells = (columns: readonly CsvColumn[]) =>
    sql.join(
      columns.map((column) => cell(CSV_CELLS[column as Exclude<CsvColumn, 'duration'>])),
      sql` || ',' || `,
    );
  const durationAt = CSV_COLUMNS.indexOf('duration');
  const compiled = (expression: RawBuilder<string>) =>
    sql.raw<string>(compiledText(dialect, expression));
  return {
    line: compiled(sql`${cells(CSV_COLUMNS.slice(0, durationAt))} || ','`),
    lineEnd: compiled(
      sql`',' || ${cells(CSV_COLUMNS.slice(durationAt + 1))} || ${char(13)} || ${char(10)}`,
    ),
  };
}

/** Whether a call has a transcript, without reading it (SQLite skips the value's pages). */
const HAS_TRANSCRIPT = sql<number | boolean>`(calls.transcript IS NOT NULL)`;

/**
 * The stats' sums of one UTC slot (read from the calls) or of one series bucket (read from the
 * rollups), at its start (epoch ms): see statsBySlot.
 */
export interface StatsSlotRow extends SlotSums {
  readonly start: number;
}

export type CallRepository = ReturnType<typeof createCallRepository>;

/**
 * `reads` runs the heavy reads (list, count, stats): SQLite reader threads in the server, so they
 * never stall writes; the same as `db` inside a transaction and on PostgreSQL. `copyRows`
 * (PostgreSQL's handle has it) reads the export's pages as bytes; without it they are read as
 * rows.
 */
export function createCallRepository(
  db: Kysely<Database> | Transaction<Database>,
  dialect: Dialect,
  reads: Kysely<Database> | Transaction<Database> = db,
  searchPlans: SearchPlanSettings = DEFAULT_SEARCH_PLANS,
  copyRows?: CopyRows,
) {
  /** The duration bins' bounds: a table written once by its migration, so read once. */
  let binBounds: Promise<BinBound[]> | undefined;
  const durationBinBounds = (): Promise<BinBound[]> => {
    binBounds ??= reads
      .selectFrom('call_rollup_duration_bins')
      .select(['bin', 'lo', 'hi'])
      .orderBy('bin')
      .execute()
      .then((rows) =>
        rows.map((row) => ({
          bin: Number(row.bin),
          lo: Number(row.lo),
          hi: row.hi === null ? null : Number(row.hi),
        })),
      );
    binBounds.catch(() => (binBounds = undefined));
    return binBounds;
  };

  return {
    inTransaction: (trx: Transaction<Database>) =>
      createCallRepository(trx, dialect, trx, searchPlans),

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

    /**
     * SQLite: the newest note of a call waiting for the search index, or undefined when none
     * waits (see sqlite-search-file.ts); while the index is being filled from the calls (or is
     * yet to be, in a file made from another database), the newest note there is, or 0. Read on
     * `reads`: a read that begins after a write was acknowledged sees its note.
     */
    async lastPendingSearch(): Promise<number | undefined> {
      if (dialect === 'postgres') {
        const { rows } = await sql<{ last: string | null }>`
          SELECT max(seq) AS last FROM call_search_pending`.execute(reads);
        const last = rows[0]?.last;
        return last === null || last === undefined ? undefined : Number(last);
      }
      const { rows } = await sql<{ last: number | null }>`
        SELECT CASE
          WHEN search_index_state.rebuild_after IS NOT NULL OR ${SEARCH_FILE_MADE_ELSEWHERE}
            THEN (SELECT coalesce(max(seq), 0) FROM calls_search_pending)
          ELSE (SELECT max(seq) FROM calls_search_pending
            WHERE seq > search_index_state.indexed_up_to)
        END AS last
        FROM search.search_index_state`.execute(reads);
      return rows[0]?.last ?? undefined;
    },

    /**
     * SQLite: one round of the search index's upkeep, in this transaction (sqlite-search-file.ts).
     * Adds up to `limit` of the calls noted after the last note the index has done (and up to
     * note `upTo`, the oldest first) to the search file, and records the last note done there in
     * the same commit; the notes up to it can then be deleted (forgetIndexedSearch). Each call's
     * old words go first, so an edited call is never indexed twice and a deleted one leaves. A
     * search file not made from this database is emptied first and filled from the calls,
     * `limit` a round, before any note is done (every note up to then is covered by it). It
     * writes the search file only: the indexer's connection begins each transaction by writing
     * it, so holds its lock and never the calls'. Across tenants: this is the index's upkeep, not
     * a read or write on anyone's behalf. PostgreSQL: see indexPendingPostgresSearch.
     */
    async indexPendingSearch(
      limit: number,
      upTo = Number.MAX_SAFE_INTEGER,
    ): Promise<SearchIndexRound> {
      if (dialect === 'postgres') return indexPendingPostgresSearch(db, limit, upTo);
      const state = await sql<{
        done: number;
        rebuildAfter: number | null;
        database: string;
        madeElsewhere: number;
      }>`
        UPDATE search.search_index_state SET indexed_up_to = indexed_up_to
        RETURNING indexed_up_to AS done, rebuild_after AS rebuildAfter,
          (SELECT token FROM search_index_identity) AS database,
          ${SEARCH_FILE_MADE_ELSEWHERE} AS madeElsewhere`.execute(db);
      let { done, rebuildAfter } = state.rows[0]!;
      const { database, madeElsewhere } = state.rows[0]!;
      if (madeElsewhere === 1) {
        await sql`INSERT INTO search.calls_search (calls_search) VALUES ('delete-all')`.execute(db);
        const notes = await sql<{ last: number }>`
          SELECT coalesce(max(seq), 0) AS last FROM calls_search_pending`.execute(db);
        done = notes.rows[0]?.last ?? 0;
        rebuildAfter = 0;
        await sql`UPDATE search.search_index_state
          SET token = ${database}, indexed_up_to = ${done}, rebuild_after = 0`.execute(db);
      }
      if (rebuildAfter !== null) {
        const batch = await sql<{ calls: number; last: number | null }>`
          SELECT count(*) AS calls, max(rowid) AS last FROM (
            SELECT rowid FROM calls WHERE rowid > ${rebuildAfter} ORDER BY rowid
            LIMIT ${limit})`.execute(db);
        const { calls, last } = batch.rows[0] ?? { calls: 0, last: null };
        if (calls > 0 && last !== null) {
          // A call noted and indexed meanwhile goes in once.
          await reindexInSearchFile(
            db,
            sql`SELECT rowid FROM calls WHERE rowid > ${rebuildAfter} AND rowid <= ${last}`,
          );
        }
        const filled = calls < limit;
        await sql`UPDATE search.search_index_state
          SET rebuild_after = ${filled ? null : last}`.execute(db);
        // Once filled, the notes since it began are next.
        return { calls, through: done, more: true };
      }
      const batch = await sql<{ calls: number; last: number | null }>`
        SELECT count(*) AS calls, max(seq) AS last FROM (
          SELECT seq FROM calls_search_pending WHERE seq > ${done} AND seq <= ${upTo}
          ORDER BY seq LIMIT ${limit})`.execute(db);
      const { calls, last } = batch.rows[0] ?? { calls: 0, last: null };
      if (calls === 0 || last === null) return { calls: 0, through: done, more: false };
      await reindexInSearchFile(
        db,
        sql`SELECT call_rowid FROM calls_search_pending WHERE seq > ${done} AND seq <= ${last}`,
      );
      await sql`UPDATE search.search_index_state SET indexed_up_to = ${last}`.execute(db);
      return { calls, through: last, more: calls === limit };
    },

    /**
     * SQLite: deletes the notes the search file has done, up to `through` (what
     * indexPendingSearch returned). A call noted again since has a newer note, which stays.
     */
    async forgetIndexedSearch(through: number): Promise<void> {
      // PostgreSQL's indexer deletes the notes it does in its own transaction.
      if (dialect !== 'sqlite') return;
      await sql`DELETE FROM calls_search_pending WHERE seq <= ${through}`.execute(db);
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
    list(
      tenantId: string,
      filter: CallFilter,
      options: ListCallsOptions,
    ): Promise<ListedCallRow[]> {
      return listPlan(reads, dialect, searchPlans, tenantId, filter, options);
    },

    /**
     * The export's walk: as list, newest first, but only each call's place, so that the pages
     * behind these keys can be read several at a time (ndjsonOf, csvOf).
     */
    async listKeys(
      tenantId: string,
      filter: CallFilter,
      options: { readonly after?: PagePosition | undefined; readonly limit: number },
    ): Promise<CallKey[]> {
      const rows = await listPlan(reads, dialect, searchPlans, tenantId, filter, {
        ...options,
        sort: 'newest',
        withTranscript: false,
        select: 'keys',
      });
      // ListedCallRow has the keys' fields; select: 'keys' selected no others.
      return rows;
    },

    /**
     * As list, each call as the list's JSON record, built by the database (see callJson): a
     * page is then joined text, not objects built and serialised. Not for a search, whose
     * records carry their matches (found in the service).
     */
    async listJson(
      tenantId: string,
      filter: CallFilter,
      options: ListCallsOptions,
    ): Promise<JsonListedCallRow[]> {
      if (filter.search !== undefined) throw new Error('listJson does not search; use list');
      const rows = await listPlan(reads, dialect, searchPlans, tenantId, filter, {
        ...options,
        select: 'json',
      });
      // select: 'json' selected the id and the line; every plan adds the sort key.
      return rows as unknown as JsonListedCallRow[];
    },

    /**
     * The tenant's calls among `ids`, each as the list's JSON record (see listJson), without
     * transcripts; an id with no call of the tenant has no row. For the live stream.
     */
    async listedJsonOf(tenantId: string, ids: readonly string[]): Promise<CallJsonRow[]> {
      const rows = await rowsInOrder(
        reads,
        dialect,
        tenantId,
        ids.map((id) => ({ id, sort_key: '' })),
        { withTranscript: false, select: 'json' },
      );
      return rows as unknown as CallJsonRow[];
    },

    /** The calls behind `keys`, in their order, as CSV rows (see callCsv); a call gone since, not. */
    async csvOf(tenantId: string, keys: readonly CallKey[]): Promise<CallCsvRow[]> {
      if (dialect === 'postgres' && copyRows !== undefined) {
        const copied = await copiedInOrder(reads, copyRows, tenantId, keys, [
          callCsv(dialect).line,
          sql`CAST(calls.duration AS float8)`,
          callCsv(dialect).lineEnd,
        ]);
        return copied.map(([id, line, duration, lineEnd]) => ({
          id,
          line: line!,
          duration: duration === null ? null : duration!.readDoubleBE(0),
          line_end: lineEnd!,
        }));
      }
      const rows = await rowsInOrder(reads, dialect, tenantId, keys, {
        withTranscript: true,
        select: 'csv',
      });
      return rows as unknown as CallCsvRow[];
    },

    /** The calls behind `keys`, in their order, as NDJSON lines (see callJson). */
    async ndjsonOf(tenantId: string, keys: readonly CallKey[]): Promise<CallJsonRow[]> {
      if (dialect === 'postgres' && copyRows !== undefined) {
        const copied = await copiedInOrder(reads, copyRows, tenantId, keys, [
          callJson(dialect, CALL_JSON_FIELDS),
        ]);
        return copied.map(([id, line]) => ({ id, line: line! }));
      }
      const rows = await rowsInOrder(reads, dialect, tenantId, keys, {
        withTranscript: true,
        select: 'ndjson',
      });
      return rows as unknown as CallJsonRow[];
    },

    /** A relevance-sorted page of a search: see listByRelevance. */
    listByRelevance(
      tenantId: string,
      filter: CallFilter,
      options: RelevanceOptions,
    ): Promise<RelevancePage> {
      return listByRelevance(reads, dialect, tenantId, filter, options, searchPlans);
    },

    /** How many of the tenant's calls match `filter`. */
    async count(tenantId: string, filter: CallFilter): Promise<number> {
      if (dialect === 'sqlite' && filter.search !== undefined) {
        return countSqliteSearch(reads, tenantId, filter, filter.search);
      }
      const driver = facetDriver(filter);
      if (driver !== undefined) {
        const row = await reads
          .selectFrom('call_facets as f')
          .crossJoin('calls')
          .select((eb) => eb.fn.countAll().as('total'))
          .where((eb) =>
            eb.and(
              facetConditions(
                eb as unknown as ExpressionBuilder<Database, 'calls'>,
                dialect,
                tenantId,
                driver,
              ),
            ),
          )
          .executeTakeFirst();
        return Number(row?.total ?? 0);
      }
      const row = await reads
        .selectFrom('calls')
        .select((eb) => eb.fn.countAll().as('total'))
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, 'in')))
        .executeTakeFirst();
      return Number(row?.total ?? 0);
    },

    /**
     * The stats' raw material: the sums of everything the stats report, per series bucket of
     * `series` when the filter is nothing but a time range (from the rollups, see
     * call-rollups.repository.ts), else per UTC slot (an hour, or a quarter hour for zones off
     * UTC by a fraction of an hour) in one pass over the stats index. Each row at its bucket's or
     * slot's start: buildStats puts it in the bucket holding that instant either way.
     */
    async statsBySlot(
      tenantId: string,
      filter: CallFilter,
      series: { zone: ZoneOffsets; bucket: Bucket },
    ): Promise<StatsSlotRow[]> {
      if (readsRollups(filter)) {
        return createCallRollupRepository(db, dialect, reads).bucketSums(tenantId, filter, series);
      }
      const slotMinutes = slotMinutesFor(series.zone);
      const quarter =
        slotMinutes === 15
          ? sql<number>`CAST(substr(calls.started_at, 15, 2) AS INTEGER) / 15`
          : sql<number>`0`;
      const values = slotValueSql(dialect, 'calls', sql`1`);
      const rows = await reads
        .selectFrom('calls')
        .select([
          sql<string>`substr(calls.started_at, 1, 13)`.as('hour'),
          quarter.as('quarter'),
          ...Object.entries(values).map(([column, value]) =>
            sql<number | string>`sum(${value})`.as(column),
          ),
        ])
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, 'in')))
        .groupBy(
          slotMinutes === 15
            ? [sql`substr(calls.started_at, 1, 13)`, quarter]
            : [sql`substr(calls.started_at, 1, 13)`],
        )
        .execute();
      return rows.map((row) => ({
        start: Date.parse(`${row.hour}:00:00.000Z`) + Number(row.quarter) * 15 * 60_000,
        ...toSlotSums(row as unknown as SlotSumsRow),
      }));
    },

    /** Calls per agent: from the rollups for a filter of nothing but a time range. */
    async statsByAgent(
      tenantId: string,
      filter: CallFilter,
    ): Promise<Array<{ agentId: string; calls: number }>> {
      if (readsRollups(filter)) {
        return createCallRollupRepository(db, dialect, reads).agentTotals(tenantId, filter);
      }
      const rows = await reads
        .selectFrom('calls')
        .select(['calls.agent_id', sql<number>`count(*)`.as('calls')])
        .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, 'in')))
        .groupBy('calls.agent_id')
        .execute();
      return rows.map((row) => ({ agentId: row.agent_id, calls: Number(row.calls) }));
    },

    /**
     * The durations of the matching calls: exact nearest-rank `percentiles`, and how many calls
     * fall in each duration bin (call_rollup_duration_bins, about 5 % wide; empty ones left
     * out). For a filter of nothing but a time range, each rank's bin comes from the rollups and
     * its value from a walk of that bin; otherwise (or if a write came between those two reads)
     * from how many calls lasted each distinct duration.
     */
    async durationDistribution(
      tenantId: string,
      filter: CallFilter,
      percentiles: readonly number[],
    ): Promise<{ percentiles: Array<number | null>; bins: DurationBin[] }> {
      if (readsRollups(filter)) {
        const exact = await createCallRollupRepository(db, dialect, reads).durationPercentiles(
          tenantId,
          filter,
          percentiles,
        );
        if (exact !== undefined) return { percentiles: exact.values, bins: exact.bins };
      }
      const [rows, bounds] = await Promise.all([
        reads
          .selectFrom('calls')
          .select(['calls.duration', sql<number>`count(*)`.as('calls')])
          .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, 'in')))
          .where('calls.duration', 'is not', null)
          .groupBy('calls.duration')
          .orderBy('calls.duration')
          .execute(),
        durationBinBounds(),
      ]);
      const histogram = rows.map((row) => ({
        duration: Number(row.duration),
        calls: Number(row.calls),
      }));
      return {
        percentiles: percentiles.map((p) => percentile(histogram, p)),
        bins: binDurations(histogram, bounds),
      };
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

interface BinBound {
  readonly bin: number;
  readonly lo: number;
  readonly hi: number | null;
}

/**
 * Counts of calls by duration (ascending) summed into the bins (ascending), as the rollups
 * count them: bin 0 also holds anything below its upper bound, the last is open above.
 */
function binDurations(
  histogram: ReadonlyArray<{ duration: number; calls: number }>,
  bounds: readonly BinBound[],
): DurationBin[] {
  const bins: DurationBin[] = [];
  let at = 0;
  for (const { duration, calls } of histogram) {
    while (at < bounds.length - 1 && bounds[at]!.hi !== null && duration >= bounds[at]!.hi!) at++;
    const bound = bounds[at]!;
    const last = bins.at(-1);
    if (last !== undefined && last.bin === bound.bin) {
      bins[bins.length - 1] = { ...last, calls: last.calls + calls };
    } else {
      bins.push({ bin: bound.bin, lo: bound.bin === 0 ? null : bound.lo, hi: bound.hi, calls });
    }
  }
  return bins;
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

// ---- SQLite search plans ----------------------------------------------------------------
//
// FTS5 answers "which calls hold these words" fast, but not "which are the newest": its matches
// come in rowid order, and a tenant's calls must then be looked up and sorted. That costs time
// in proportion to the matches: fine for a rare word, 100 ms and more for a word in most calls.
// For common words walkInChunks goes the other way: the tenant's calls in order, a chunk at a
// time, each chunk's matches asked of the index at once. Asking per call (EXISTS … rowid = ?)
// would be simpler, but FTS5 answers that in about 100 µs, so a word in one call of 50 cost
// half a second. A capped count of each word picks the plan; both return exactly the same rows.

/** How SQLite searches pick and run their plans; tests shrink them to reach every path. */
export interface SearchPlanSettings {
  /**
   * A word in fewer calls than this (over all tenants) is searched from the index: its matches
   * are few enough to look up and sort (about 10 ms for 5,000). A commoner word walks the calls
   * in chunks (walkInChunks), which costs less the commoner the word is.
   */
  readonly commonMatches: number;
  /** Calls walked per step of walkInChunks: a word in one call of ten fills a page in the first. */
  readonly walkChunks: readonly number[];
  /** How many of a search's most recent matches relevance ranks (both dialects). */
  readonly relevanceWindow: number;
  /** How far PostgreSQL's searches walk the tenant's newest calls (see walkPostgresChunk). */
  readonly postgresWalk: PostgresWalkSettings;
}

/**
 * PostgreSQL searches walk the tenant's newest calls, testing each one's words, where that
 * costs less than asking GIN: about 2.5 µs a call walked (its row and its compressed document
 * are read), against about 3 µs a match for GIN's matches, every one of which is read and
 * sorted before the first is known. A word in most calls fills a page within a few hundred
 * calls; GIN would hand over tens of thousands. Each setting is a number of calls walked.
 */
export interface PostgresWalkSettings {
  /**
   * Walked first by a newest-first search (0: never walk). How many matched tells the word's
   * share of the calls; it also decides relevance's plan.
   */
  readonly first: number;
  /** A newest-first page walks on while its share says the page fills within this many. */
  readonly newest: number;
  /** Relevance walks to its window while the share says the window is within this many. */
  readonly relevance: number;
}

export const DEFAULT_SEARCH_PLANS: SearchPlanSettings = {
  commonMatches: 10_000,
  walkChunks: [1000, 4000, 16000],
  relevanceWindow: 1000,
  postgresWalk: { first: 200, newest: 2000, relevance: 8000 },
};

/** Column weights of -bm25(): tenant 0, caller name and topics 4, summary and data 2, transcript 1. */
const SQLITE_SCORE = sql<number>`-bm25(calls_search, 0, 4, 4, 2, 2, 1)`;

type Reads = Kysely<Database> | Transaction<Database>;

/**
 * Whether every word of the query (a prefix counts all its words) is in at least commonMatches
 * calls, over all tenants. Each count stops at that many: a doclist is read in order, so the
 * answer costs about a millisecond however common a word is. (The vocabulary table gives exact
 * counts but reads whole doclists: 15 ms for a word in 600k calls.)
 */
async function isCommonSearch(
  reads: Reads,
  search: readonly SearchTerm[],
  commonMatches: number,
): Promise<boolean> {
  const counts = search.flatMap((term) =>
    term.words.map((word, index) => {
      const prefix = term.prefix && index === term.words.length - 1;
      return sql`(SELECT count(*) FROM (SELECT 1 FROM calls_search
        WHERE calls_search MATCH ${toFts5Query([{ words: [word], prefix }])}
        LIMIT ${commonMatches}))`;
    }),
  );
  const { rows } = await sql<{ rarest: number | null }>`
    SELECT min(${sql.join(counts)}) AS rarest`.execute(reads);
  // min() of one argument is an aggregate in SQLite; of several, the smallest.
  return Number(rows[0]?.rarest ?? 0) >= commonMatches;
}

function hasFiltersBesidesSearch(filter: CallFilter): boolean {
  return Object.entries(filter).some(([name, value]) => name !== 'search' && value !== undefined);
}

/** The tenant's matches, as (r: calls rowid), computed once by FTS5. */
function matchedCte(tenantId: string, search: readonly SearchTerm[]) {
  // Parenthesised here: Kysely writes a raw CTE body as it is.
  return sql<{ r: number }>`(SELECT rowid AS r
    FROM calls_search WHERE calls_search MATCH ${toFts5Query(search, tenantToken(tenantId))})`;
}

async function listSqliteSearch(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  options: ListPlanOptions,
  plans: SearchPlanSettings,
): Promise<ListedCallRow[]> {
  const { sort } = options;
  if (
    (sort === 'newest' || sort === 'oldest') &&
    (await isCommonSearch(reads, search, plans.commonMatches))
  ) {
    return walkInChunks(reads, tenantId, filter, search, { ...options, sort }, plans.walkChunks);
  }
  return indexDrivenSearch(reads, tenantId, filter, search, options);
}

interface PageKey {
  readonly r: number;
  readonly sort_key: string | number;
  readonly id: string;
}

/**
 * newest/oldest for a common word: walk the tenant's calls in order, a chunk at a time, and ask
 * the index once per chunk for its matches among them. Calls get their rowids as they arrive,
 * so a chunk of consecutive calls spans a narrow rowid range, and FTS5 answers "matches between
 * these rowids" by seeking, not by reading the word's whole doclist. Exact whatever the rowids:
 * the range only narrows the question, the join with the chunk decides. A page still short
 * after the last chunk (a word rarer in this tenant than across all) gets the rest from the
 * index-driven plan, after the last call walked.
 */
async function walkInChunks(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  options: ListPlanOptions & { sort: 'newest' | 'oldest' },
  chunks: readonly number[],
  attempt = 1,
): Promise<ListedCallRow[]> {
  const { sort, limit } = options;
  const key = SORT_KEYS[sort];
  const rest: CallFilter = { ...filter, search: undefined };
  const match = toFts5Query(search, tenantToken(tenantId));
  const found: PageKey[] = [];
  let position = options.after;
  let exhausted = false;
  for (const size of chunks) {
    const from = position;
    const chunk = () => {
      let walk = reads
        .selectFrom('calls')
        .select([sql<number>`calls.rowid`.as('r'), key.expression.as('sort_key'), 'calls.id as id'])
        .where((eb) => eb.and(filterConditions(eb, 'sqlite', tenantId, rest, 'in')));
      if (from !== undefined) walk = walk.where(keysetAfter(key, sort, from));
      return walk
        .orderBy(key.expression, key.direction)
        .orderBy('calls.id', key.direction)
        .limit(size);
    };
    const hits = (await reads
      .with((cte) => cte('chunk').materialized(), chunk)
      .with(
        (cte) => cte('hits').materialized(),
        () => sql<{
          r: number;
        }>`(SELECT rowid AS r FROM calls_search WHERE calls_search MATCH ${match}
          AND rowid BETWEEN (SELECT min(r) FROM chunk) AND (SELECT max(r) FROM chunk))`,
      )
      .selectFrom('chunk')
      .innerJoin('hits', 'hits.r', 'chunk.r')
      .select(['chunk.r', 'chunk.sort_key', 'chunk.id'])
      .orderBy('chunk.sort_key', key.direction)
      .orderBy('chunk.id', key.direction)
      .limit(limit - found.length)
      .execute()) as PageKey[];
    found.push(...hits);
    if (found.length >= limit) break;
    // Where the chunk ended, and whether the calls ran out before it was full.
    const opposite = key.direction === 'desc' ? 'asc' : 'desc';
    const end = (await reads
      .with((cte) => cte('chunk').materialized(), chunk)
      .selectFrom('chunk')
      .select([
        sql<number>`(SELECT count(*) FROM chunk)`.as('walked'),
        'chunk.sort_key',
        'chunk.id',
      ])
      .orderBy('chunk.sort_key', opposite)
      .orderBy('chunk.id', opposite)
      .limit(1)
      .executeTakeFirst()) as { walked: number; sort_key: string; id: string } | undefined;
    if (end === undefined || Number(end.walked) < size) {
      exhausted = true;
      break;
    }
    position = { key: end.sort_key, id: end.id };
  }

  const pageRows = await rowsInOrder(reads, 'sqlite', tenantId, found, options);
  if (pageRows.length < found.length && attempt < 3) {
    // A call was deleted between the two reads: a short page would read as the last one, so
    // the page is read again.
    return walkInChunks(reads, tenantId, filter, search, options, chunks, attempt + 1);
  }
  if (found.length >= limit || exhausted) return pageRows;
  const remainder = await indexDrivenSearch(reads, tenantId, filter, search, {
    ...options,
    after: position,
    limit: limit - found.length,
  });
  return [...pageRows, ...remainder];
}

/**
 * The listed columns of the calls behind `keys` (by SQLite rowid, or by id), in the keys' order,
 * each with its key's sort_key. A key whose call is gone (deleted since) has no row.
 */
async function rowsInOrder(
  reads: Reads,
  dialect: Dialect,
  tenantId: string,
  keys: ReadonlyArray<{ r?: number; id: string; sort_key: string | number }>,
  options: Pick<ListPlanOptions, 'withTranscript' | 'select'>,
): Promise<ListedCallRow[]> {
  if (keys.length === 0) return [];
  const byRowid = keys.every((k) => k.r !== undefined);
  // Unary + on SQLite: it must seek the rowids or ids, not read the tenant's calls off an index
  // (with no statistics it would, and an export would slow with the square of its size).
  const tenant =
    dialect === 'sqlite'
      ? sql<SqlBool>`+calls.tenant_id = ${tenantId}`
      : sql<SqlBool>`calls.tenant_id = ${tenantId}`;
  const rows = await reads
    .selectFrom('calls')
    .select(listColumns(dialect, options))
    .select(HAS_TRANSCRIPT.as('has_transcript'))
    .where(
      byRowid
        ? sql<SqlBool>`${tenant} AND calls.rowid IN (${sql.join(keys.map((k) => k.r))})`
        : sql<SqlBool>`${tenant} AND calls.id IN (${sql.join(keys.map((k) => k.id))})`,
    )
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return keys.flatMap((k) => {
    const row = byId.get(k.id);
    return row === undefined ? [] : [{ ...row, sort_key: k.sort_key }];
  });
}

/**
 * rowsInOrder on PostgreSQL through COPY (see src/db/pg-copy.ts): the calls behind `keys`, in
 * their order, each as its id and the bytes of `columns` (none may be NULL but where the caller
 * expects it). COPY takes no parameters, so the tenant and the ids are literals, written by
 * postgresLiteral whatever the server's settings.
 */
async function copiedInOrder(
  reads: Reads,
  copyRows: CopyRows,
  tenantId: string,
  keys: readonly CallKey[],
  columns: ReadonlyArray<RawBuilder<unknown>>,
): Promise<Array<[id: string, ...values: CopiedRow]>> {
  if (keys.length === 0) return [];
  const query = reads
    .selectFrom('calls')
    .select((eb) => [
      eb.ref('calls.id').as('id'),
      ...columns.map((column, index) => column.as(`c${index}`)),
    ])
    .where(
      sql<SqlBool>`calls.tenant_id = ${sql.raw(postgresLiteral(tenantId))}
        AND calls.id IN (${sql.raw(keys.map((key) => postgresLiteral(key.id)).join(', '))})`,
    )
    .compile();
  if (query.parameters.length > 0) throw new Error('a COPY statement takes no parameters');
  const byId = new Map<string, CopiedRow>();
  for (const [id, ...values] of await copyRows(query.sql)) {
    byId.set(id!.toString('utf8'), values);
  }
  return keys.flatMap((key) => {
    const values = byId.get(key.id);
    return values === undefined ? [] : [[key.id, ...values]];
  });
}

/** Any sort: the index's matches (materialised once), then their calls, filtered and sorted. */
async function indexDrivenSearch(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  options: ListPlanOptions,
): Promise<ListedCallRow[]> {
  const { sort, after, limit } = options;
  const columns = listColumns('sqlite', options);
  // The index drives: its matches (once, materialised), then their calls, filtered and sorted.
  // Only the keys are sorted (rowid, sort key, id): the page's columns, which hold summaries and
  // transcripts, are read for the page's calls alone, not for every match.
  const key = SORT_KEYS[sort];
  let page = reads
    .with(
      (cte) => cte('matched').materialized(),
      () => matchedCte(tenantId, search),
    )
    .selectFrom('matched')
    .crossJoin('calls')
    .select([sql<number>`calls.rowid`.as('r'), key.expression.as('sort_key'), 'calls.id as id'])
    .where(sql<SqlBool>`calls.rowid = matched.r`)
    .where((eb) =>
      eb.and(
        filterConditions(
          eb as unknown as ExpressionBuilder<Database, 'calls'>,
          'sqlite',
          tenantId,
          filter,
          'joined',
        ),
      ),
    );
  if (after !== undefined) page = page.where(keysetAfter(key, sort, after));
  const keys = page
    .orderBy(key.expression, key.direction)
    .orderBy('calls.id', key.direction)
    .limit(limit);
  // CROSS JOIN: SQLite keeps the page (a handful of rows, in order) as the outer loop.
  return reads
    .with('page', () => keys)
    .selectFrom('page')
    .crossJoin('calls')
    .select(columns)
    .select(HAS_TRANSCRIPT.as('has_transcript'))
    .select('page.sort_key')
    .where(sql<SqlBool>`calls.rowid = page.r`)
    .orderBy('page.sort_key', key.direction)
    .orderBy('page.id', key.direction)
    .execute();
}

async function countSqliteSearch(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
): Promise<number> {
  if (!hasFiltersBesidesSearch(filter)) {
    const { rows } = await sql<{ total: number }>`SELECT count(*) AS total FROM calls_search
      WHERE calls_search MATCH ${toFts5Query(search, tenantToken(tenantId))}`.execute(reads);
    return Number(rows[0]?.total ?? 0);
  }
  const row = await reads
    .with(
      (cte) => cte('matched').materialized(),
      () => matchedCte(tenantId, search),
    )
    .selectFrom('matched')
    .crossJoin('calls')
    .select((eb) => eb.fn.countAll().as('total'))
    .where(sql<SqlBool>`calls.rowid = matched.r`)
    .where((eb) =>
      eb.and(
        filterConditions(
          eb as unknown as ExpressionBuilder<Database, 'calls'>,
          'sqlite',
          tenantId,
          filter,
          'joined',
        ),
      ),
    )
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}

/** Strictly past the previous page's last row, in the sort's direction. */
// ---- Facet plans ----------------------------------------------------------------------
//
// A page walks the tenant's calls newest first until enough match: quick when most calls
// match, but a topic or collectedData value few calls have makes it read the whole tenant (half
// a second at 200k calls for a value none has). call_facets holds every (topic | data.KEY,
// value) of every call in (tenant, facet, value, startedAt, id) order, so such a page reads its
// matches straight off that index instead, and checks the other filters on those calls only.

/** The longest value call_facets keeps (its migration, frozen, says the same). */
const FACET_VALUE_MAX = 200;

interface FacetDriver {
  readonly facet: string;
  readonly value: string;
  /** The filter without the condition the facet answers. */
  readonly rest: CallFilter;
}

// ---- PostgreSQL search -----------------------------------------------------------------

/**
 * One round of PostgreSQL's search index upkeep (migration 2026-12-07T1000), in the caller's
 * transaction: takes up to `limit` of the notes up to `upTo`, oldest first, skipping those
 * another transaction holds; writes their calls' documents to call_search and deletes the notes.
 * The calls are read in a statement after the notes are locked, so a write that changed a call
 * before the lock is seen, and a write after it waits and notes the call again (see the
 * migration). A note whose call was deleted meanwhile just goes.
 */
async function indexPendingPostgresSearch(
  db: Kysely<Database>,
  limit: number,
  upTo: number,
): Promise<SearchIndexRound> {
  const taken = await sql<{ callId: string }>`
    SELECT call_id AS "callId" FROM call_search_pending WHERE seq <= ${upTo}
    ORDER BY seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(db);
  const ids = taken.rows.map((row) => row.callId);
  const { rows } = await sql<{ busy: boolean }>`
    WITH indexed AS (
      INSERT INTO call_search (call_id, tenant_id, started_at, document)
      SELECT c.id, c.tenant_id, c.started_at, callmind_search_document(c.tenant_id,
        c.started_at, c.caller_name, c.topics, c.summary, c.collected_data, c.transcript)
      FROM calls c WHERE c.id = ANY(${ids}::text[])
      ON CONFLICT (call_id) DO UPDATE
        SET started_at = excluded.started_at, document = excluded.document
    ), done AS (
      DELETE FROM call_search_pending WHERE call_id = ANY(${ids}::text[])
    )
    SELECT EXISTS (
      SELECT 1 FROM call_search_pending
      WHERE seq <= ${upTo} AND call_id <> ALL(${ids}::text[])
    ) AS busy`.execute(db);
  const more = ids.length === limit;
  return { calls: ids.length, through: 0, more, busy: !more && rows[0]?.busy === true };
}
//
// The words live in call_search (migration T1500): one narrow row per call, its tenant a word
// of the document, so GIN finds "this tenant's calls holding these words" by itself, and their
// startedAt sorts without visiting `calls`. Only the page's calls are read from `calls`.

/** The tenant's word in call_search.document, as a tsquery literal (hex: nothing to escape). */
function postgresTenantWord(tenantId: string): string {
  return `'#tenant:${Buffer.from(tenantId, 'utf8').toString('hex')}'`;
}

/** call_search rows (as `s`) of the tenant holding every searched word. */
function postgresMatches(tenantId: string, search: readonly SearchTerm[]): RawBuilder<SqlBool> {
  return sql<SqlBool>`s.tenant_id = ${tenantId} AND s.document @@
    (${postgresTenantWord(tenantId)}::tsquery && ${postgresWords(search)})`;
}

/** The searched words as a PostgreSQL tsquery, as call_search's documents hold them. */
function postgresWords(search: readonly SearchTerm[]): RawBuilder<unknown> {
  return sql`to_tsquery('simple', ${toTsQuery(search)})`;
}

/** The WHERE conditions of every filter but the search, for a query joining `calls`. */
function otherConditions(
  dialect: Dialect,
  tenantId: string,
  filter: CallFilter,
): RawBuilder<SqlBool> {
  const conditions = filterConditions(
    expressionBuilder<Database, 'calls'>(),
    dialect,
    tenantId,
    { ...filter, search: undefined },
    'joined',
  );
  return sql<SqlBool>`(${sql.join(conditions, sql` AND `)})`;
}

/** 'YYYY-MM' of an ISO-8601 startedAt; undefined for anything else (no month plan then). */
function isoMonth(startedAt: string): string | undefined {
  return /^\d{4}-\d{2}-/.test(startedAt) ? startedAt.slice(0, 7) : undefined;
}

type SearchKey = { id: string; sort_key: string };

/**
 * Keys (id, startedAt) of the tenant's matches in startedAt order after `after`.
 *
 * Newest first walks the tenant's newest calls first (walkPostgresChunk): a word in a good share
 * of them fills the page there. When the share the walk saw says a page would take more than
 * `walk.newest` calls, GIN finishes it from where the walk stopped, a month at a time
 * (postgresKeysByMonth). Oldest first (no other filters) is left to the planner: it walks the
 * tenant's oldest rows for a common word and sorts GIN's matches for a rare one.
 */
async function postgresSearchKeys(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  direction: 'asc' | 'desc',
  after: PagePosition | undefined,
  limit: number,
  walk: PostgresWalkSettings,
): Promise<SearchKey[]> {
  if (direction === 'asc')
    return postgresGinKeys(reads, tenantId, filter, search, 'asc', after, sql``, limit);
  if (walk.first <= 0) return postgresKeysByMonth(reads, tenantId, filter, search, after, limit);
  const found: SearchKey[] = [];
  let position = after;
  let walked = 0;
  let matched = 0;
  let size = walk.first;
  for (;;) {
    const chunk = await walkPostgresChunk(
      reads,
      tenantId,
      filter,
      search,
      position,
      size,
      limit - found.length,
    );
    found.push(...chunk.hits);
    walked += chunk.walked;
    matched += chunk.matched;
    // A full page, or the tenant's calls ran out before the chunk did: every match is here.
    if (found.length >= limit || chunk.last === undefined || chunk.walked < size) return found;
    position = chunk.last;
    // How many more calls the page needs at the share seen so far, with a quarter to spare (no
    // match yet counts as half of one, which sends any but a short page to GIN).
    const needed = ((limit - found.length) * walked * 1.25) / Math.max(matched, 0.5);
    if (walked + needed > walk.newest) break;
    size = Math.max(walk.first, Math.ceil(needed));
  }
  return [
    ...found,
    ...(await postgresKeysByMonth(reads, tenantId, filter, search, position, limit - found.length)),
  ];
}

/** What walkPostgresChunk walked: its matches and where it stopped. */
interface WalkedChunk {
  /** The chunk's matches, newest first, at most the limit asked for. */
  readonly hits: SearchKey[];
  /** Calls walked, and how many of them matched (beyond the limit too). */
  readonly walked: number;
  readonly matched: number;
  /** The last call walked, where a walk goes on from; undefined when none was. */
  readonly last: PagePosition | undefined;
}

/**
 * The tenant's `size` newest calls after `after` (of those the other filters keep), each tested
 * for the searched words one by one: from call_search itself with no other filter, else from
 * `calls` (by whichever of its indexes serves the filters), each call's document then looked up
 * by its id. Exact whatever the word: GIN takes no part, so a call is a match only if its words
 * are.
 */
async function walkPostgresChunk(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  after: PagePosition | undefined,
  size: number,
  limit: number,
): Promise<WalkedChunk> {
  const words = postgresWords(search);
  const beyond = (started: RawBuilder<unknown>, id: RawBuilder<unknown>) =>
    after === undefined
      ? sql``
      : sql`AND (${started}, ${id}) < (${String(after.key)}, ${after.id})`;
  // The calls first, then each one's words: written as EXISTS, the test may be planned as one
  // hashed lookup of every match GIN has (the planner prices it for all the tenant's calls, not
  // for the chunk), 1.5 s for a common word. A scalar subquery runs call by call.
  const chunk = hasFiltersBesidesSearch(filter)
    ? sql`SELECT k.id, k.sort_key, coalesce((
          SELECT s.document @@ ${words} FROM call_search s
          WHERE s.call_id = k.id AND s.tenant_id = ${tenantId}), false) AS hit
        FROM (SELECT calls.id, calls.started_at AS sort_key FROM calls
          WHERE ${otherConditions('postgres', tenantId, filter)}
            ${beyond(sql`calls.started_at`, sql`calls.id`)}
          ORDER BY calls.started_at DESC, calls.id DESC LIMIT ${size}) k`
    : sql`SELECT s.call_id AS id, s.started_at AS sort_key, s.document @@ ${words} AS hit
        FROM call_search s WHERE s.tenant_id = ${tenantId}
          ${beyond(sql`s.started_at`, sql`s.call_id`)}
        ORDER BY s.started_at DESC, s.call_id DESC LIMIT ${size}`;
  // The first `limit` matches, and the last call walked with the chunk's counts.
  const { rows } = await sql<{
    id: string;
    sort_key: string;
    hit: boolean;
    nth: string;
    walked: string;
    matched: string;
  }>`
    WITH chunk AS MATERIALIZED (${chunk})
    SELECT id, sort_key, hit, nth, walked, matched FROM (
      SELECT id, sort_key, hit,
        count(*) FILTER (WHERE hit) OVER (ORDER BY sort_key DESC, id DESC) AS nth,
        row_number() OVER (ORDER BY sort_key DESC, id DESC) AS n,
        count(*) OVER () AS walked,
        count(*) FILTER (WHERE hit) OVER () AS matched
      FROM chunk) numbered
    WHERE (hit AND nth <= ${limit}) OR n = walked
    ORDER BY sort_key DESC, id DESC`.execute(reads);
  const last = rows.at(-1);
  return {
    hits: rows
      .filter((row) => row.hit && Number(row.nth) <= limit)
      .map(({ id, sort_key }) => ({ id, sort_key })),
    walked: Number(last?.walked ?? 0),
    matched: Number(last?.matched ?? 0),
    last: last === undefined ? undefined : { key: last.sort_key, id: last.id },
  };
}

/**
 * Keys of the tenant's matches from GIN, in startedAt order after `after`, narrowed further by
 * `narrowing`; other filters join `calls`. GIN hands over every match, which are then sorted.
 */
async function postgresGinKeys(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  direction: 'asc' | 'desc',
  after: PagePosition | undefined,
  narrowing: RawBuilder<unknown>,
  count: number,
): Promise<SearchKey[]> {
  const join = hasFiltersBesidesSearch(filter)
    ? sql`JOIN calls ON calls.id = s.call_id AND ${otherConditions('postgres', tenantId, filter)}`
    : sql``;
  const position =
    after === undefined
      ? sql``
      : sql`AND (s.started_at, s.call_id) ${sql.raw(direction === 'desc' ? '<' : '>')}
          (${String(after.key)}, ${after.id})`;
  const order = sql.raw(direction);
  const { rows } = await sql<SearchKey>`
    SELECT s.call_id AS id, s.started_at AS sort_key FROM call_search s ${join}
    WHERE ${postgresMatches(tenantId, search)} ${position} ${narrowing}
    ORDER BY s.started_at ${order}, s.call_id ${order}
    LIMIT ${count}`.execute(reads);
  return rows;
}

/**
 * Newest first from GIN, one month first (the position's, or that of the tenant's newest call):
 * every document holds its month as a word (migration T1500), so GIN hands over that month's
 * matches alone, where the year has twelve times as many to sort (and, with another filter, to
 * look up in `calls`). A page that month leaves short takes the rest from before it.
 */
async function postgresKeysByMonth(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  after: PagePosition | undefined,
  limit: number,
): Promise<SearchKey[]> {
  const keys = (narrowing: RawBuilder<unknown>, count: number) =>
    postgresGinKeys(reads, tenantId, filter, search, 'desc', after, narrowing, count);
  const month =
    after === undefined
      ? (
          await sql<{ newest: string | null }>`SELECT max(started_at) AS newest FROM call_search
            WHERE tenant_id = ${tenantId}`.execute(reads)
        ).rows[0]?.newest
      : String(after.key);
  const first = month === null || month === undefined ? undefined : isoMonth(month);
  if (first === undefined) return keys(sql``, limit);
  // That month, the month before (a month just begun holds a few days), then all the rest.
  const found: SearchKey[] = [];
  let covered = first;
  for (let step = 0; ; step++) {
    const monthWord = `'#month:${covered}'`;
    found.push(...(await keys(sql`AND s.document @@ ${monthWord}::tsquery`, limit - found.length)));
    if (found.length >= limit) return found;
    if (step === 1) break;
    covered = monthBefore(covered);
  }
  // Every match of the months read, after the position, is in `found`: the rest started before.
  return [...found, ...(await keys(sql`AND s.started_at < ${covered}`, limit - found.length))];
}

/** The month before a 'YYYY-MM' month. */
function monthBefore(month: string): string {
  const date = new Date(`${month}-01T00:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() - 1);
  return date.toISOString().slice(0, 7);
}

/** A search newest or oldest first: the keys from call_search, then the page's calls. */
async function listPostgresSearch(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  options: ListPlanOptions & { sort: 'newest' | 'oldest' },
  walk: PostgresWalkSettings,
  attempt = 1,
): Promise<ListedCallRow[]> {
  const { sort, after, limit } = options;
  const keys = await postgresSearchKeys(
    reads,
    tenantId,
    filter,
    search,
    SORT_KEYS[sort].direction,
    after,
    limit,
    walk,
  );
  const rows = await rowsInOrder(reads, 'postgres', tenantId, keys, options);
  // A call deleted between the two reads would make the page short, which reads as the last.
  if (rows.length < keys.length && attempt < 3) {
    return listPostgresSearch(reads, tenantId, filter, search, options, walk, attempt + 1);
  }
  return rows;
}

/** The list's plans (see the repository's list), by the filter, the sort and the dialect. */
async function listPlan(
  reads: Reads,
  dialect: Dialect,
  searchPlans: SearchPlanSettings,
  tenantId: string,
  filter: CallFilter,
  options: ListPlanOptions,
): Promise<ListedCallRow[]> {
  const { sort, after, limit } = options;
  const columns = listColumns(dialect, options);
  if (dialect === 'sqlite' && filter.search !== undefined) {
    return listSqliteSearch(reads, tenantId, filter, filter.search, options, searchPlans);
  }
  // PostgreSQL: a search newest first (with any filters), or oldest first with none, reads
  // its keys from call_search; other filters join `calls` there.
  if (
    dialect === 'postgres' &&
    filter.search !== undefined &&
    (sort === 'newest' || (sort === 'oldest' && !hasFiltersBesidesSearch(filter)))
  ) {
    return listPostgresSearch(
      reads,
      tenantId,
      filter,
      filter.search,
      { ...options, sort },
      searchPlans.postgresWalk,
    );
  }

  const driver = facetDriver(filter);
  if (driver !== undefined && sort !== 'longest') {
    return listByFacet(reads, dialect, tenantId, driver, { ...options, sort }, columns);
  }

  const key = SORT_KEYS[sort];
  let query = reads
    .selectFrom('calls')
    .select(columns)
    .select(HAS_TRANSCRIPT.as('has_transcript'))
    .select(key.expression.as('sort_key'))
    .where((eb) => eb.and(filterConditions(eb, dialect, tenantId, filter, 'in')));
  if (after !== undefined) query = query.where(keysetAfter(key, sort, after));
  const rows = await query
    .orderBy(key.expression, key.direction)
    .orderBy('calls.id', key.direction)
    .limit(limit)
    .execute();
  return rows;
}

// ---- Relevance ---------------------------------------------------------------------------
//
// Ranking reads every candidate's words: for a word in 125k of a tenant's calls that is seconds
// on PostgreSQL and a quarter of a second in FTS5. So relevance ranks a window: the
// relevanceWindow most recent matches (by startedAt on PostgreSQL, by the order they were
// stored on SQLite), best first; the older matches follow, most recent first. A search with
// fewer matches ranks them all. The first page fixes where the window ends and the cursor
// carries it, so a walk neither skips nor repeats a call while new calls arrive (they land in
// the window, ranked).

/** Options of listByRelevance. */
export interface RelevanceOptions {
  /**
   * The previous page's last row; `tail` when it was past the window; `issuedAt`, when that
   * page was answered.
   */
  readonly after?:
    (PagePosition & { readonly tail: boolean; readonly issuedAt?: string | undefined }) | undefined;
  /** Where the window ends: undefined on a first page (it is found), null to rank every match. */
  readonly window: RecencyPosition | null | undefined;
  readonly limit: number;
  readonly withTranscript: boolean;
}

export interface RelevancePage {
  /** The page; `tail` rows are past the window (their sort_key is a recency key). */
  readonly rows: Array<ListedCallRow & { readonly tail: boolean }>;
  readonly window: RecencyPosition | null;
  /** The cursor's window now holds far more calls than a walk's would: no page was read. */
  readonly expired: boolean;
}

/** A window may grow to this many times relevanceWindow during a walk (arrivals) and no more. */
const RELEVANCE_RANK_CAP_FACTOR = 4;

interface RelevanceKey {
  readonly r?: number;
  readonly id: string;
  readonly sort_key: string | number;
}

/** One dialect's three questions of listByRelevance. */
interface RelevancePlan {
  /** The windowSize-th most recent match, or null when fewer match. */
  findWindow(windowSize: number): Promise<RecencyPosition | null>;
  /** The best of the matches in the window (all if null) after `after`, by score then id. */
  /**
   * The best of the matches in the window (all if null) after `after`, by score then id; only
   * the `cap` most recent are ranked, and `overflow` says there were more.
   */
  ranked(
    window: RecencyPosition | null,
    after: RelevanceOptions['after'],
    limit: number,
    cap: number,
  ): Promise<{ keys: RelevanceKey[]; overflow: boolean }>;
  /** The matches older than `before` in recency order. */
  older(before: RecencyPosition, limit: number): Promise<RelevanceKey[]>;
}

function postgresRelevance(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
  plans: SearchPlanSettings,
): RelevancePlan {
  const words = postgresWords(search);
  const walk = plans.postgresWalk;
  // Whether the window is among the tenant's newest `walk.relevance` calls, by the share of
  // its newest `walk.first` that match: then walking them costs less than GIN's matches, all of
  // them read and sorted (125k for a word in 60 % of a tenant's 200k calls: over 100 ms).
  let walks: Promise<boolean> | undefined;
  const walksToWindow = () =>
    (walks ??= (async () => {
      if (walk.first <= 0) return false;
      const { rows } = await sql<{ walked: string; matched: string }>`
        SELECT count(*) AS walked, count(*) FILTER (WHERE w.document @@ ${words}) AS matched
        FROM (SELECT document FROM call_search WHERE tenant_id = ${tenantId}
          ORDER BY started_at DESC, call_id DESC LIMIT ${walk.first}) w`.execute(reads);
      const walked = Number(rows[0]?.walked ?? 0);
      const matched = Number(rows[0]?.matched ?? 0);
      return matched > 0 && (plans.relevanceWindow * walked) / matched <= walk.relevance;
    })());
  return {
    async findWindow(windowSize) {
      if (await walksToWindow()) {
        const { rows } = await sql<{ key: string; id: string }>`
          SELECT w.started_at AS key, w.call_id AS id FROM (
            SELECT started_at, call_id, document FROM call_search WHERE tenant_id = ${tenantId}
            ORDER BY started_at DESC, call_id DESC LIMIT ${walk.relevance}) w
          WHERE w.document @@ ${words}
          ORDER BY w.started_at DESC, w.call_id DESC OFFSET ${windowSize - 1} LIMIT 1`.execute(
          reads,
        );
        // Not within the walk (the share was misjudged): GIN's answer below is exact.
        if (rows[0] !== undefined) return rows[0];
      }
      const { rows } = await sql<{ key: string; id: string }>`
        SELECT s.started_at AS key, s.call_id AS id FROM call_search s
        WHERE ${postgresMatches(tenantId, search)}
        ORDER BY s.started_at DESC, s.call_id DESC OFFSET ${windowSize - 1} LIMIT 1`.execute(reads);
      return rows[0] ?? null;
    },
    async ranked(window, after, limit, cap) {
      // With a window the walk reads the tenant's calls from the newest back to the window's
      // end; GIN is not asked. Otherwise GIN hands over every match, and the window is applied
      // to them: OFFSET 0 keeps each condition on its side, as the planner would otherwise
      // intersect GIN's matches with the window's calls from the btree (53k calls read for a
      // window of a word in 2 % of calls: 22 of the query's 30 ms) or, walking, ask GIN.
      const inWindow =
        window === null
          ? sql``
          : sql`AND (s.started_at, s.call_id) >= (${String(window.key)}, ${window.id})`;
      const recent =
        window !== null && (await walksToWindow())
          ? sql`FROM (SELECT call_id, started_at, document FROM call_search s
                WHERE s.tenant_id = ${tenantId} ${inWindow}
                ORDER BY s.started_at DESC, s.call_id DESC OFFSET 0) s
              WHERE s.document @@ ${words}
              ORDER BY s.started_at DESC, s.call_id DESC LIMIT ${cap + 1}`
          : sql`FROM (SELECT call_id, started_at, document FROM call_search s
                WHERE ${postgresMatches(tenantId, search)} OFFSET 0) s
              WHERE TRUE ${inWindow}
              ORDER BY s.started_at DESC, s.call_id DESC LIMIT ${cap + 1}`;
      const join = hasFiltersBesidesSearch(filter)
        ? sql`JOIN calls ON calls.id = ranked.call_id
            AND ${otherConditions('postgres', tenantId, filter)}`
        : sql``;
      const position =
        after === undefined
          ? sql``
          : sql`AND (ranked.score, ranked.call_id) < (CAST(${after.key} AS float8), ${after.id})`;
      const { rows } = await sql<{ id: string; sort_key: number; candidates: number | string }>`
        WITH ranked AS MATERIALIZED (
          SELECT s.call_id, ts_rank_cd(s.document, ${words}, 1)::float8 AS score
          ${recent}
        )
        SELECT ranked.call_id AS id, ranked.score AS sort_key,
          (SELECT count(*) FROM ranked) AS candidates
        FROM ranked ${join}
        WHERE TRUE ${position}
        ORDER BY ranked.score DESC, ranked.call_id DESC
        LIMIT ${limit}`.execute(reads);
      const candidates =
        rows[0]?.candidates ??
        (
          await sql<{ candidates: number | string }>`
          SELECT count(*) AS candidates FROM (SELECT 1 ${recent}) AS recent`.execute(reads)
        ).rows[0]?.candidates;
      return {
        keys: rows.map(({ id, sort_key }) => ({ id, sort_key: Number(sort_key) })),
        overflow: Number(candidates ?? 0) > cap,
      };
    },
    older(before, limit) {
      return postgresSearchKeys(reads, tenantId, filter, search, 'desc', before, limit, walk);
    },
  };
}

function sqliteRelevance(
  reads: Reads,
  tenantId: string,
  filter: CallFilter,
  search: readonly SearchTerm[],
): RelevancePlan {
  const match = toFts5Query(search, tenantToken(tenantId));
  // The tenant in SQL on every read of `calls` (the FTS5 query is scoped to it already); with a
  // unary +, so SQLite seeks the matched rowids rather than reading the tenant's index.
  const filtered = hasFiltersBesidesSearch(filter)
    ? sql`AND ${otherConditions('sqlite', tenantId, filter)}`
    : sql`AND +calls.tenant_id = ${tenantId}`;
  return {
    async findWindow(windowSize) {
      // FTS5 reads its matches in rowid order, newest stored first when asked: no sort.
      const { rows } = await sql<{ r: number; id: string | null }>`
        SELECT r, (SELECT id FROM calls WHERE rowid = r AND +tenant_id = ${tenantId}) AS id FROM (
          SELECT rowid AS r FROM calls_search WHERE calls_search MATCH ${match}
          ORDER BY rowid DESC LIMIT 1 OFFSET ${windowSize - 1})`.execute(reads);
      const row = rows[0];
      return row === undefined || row.id === null ? null : { key: Number(row.r), id: row.id };
    },
    async ranked(window, after, limit, cap) {
      const inWindow = window === null ? sql`` : sql`AND rowid >= ${Number(window.key)}`;
      const recent = sql`FROM calls_search WHERE calls_search MATCH ${match} ${inWindow}
        ORDER BY rowid DESC LIMIT ${cap + 1}`;
      // BM25 weighs words by statistics of the whole index, which every new call shifts, so a
      // score in a cursor goes stale: the walk continues from the last call's score as it is
      // now. Unless that call itself changed since the page began to be read (its words, so its
      // score, may have moved), is gone or no longer matches: then from the cursor's score.
      const position =
        after === undefined
          ? sql``
          : sql`AND (ranked.s, calls.id) < (coalesce(
              (SELECT ranked.s FROM ranked WHERE ranked.r =
                (SELECT rowid FROM calls WHERE tenant_id = ${tenantId} AND id = ${after.id}
                  AND updated_at < ${after.issuedAt ?? ''})),
              CAST(${after.key} AS DOUBLE PRECISION)), ${after.id})`;
      // CROSS JOIN: SQLite keeps the window's matches (materialised once) as the outer loop.
      const { rows } = await sql<{ r: number; sort_key: number; id: string; candidates: number }>`
        WITH ranked AS MATERIALIZED (SELECT rowid AS r, ${SQLITE_SCORE} AS s ${recent})
        SELECT ranked.r AS r, ranked.s AS sort_key, calls.id AS id,
          (SELECT count(*) FROM ranked) AS candidates
        FROM ranked CROSS JOIN calls
        WHERE calls.rowid = ranked.r ${filtered} ${position}
        ORDER BY ranked.s DESC, calls.id DESC
        LIMIT ${limit}`.execute(reads);
      const candidates =
        rows[0]?.candidates ??
        (
          await sql<{ candidates: number }>`
          SELECT count(*) AS candidates FROM (SELECT 1 ${recent})`.execute(reads)
        ).rows[0]?.candidates;
      return {
        keys: rows.map(({ r, sort_key, id }) => ({ r, sort_key, id })),
        overflow: Number(candidates ?? 0) > cap,
      };
    },
    async older(before, limit) {
      const { rows } = await sql<{ r: number; sort_key: number; id: string }>`
        SELECT calls_search.rowid AS r, calls_search.rowid AS sort_key, calls.id AS id
        FROM calls_search CROSS JOIN calls
        WHERE calls_search MATCH ${match} AND calls_search.rowid < ${Number(before.key)}
          AND calls.rowid = calls_search.rowid ${filtered}
        ORDER BY calls_search.rowid DESC
        LIMIT ${limit}`.execute(reads);
      return rows;
    },
  };
}

/** SQLite: the last note number `calls_search_pending` has handed out (AUTOINCREMENT's). */
const NOTES_NUMBERED_THROUGH = sql<number>`coalesce((SELECT seq FROM main.sqlite_sequence
  WHERE name = 'calls_search_pending'), 0)`;

/**
 * SQLite, over the search file's `search_index_state` row: true when the index was made from
 * another database (its token is not this one's), or from this one later than it is now (a
 * database restored from a backup beside its index: the index has done notes this database has
 * not numbered yet, and would skip them). Such an index is emptied and filled again.
 */
const SEARCH_FILE_MADE_ELSEWHERE = sql<number>`(
  search_index_state.token IS NOT (SELECT token FROM search_index_identity)
  OR search_index_state.indexed_up_to > ${NOTES_NUMBERED_THROUGH})`;

/**
 * SQLite: replaces what the search file holds for the calls whose rowids `rowids` selects with
 * their documents now (a deleted call's words just leave). In rowid order: FTS5 starts a new
 * segment whenever a rowid comes before the last one written.
 */
async function reindexInSearchFile(db: Reads, rowids: RawBuilder<unknown>): Promise<void> {
  await sql`DELETE FROM search.calls_search WHERE rowid IN (${rowids})`.execute(db);
  await sql`
    INSERT INTO search.calls_search
      (rowid, tenant, caller_name, topics, summary, collected, transcript)
    SELECT call_rowid, tenant, caller_name, topics, summary, collected, transcript
    FROM calls_search_documents WHERE call_rowid IN (${rowids})
    ORDER BY call_rowid`.execute(db);
}

async function listByRelevance(
  reads: Reads,
  dialect: Dialect,
  tenantId: string,
  filter: CallFilter,
  options: RelevanceOptions,
  plans: SearchPlanSettings,
  attempt = 1,
): Promise<RelevancePage> {
  const search = filter.search;
  if (search === undefined) throw new Error('relevance needs search terms');
  const windowSize = plans.relevanceWindow;
  const plan =
    dialect === 'postgres'
      ? postgresRelevance(reads, tenantId, filter, search, plans)
      : sqliteRelevance(reads, tenantId, filter, search);
  const { after, limit } = options;
  const window = options.window !== undefined ? options.window : await plan.findWindow(windowSize);
  // A walk's window holds windowSize calls plus those that arrive during the walk. Far more
  // means a cursor from long ago, or forged: ranking them all would cost seconds (every
  // candidate's words are read), so the cursor is refused instead (`expired`).
  const cap = RELEVANCE_RANK_CAP_FACTOR * windowSize;
  const rankedPage =
    after?.tail === true
      ? { keys: [], overflow: false }
      : await plan.ranked(window, after, limit, cap);
  if (rankedPage.overflow) return { rows: [], window, expired: true };
  const ranked = rankedPage.keys;
  const older =
    ranked.length < limit && window !== null
      ? await plan.older(after?.tail === true ? after : window, limit - ranked.length)
      : [];
  const keys = [
    ...ranked.map((key) => ({ ...key, tail: false })),
    ...older.map((key) => ({ ...key, tail: true })),
  ];
  const rows = await rowsInOrder(reads, dialect, tenantId, keys, options);
  if (rows.length < keys.length && attempt < 3) {
    // A call deleted between the reads: a short page would read as the last one.
    return listByRelevance(reads, dialect, tenantId, filter, options, plans, attempt + 1);
  }
  const tailOf = new Map(keys.map((key) => [key.id, key.tail]));
  return {
    rows: rows.map((row) => ({ ...row, tail: tailOf.get(row.id) === true })),
    window,
    expired: false,
  };
}

/**
 * The one-valued topic or collectedData condition to read the page from, if any. Several topics
 * (any of them) would need a merge of their index ranges; those, and values longer than the
 * facets keep, take the walk.
 */
function facetDriver(filter: CallFilter): FacetDriver | undefined {
  if (filter.search !== undefined) return undefined;
  const fits = (value: string) => [...value].length <= FACET_VALUE_MAX;
  const [topic, ...otherTopics] = filter.topics ?? [];
  if (topic !== undefined && otherTopics.length === 0 && fits(topic)) {
    return { facet: 'topic', value: topic, rest: { ...filter, topics: undefined } };
  }
  const data = filter.collectedData ?? [];
  const index = data.findIndex(({ value }) => fits(value));
  if (index < 0) return undefined;
  const others = data.filter((_, i) => i !== index);
  return {
    facet: `data.${data[index]!.key}`,
    value: data[index]!.value,
    rest: { ...filter, collectedData: others.length > 0 ? others : undefined },
  };
}

/** The facet's rows (`f`) joined to their calls, and the rest of the filter on those. */
function facetConditions(
  eb: ExpressionBuilder<Database, 'calls'>,
  dialect: Dialect,
  tenantId: string,
  driver: FacetDriver,
): Expression<SqlBool>[] {
  return [
    sql<SqlBool>`f.tenant_id = ${tenantId}`,
    sql<SqlBool>`f.facet = ${driver.facet}`,
    sql<SqlBool>`f.value = ${driver.value}`,
    sql<SqlBool>`calls.id = f.call_id`,
    ...filterConditions(eb, dialect, tenantId, driver.rest, 'in'),
  ];
}

/**
 * newest/oldest from the facet index. On SQLite the CROSS JOIN keeps the facets as the outer
 * loop: the planner could otherwise walk the calls and look each one up in the facets, which
 * is the slow plan again.
 */
async function listByFacet(
  reads: Reads,
  dialect: Dialect,
  tenantId: string,
  driver: FacetDriver,
  { sort, after, limit }: ListPlanOptions & { sort: 'newest' | 'oldest' },
  columns: ReturnType<typeof listColumns>,
): Promise<ListedCallRow[]> {
  const direction = sort === 'newest' ? 'desc' : 'asc';
  let query = reads
    .selectFrom('call_facets as f')
    .crossJoin('calls')
    .select(columns)
    .select(HAS_TRANSCRIPT.as('has_transcript'))
    .select(sql<string>`f.started_at`.as('sort_key'))
    .where((eb) =>
      eb.and(
        facetConditions(
          eb as unknown as ExpressionBuilder<Database, 'calls'>,
          dialect,
          tenantId,
          driver,
        ),
      ),
    );
  if (after !== undefined) {
    query = query.where(
      direction === 'desc'
        ? sql<SqlBool>`(f.started_at, f.call_id) < (${after.key}, ${after.id})`
        : sql<SqlBool>`(f.started_at, f.call_id) > (${after.key}, ${after.id})`,
    );
  }
  return query
    .orderBy('f.started_at', direction)
    .orderBy('f.call_id', direction)
    .limit(limit)
    .execute();
}

function keysetAfter(
  key: { expression: RawBuilder<string | number>; direction: 'asc' | 'desc' },
  sort: CallSort,
  after: PagePosition,
): RawBuilder<SqlBool> {
  const bound =
    sort === 'longest' || sort === 'relevance'
      ? sql`CAST(${after.key} AS DOUBLE PRECISION)`
      : sql`${after.key}`;
  return key.direction === 'desc'
    ? sql<SqlBool>`(${key.expression}, calls.id) < (${bound}, ${after.id})`
    : sql<SqlBool>`(${key.expression}, calls.id) > (${bound}, ${after.id})`;
}

/**
 * How the search takes part: `in` (the tenant's matches as a set, or PostgreSQL's @@) or
 * `joined` (the matches drive the query already).
 */
type SearchMode = 'in' | 'joined';

/** The WHERE conditions of `filter`, always scoped to the tenant. */
function filterConditions(
  eb: ExpressionBuilder<Database, 'calls'>,
  dialect: Dialect,
  tenantId: string,
  filter: CallFilter,
  searchMode: SearchMode,
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
  // On SQLite `+duration` keeps the planner off calls_tenant_duration_started_idx (there for the
  // stats' percentile walk): it would read every call in the duration range and sort them, 90 ms
  // for minDuration=600 at 200k calls, where walking the tenant's calls newest first takes 1 ms.
  const duration =
    dialect === 'sqlite' ? sql<number>`+calls.duration` : sql<number>`calls.duration`;
  if (filter.minDuration !== undefined) {
    conditions.push(eb(duration, '>=', filter.minDuration));
  }
  if (filter.maxDuration !== undefined) {
    conditions.push(eb(duration, '<=', filter.maxDuration));
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
      // Scalars only, as call_facets keeps them: an object or array is not a value to match.
      dialect === 'postgres'
        ? sql<SqlBool>`(CASE WHEN jsonb_typeof(calls.collected_data::jsonb -> ${key})
            IN ('string', 'number', 'boolean')
            THEN calls.collected_data::jsonb ->> ${key} END) = ${value}`
        : sql<SqlBool>`(CASE json_type(calls.collected_data, ${path})
            WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
            WHEN 'text' THEN json_extract(calls.collected_data, ${path})
            WHEN 'integer' THEN CAST(json_extract(calls.collected_data, ${path}) AS TEXT)
            WHEN 'real' THEN CAST(json_extract(calls.collected_data, ${path}) AS TEXT) END) = ${value}`,
    );
  }
  if (filter.search !== undefined && searchMode !== 'joined') {
    if (dialect === 'postgres') {
      conditions.push(
        sql<SqlBool>`calls.id IN (SELECT s.call_id FROM call_search s
          WHERE ${postgresMatches(tenantId, filter.search)})`,
      );
    } else {
      conditions.push(
        sql<SqlBool>`calls.rowid IN (SELECT rowid FROM calls_search WHERE calls_search MATCH ${toFts5Query(
          filter.search,
          tenantToken(tenantId),
        )})`,
      );
    }
  }
  return conditions;
}
