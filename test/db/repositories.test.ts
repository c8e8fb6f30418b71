// The repositories on both dialects: the SQL they send (snapshotted per dialect, so a change to
// a query that matters is seen in review) and what they do on a real database.
import {
  CompiledQuery,
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/db/database.js';
import type { Database } from '../../src/db/types.js';
import { encodeCallCursor, decodeCallCursor } from '../../src/lib/cursor.js';
import { newCallId } from '../../src/lib/ids.js';
import { createApiKeyRepository } from '../../src/modules/api-keys/api-keys.repository.js';
import {
  createCallRepository,
  DEFAULT_SEARCH_PLANS,
} from '../../src/modules/calls/calls.repository.js';
import { newCallRow, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

function recordingKysely(dialect: Dialect, queries: string[]): Kysely<Database> {
  const sqlite = dialect === 'sqlite';
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => (sqlite ? new SqliteAdapter() : new PostgresAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) =>
        sqlite ? new SqliteIntrospector(db) : new PostgresIntrospector(db),
      createQueryCompiler: () => (sqlite ? new SqliteQueryCompiler() : new PostgresQueryCompiler()),
    },
    log: (event) => {
      if (event.level === 'query') queries.push(event.query.sql);
    },
  });
}

describe.each(['sqlite', 'postgres'] as const)('the SQL the hot paths send (%s)', (dialect) => {
  it('matches the reviewed snapshot', async () => {
    const queries: string[] = [];
    const db = recordingKysely(dialect, queries);
    // PostgreSQL's export pages are read through COPY (src/db/pg-copy.ts), whose SELECT is
    // recorded here as sent.
    const calls = createCallRepository(db, dialect, db, DEFAULT_SEARCH_PLANS, (selectSql) => {
      queries.push(`COPY (${selectSql}) TO STDOUT (FORMAT binary)`);
      return Promise.resolve([]);
    });
    const keys = createApiKeyRepository(db);
    await calls.insertIfAbsent(newCallRow('t'));
    await calls.getBySidForUpdate('t', 'CA-1');
    await calls.getByIdForUpdate('t', 'call_1');
    await calls.update('t', 'call_1', { status: 'completed', updated_at: 'x' });
    const newest = decodeCallCursor(
      encodeCallCursor({ sort: 'newest', key: '2025-01-01T00:00:00.000Z', id: 'call_1' }),
      'newest',
    );
    await calls.list(
      't',
      { agentIds: ['agent_1'], statuses: ['completed'] },
      { sort: 'newest', after: newest, limit: 51, withTranscript: false },
    );
    // Every filter at once, a search, and the two sorts with numeric keys.
    const everything = {
      agentIds: ['a', 'b'],
      statuses: ['completed'],
      directions: ['inbound'],
      sentiments: ['positive', 'neutral'],
      endReasons: ['caller_hangup'],
      topics: ['billing'],
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-02-01T00:00:00.000Z',
      minDuration: 1,
      maxDuration: 600,
      minCostMicros: 10,
      maxCostMicros: 1000,
      callerNumber: '+15550001',
      hasRecording: true,
      hasTranscript: false,
      collectedData: [{ key: 'plan', value: 'pro' }],
      search: [{ words: ['refund'], prefix: false }],
    };
    await calls.list('t', everything, {
      sort: 'longest',
      after: { key: 12.5, id: 'call_1' },
      limit: 51,
      withTranscript: true,
    });
    await calls.listByRelevance('t', everything, {
      after: { key: 0.5, id: 'call_1', tail: false },
      window: newest,
      limit: 51,
      withTranscript: true,
    });
    await calls.count('t', everything);
    // One topic: the page is read from the facet index.
    const oneTopic = { topics: ['billing'], statuses: ['completed'] };
    await calls.list('t', oneTopic, {
      sort: 'oldest',
      after: newest,
      limit: 51,
      withTranscript: false,
    });
    await calls.count('t', { collectedData: [{ key: 'plan', value: 'pro' }] });
    await calls.listEvents('t', 'call_1', { afterId: 10, limit: 201 });
    await keys.findActiveByHash('0'.repeat(64));
    // An export's page (the CSV's reads the same way, its row's SQL in place of the record's).
    await calls.ndjsonOf('t', [
      { id: 'call_1', sort_key: '' },
      { id: 'call_2', sort_key: '' },
    ]);
    expect(queries).toMatchSnapshot();
  });
});

describe.each(TEST_DIALECTS)('call repository on a real database (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  it.runIf(dialect === 'sqlite')(
    'a duration filter walks the tenant newest first, not the percentile index',
    async () => {
      // Not a timing: the plan, which SQLite picks without statistics, so the same on any data.
      // Through calls_tenant_duration_started_idx a page would read and sort every call in the
      // duration range (90 ms for minDuration=600 at 200k calls, against 1 ms).
      const compiled: CompiledQuery[] = [];
      const recorder = new Kysely<Database>({
        dialect: {
          createAdapter: () => new SqliteAdapter(),
          createDriver: () => new DummyDriver(),
          createIntrospector: (db) => new SqliteIntrospector(db),
          createQueryCompiler: () => new SqliteQueryCompiler(),
        },
        log: (event) => {
          if (event.level === 'query') compiled.push(event.query);
        },
      });
      await createCallRepository(recorder, 'sqlite').list(
        'tenant_plan',
        { minDuration: 600, maxDuration: 900 },
        { sort: 'newest', limit: 51, withTranscript: false },
      );
      const [query] = compiled;
      const plan = await t.database.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`EXPLAIN QUERY PLAN ${query!.sql}`, [...query!.parameters]),
      );
      const details = plan.rows.map((row) => row.detail).join('\n');
      expect(details).toContain('calls_tenant_started_idx');
      expect(details).not.toContain('calls_tenant_duration_started_idx');
    },
  );

  it.runIf(dialect === 'sqlite')(
    "a search page reads its calls by rowid, not off the tenant's index",
    async () => {
      // The keys come first (FTS5, or a walk); then the page's calls by rowid, a handful of
      // seeks. With the tenant's index instead it read all of a 200k-call tenant (25 ms).
      const tenant = uniqueId('tenant_rows_');
      const compiled: CompiledQuery[] = [];
      const db = t.database.db;
      const recording = db.withPlugin({
        transformQuery: ({ node, queryId }) => {
          compiled.push(db.getExecutor().compileQuery(node, queryId));
          return node;
        },
        transformResult: ({ result }) => Promise.resolve(result),
      });
      // A word counts as common from one call on: the walk in chunks, then rowsInOrder.
      const calls = createCallRepository(recording, 'sqlite', recording, {
        ...DEFAULT_SEARCH_PLANS,
        commonMatches: 1,
      });
      // A full page: with a long IN list SQLite would rather take the tenant's index.
      for (let i = 0; i < 60; i++) {
        await calls.insertIfAbsent(newCallRow(tenant, { transcript: 'Agent: zanzibar' }));
      }
      await db.transaction().execute((trx) => calls.inTransaction(trx).indexPendingSearch(100));
      const search = [{ words: ['zanzibar'], prefix: false }];
      const page = await calls.list(
        tenant,
        { search },
        { sort: 'newest', limit: 51, withTranscript: false },
      );
      expect(page).toHaveLength(51);
      const rowsQuery = compiled.find((query) => query.sql.includes('calls.rowid IN ('));
      const plan = await db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`EXPLAIN QUERY PLAN ${rowsQuery!.sql}`, [...rowsQuery!.parameters]),
      );
      const details = plan.rows.map((row) => row.detail).join('\n');
      expect(details).toContain('INTEGER PRIMARY KEY');
      expect(details).not.toMatch(/INDEX calls_tenant/);
    },
  );

  it.runIf(dialect === 'postgres')(
    'connections start no parallel workers unless configured to',
    async () => {
      // A page or a search reads a few dozen rows; starting workers took 40 ms of a 45 ms search.
      const { rows } = await sql<{
        max_parallel_workers_per_gather: string;
      }>`SHOW max_parallel_workers_per_gather`.execute(t.database.db);
      expect(rows[0]?.max_parallel_workers_per_gather).toBe('0');
    },
  );

  it('insertIfAbsent inserts once per (tenant, callSid) and answers undefined on a conflict', async () => {
    const calls = createCallRepository(t.database.db, dialect);
    const row = newCallRow('tenant_a');
    expect(await calls.insertIfAbsent(row)).toMatchObject({ id: row.id });
    expect(await calls.insertIfAbsent({ ...row, id: newCallId() })).toBeUndefined();
    // The same callSid in another tenant is another call.
    expect(
      await calls.insertIfAbsent({ ...row, id: newCallId(), tenant_id: 'tenant_b' }),
    ).toBeDefined();
  });

  it('every read is scoped to the tenant', async () => {
    const calls = createCallRepository(t.database.db, dialect);
    const row = newCallRow('tenant_c');
    await calls.insertIfAbsent(row);
    expect(await calls.get('tenant_c', row.id)).toBeDefined();
    expect(await calls.get('tenant_d', row.id)).toBeUndefined();
    expect(await calls.getBySid('tenant_d', row.call_sid)).toBeUndefined();
    expect(await calls.delete('tenant_d', row.id)).toBe(false);
    expect(
      await calls.list('tenant_d', {}, { sort: 'newest', limit: 10, withTranscript: false }),
    ).toEqual([]);
    expect(await calls.get('tenant_c', row.id)).toBeDefined();
  });

  it('list walks (startedAt, id) strictly downward', async () => {
    const calls = createCallRepository(t.database.db, dialect);
    const tenant = uniqueId('tenant_');
    const startedAt = '2025-01-01T00:00:00.000Z';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const row = newCallRow(tenant, { started_at: startedAt });
      ids.push(row.id);
      await calls.insertIfAbsent(row);
    }
    ids.sort().reverse();
    const firstTwo = await calls.list(
      tenant,
      {},
      {
        sort: 'newest',
        limit: 2,
        withTranscript: false,
      },
    );
    expect(firstTwo.map((r) => r.id)).toEqual(ids.slice(0, 2));
    const rest = await calls.list(
      tenant,
      {},
      {
        sort: 'newest',
        limit: 10,
        after: { key: startedAt, id: firstTwo[1]!.id },
        withTranscript: false,
      },
    );
    expect(rest.map((r) => r.id)).toEqual(ids.slice(2));
  });
});
