// The export's reads through COPY (src/db/pg-copy.ts) against a real PostgreSQL: values arrive as
// the bytes a query would have given as text, failures reject without spoiling the pool, and the
// repository's literals keep a page inside its tenant whatever the tenant's id holds.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { createCallRepository, type CallKey } from '../../src/modules/calls/calls.repository.js';
import { newCallRow } from '../factories.js';
import { startTcpProxy } from '../setup/tcp-proxy.js';
import { createTestPostgresDatabase, TEST_DIALECTS } from '../setup/test-app.js';

describe.runIf(TEST_DIALECTS.includes('postgres'))('rows through COPY on PostgreSQL', () => {
  let database: { url: string; drop: () => Promise<void> };
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestPostgresDatabase({ empty: true });
    handle = openDatabase(
      loadConfig({
        DATABASE_URL: database.url,
        LOG_LEVEL: 'silent',
        // One connection: a COPY that left it unusable would fail the next query.
        DATABASE_POOL_MAX: '1',
        DATABASE_STATEMENT_TIMEOUT_MS: '1500',
      }),
    );
    await migrateToLatest(handle.db, handle.dialect);
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });

  const copyRows = (selectSql: string) => handle.copyRows!(selectSql);
  const backendPid = async () =>
    (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(handle.db)).rows[0]!.pid;

  it('gives each value the bytes of its text, NULL as null, a double as its 8 bytes', async () => {
    const text = `é "quoted" \\ back'slash ☎ 😀\r\nline\ttab`;
    const rows = await copyRows(
      `SELECT ${[
        `'${text.replaceAll("'", "''")}'::text`,
        `NULL::text`,
        `''::text`,
        `12.345678901234567::float8`,
      ].join(', ')}`,
    );
    expect(rows).toHaveLength(1);
    const [value, none, empty, double] = rows[0]!;
    expect(value).toEqual(Buffer.from(text));
    expect(none).toBeNull();
    expect(empty).toEqual(Buffer.alloc(0));
    expect(double!.readDoubleBE(0)).toBe(12.345678901234567);
  });

  it('reads many rows and long values across many reads of the socket', async () => {
    // 2,000 rows of 3 kB, and one of 4 MB: far more than one read's 64 kB.
    const rows = await copyRows(
      `SELECT g, repeat(chr(9742) || g::text, 1000) FROM generate_series(1, 2000) AS g
       UNION ALL SELECT 0, repeat('x', 4 * 1024 * 1024) ORDER BY 1`,
    );
    expect(rows).toHaveLength(2001);
    expect(rows[0]![1]!.length).toBe(4 * 1024 * 1024);
    for (const row of rows.slice(1)) {
      const n = row[0]!.readInt32BE(0);
      expect(row[1]!.toString('utf8')).toBe(`☎${n}`.repeat(1000));
    }
  });

  it('rejects with the server’s error; the connection serves on, unless the error was its own', async () => {
    const pid = await backendPid();
    await expect(copyRows('SELECT no_such_column')).rejects.toMatchObject({ code: '42703' });
    expect(await copyRows('SELECT 1::int4')).toEqual([[Buffer.from([0, 0, 0, 1])]]);
    expect(await backendPid()).toBe(pid);
    // Cancelled by the statement timeout (1.5 s here): a 503's kind of error, after which the
    // connection is replaced, as after any query's (see destroyingBrokenClients).
    await expect(copyRows('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
    expect(await copyRows('SELECT 2::int4')).toEqual([[Buffer.from([0, 0, 0, 2])]]);
    expect(await backendPid()).not.toBe(pid);
  });

  it('gives up on a COPY whose connection went silent (a frozen host), and replaces it', async () => {
    const target = new URL(database.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    const proxied = openDatabase(
      loadConfig({
        DATABASE_URL: target.toString(),
        LOG_LEVEL: 'silent',
        DATABASE_POOL_MAX: '1',
        DATABASE_STATEMENT_TIMEOUT_MS: '500',
      }),
    );
    try {
      const pid = async () =>
        (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(proxied.db)).rows[0]!
          .pid;
      const before = await pid();
      proxy.freeze();
      const started = Date.now();
      // The server never hears of it, so only the client's deadline (the statement timeout
      // and a second) ends it.
      await expect(proxied.copyRows!('SELECT 1::int4')).rejects.toThrow(/Query read timeout/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500 - 50);
      await proxy.restore();
      expect(await proxied.copyRows!('SELECT 2::int4')).toEqual([[Buffer.from([0, 0, 0, 2])]]);
      expect(await pid()).not.toBe(before);
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });

  it('keeps a page inside its tenant, whatever quotes and backslashes the tenant holds', async () => {
    const calls = createCallRepository(handle.db, 'postgres', handle.db, undefined, copyRows);
    const byRows = createCallRepository(handle.db, 'postgres');
    const tenant = `tenant_o'brien\\`;
    const other = 'tenant_other';
    const mine = newCallRow(tenant, {
      status: 'completed',
      duration: 0.1 + 0.2,
      transcript: `Caller: it's "fine" \\ ☎\nAgent: =SUM(A1)`,
      summary: 'a, b',
      topics: '["billing","refund"]',
      cost_micros: 1_234_567,
    });
    const theirs = newCallRow(other);
    await calls.insertIfAbsent(mine);
    await calls.insertIfAbsent(theirs);
    const keys: CallKey[] = [
      { id: theirs.id, sort_key: '' },
      { id: 'call_missing', sort_key: '' },
      { id: mine.id, sort_key: '' },
    ];

    const ndjson = await calls.ndjsonOf(tenant, keys);
    expect(ndjson.map((row) => row.id)).toEqual([mine.id]);
    // The same bytes as the rows a query gives, which the export's tests compare with GET.
    const expectedLines = await byRows.ndjsonOf(tenant, keys);
    expect(ndjson.map((row) => Buffer.from(row.line).toString('utf8'))).toEqual(
      expectedLines.map((row) => row.line),
    );
    const csv = await calls.csvOf(tenant, keys);
    const expectedCsv = await byRows.csvOf(tenant, keys);
    expect(
      csv.map((row) => ({
        id: row.id,
        line: Buffer.from(row.line).toString('utf8'),
        duration: row.duration,
        line_end: Buffer.from(row.line_end).toString('utf8'),
      })),
    ).toEqual(
      expectedCsv.map(({ id, line, duration, line_end }) => ({ id, line, duration, line_end })),
    );
    expect(csv[0]!.duration).toBe(0.1 + 0.2);

    // Ids that would widen the page if they were spliced into the SQL unquoted.
    const hostile = [
      `x' OR calls.tenant_id = '${other}`,
      `x\\' OR true --`,
      `'); DROP TABLE calls; --`,
    ];
    for (const id of hostile) {
      expect(await calls.ndjsonOf(tenant, [{ id, sort_key: '' }])).toEqual([]);
      expect(await calls.ndjsonOf(id, [{ id: theirs.id, sort_key: '' }])).toEqual([]);
    }
    expect((await calls.ndjsonOf(other, keys)).map((row) => row.id)).toEqual([theirs.id]);
  });
});
