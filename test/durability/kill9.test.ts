// Jepsen-style: every acknowledged write survives kill -9, on both dialects.
//
// The real server runs as a child process with its default settings: on a real SQLite file (group
// commit, synchronous=FULL), or on PostgreSQL. Concurrent clients create calls and complete them; at a random moment
// the server is SIGKILLed mid-load. A write that got a 2xx is acknowledged and must be there after
// a restart on the same file; a write that got no answer is indeterminate (present or not, but
// whole: never half-applied, never duplicated). The rounds (KILL9_ROUNDS: 3 in npm test, 10 in
// npm run test:reliability) share one database, so later crashes must not lose what earlier
// rounds had acknowledged either. At the end the database itself is checked, with no server:
// SQLite's integrity_check, or PostgreSQL's amcheck over every B-tree index.
//
// SIGKILL ends the process, not the machine: the OS page cache survives, so this proves that the
// server answers only after COMMIT (and that recovery from a torn WAL is clean), not that fsync
// reaches the disk. The synchronous level itself is checked in pragmas.test.ts.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchFileOf } from '../../src/db/sqlite-search-file.js';
import { sendRequest } from '../setup/http-request.js';
import { spawnServer, type ServerProcess } from '../setup/server-process.js';
import { createTestPostgresDatabase, TEST_DIALECTS, type TestDialect } from '../setup/test-app.js';

const ROUNDS = Number(process.env.KILL9_ROUNDS ?? 3);
/**
 * What a round may take: a start from source, load until the kill, a restart and the checks.
 * About 5 s on an idle machine; 10 rounds beside the other reliability tests took over the
 * suite's 60 s default (2026-12-05), so the test's limit grows with its rounds.
 */
const ROUND_BUDGET_MS = 20_000;
const CONCURRENCY = 24;
/** Upper bound on requests (creates + completions) per round, whatever the kill delay. */
const MAX_REQUESTS_PER_ROUND = 20_000;
const KILL_AFTER_MIN_MS = 300;
const KILL_AFTER_MAX_MS = 1500;
const REQUEST_TIMEOUT_MS = 10_000;
const VERIFY_CONCURRENCY = 16;
const FIRST_ACK_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface AckedCreate {
  readonly id: string;
  readonly callSid: string;
}

interface CompletionData {
  readonly summary: string;
  readonly key: string;
  readonly value: string;
}

interface AckedCompletion extends AckedCreate, CompletionData {}

interface RoundLog {
  readonly round: number;
  readonly killAfterMs: number;
  requests: number;
  /** Every callSid a create was sent for, answered or not. */
  readonly attemptedCallSids: string[];
  readonly ackedCreates: AckedCreate[];
  readonly ackedCompletions: AckedCompletion[];
  /** Creates sent that got no answer because of the kill: the body, to retry it later. */
  readonly indeterminateCreates: Array<Record<string, unknown>>;
  /** Completions sent that got no answer; their create was acknowledged. */
  readonly indeterminateCompletions: Array<AckedCreate & CompletionData>;
  /** Definite answers that were not the expected 2xx, and failures before the kill. */
  readonly anomalies: string[];
}

const runId = randomUUID().slice(0, 8);
const agentIds = Array.from({ length: 4 }, (_, i) => `agent_k9_${runId}_${i}`);
const transcriptFiller = 'Caller: I would like to check my order status, please. '.repeat(8);

function createBody(callSid: string, loop: number): Record<string, unknown> {
  return {
    agentId: agentIds[loop % agentIds.length],
    callSid,
    direction: 'inbound',
    callerNumber: `+1555${String(loop).padStart(7, '0')}`,
    callerName: 'Kill Nine',
    status: 'in-progress',
  };
}

function completionData(callSid: string): CompletionData {
  return {
    summary: `summary of ${callSid}: order checked, caller satisfied`,
    key: `k9_${callSid.replace(/[^A-Za-z0-9]/g, '_')}`,
    value: `value-${callSid}`,
  };
}

function completionBody(data: CompletionData): Record<string, unknown> {
  return {
    status: 'completed',
    duration: 61,
    transcript: `Agent: Hello.\n${transcriptFiller}`,
    summary: data.summary,
    topics: ['orders'],
    sentiment: 'positive',
    collectedData: { [data.key]: data.value },
    cost: 0.07,
  };
}

interface JsonAnswer {
  readonly status: number;
  readonly body: any;
}

/** node:http with keep-alive rather than fetch: about twice the load from the same CPU. */
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

async function request(
  baseUrl: string,
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  body?: unknown,
): Promise<JsonAnswer> {
  const answer = await sendRequest(agent, baseUrl, method, url, body, REQUEST_TIMEOUT_MS);
  // A response cut off by the kill is no answer at all.
  if (!answer.complete) throw new Error('connection closed mid-response');
  return { status: answer.status, body: answer.text === '' ? null : JSON.parse(answer.text) };
}

/** Runs fn over items with at most `limit` in flight. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next]!;
      next += 1;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/** Drives create → complete loops until the kill, then SIGKILLs the server. */
async function loadAndKill(server: ServerProcess, log: RoundLog): Promise<void> {
  let killed = false;
  let flowing = () => {};
  const loadIsFlowing = new Promise<void>((resolve) => (flowing = resolve));
  const worker = async (loop: number) => {
    for (let n = 0; !killed && log.requests < MAX_REQUESTS_PER_ROUND; n += 1) {
      const callSid = `CA-k9-${runId}-r${log.round}-l${loop}-n${n}`;
      const body = createBody(callSid, loop);
      log.attemptedCallSids.push(callSid);
      log.requests += 1;
      let created: JsonAnswer;
      try {
        created = await request(server.baseUrl, 'POST', '/api/call-history', body);
      } catch (error) {
        log.indeterminateCreates.push(body);
        if (!killed)
          log.anomalies.push(`create ${callSid} failed before the kill: ${String(error)}`);
        return;
      }
      if (created.status !== 201 || created.body?.callSid !== callSid) {
        log.anomalies.push(`create ${callSid} answered ${created.status}`);
        continue;
      }
      const id = String(created.body.id);
      log.ackedCreates.push({ id, callSid });
      if (killed || log.requests >= MAX_REQUESTS_PER_ROUND) return;

      const data = completionData(callSid);
      log.requests += 1;
      let completed: JsonAnswer;
      try {
        completed = await request(
          server.baseUrl,
          'PATCH',
          `/api/call-history/${id}/status`,
          completionBody(data),
        );
      } catch (error) {
        log.indeterminateCompletions.push({ id, callSid, ...data });
        if (!killed) log.anomalies.push(`complete ${id} failed before the kill: ${String(error)}`);
        return;
      }
      if (completed.status !== 200 || completed.body?.status !== 'completed') {
        log.anomalies.push(`complete ${id} answered ${completed.status}`);
        continue;
      }
      log.ackedCompletions.push({ id, callSid, ...data });
      flowing();
    }
  };

  const workers = Array.from({ length: CONCURRENCY }, (_, loop) => worker(loop));
  // The delay counts from the first acknowledged completion, so a slow start (a cold JIT, a busy
  // CI machine) cannot leave a round with nothing acknowledged to check.
  await Promise.race([loadIsFlowing, sleep(FIRST_ACK_TIMEOUT_MS)]);
  await sleep(log.killAfterMs);
  killed = true; // before the signal: every failure from here on is the kill's doing
  const exit = await server.kill();
  expect(exit.signal).toBe('SIGKILL');
  await Promise.all(workers);
}

/** After a restart: everything acknowledged is there, everything indeterminate is whole. */
async function verifyRound(server: ServerProcess, log: RoundLog): Promise<void> {
  const problems: string[] = [];
  const completions = new Map(log.ackedCompletions.map((c) => [c.id, c]));

  await forEachLimited(log.ackedCreates, VERIFY_CONCURRENCY, async ({ id, callSid }) => {
    const byId = await request(server.baseUrl, 'GET', `/api/call-history/${id}`);
    if (byId.status !== 200 || byId.body.callSid !== callSid) {
      problems.push(`acknowledged create ${id} (${callSid}): GET answered ${byId.status}`);
      return;
    }
    const bySid = await request(server.baseUrl, 'GET', `/api/call-history/by-sid/${callSid}`);
    if (bySid.status !== 200 || bySid.body.id !== id) {
      problems.push(`acknowledged create ${callSid}: by-sid answered ${bySid.status}`);
    }
    const completion = completions.get(id);
    if (completion !== undefined) {
      const call = byId.body;
      if (
        call.status !== 'completed' ||
        call.summary !== completion.summary ||
        call.collectedData?.[completion.key] !== completion.value
      ) {
        problems.push(`acknowledged completion of ${id} lost: ${JSON.stringify(call)}`);
      }
    }
  });

  // A completion that got no answer is all or nothing.
  await forEachLimited(log.indeterminateCompletions, VERIFY_CONCURRENCY, async (c) => {
    const { status, body } = await request(server.baseUrl, 'GET', `/api/call-history/${c.id}`);
    if (status !== 200) {
      problems.push(`call ${c.id} (its create was acknowledged) answered ${status}`);
      return;
    }
    const applied =
      body.status === 'completed' &&
      body.summary === c.summary &&
      body.collectedData?.[c.key] === c.value;
    const untouched =
      body.status === 'in-progress' && body.summary === null && !(c.key in body.collectedData);
    if (!applied && !untouched) problems.push(`completion of ${c.id} half-applied`);
  });

  // A create that got no answer exists at most once; retrying it (as a client would) converges.
  await forEachLimited(log.indeterminateCreates, VERIFY_CONCURRENCY, async (body) => {
    const callSid = String(body.callSid);
    const before = await request(server.baseUrl, 'GET', `/api/call-history/by-sid/${callSid}`);
    if (before.status !== 200 && before.status !== 404) {
      problems.push(`indeterminate create ${callSid}: by-sid answered ${before.status}`);
      return;
    }
    const retry = await request(server.baseUrl, 'POST', '/api/call-history', body);
    const expected = before.status === 200 ? 200 : 201;
    if (retry.status !== expected || retry.body.callSid !== callSid) {
      problems.push(`retry of ${callSid} answered ${retry.status}, expected ${expected}`);
    } else if (before.status === 200 && retry.body.id !== before.body.id) {
      problems.push(`retry of ${callSid} made a second record`);
    }
  });

  // The search index survived too: every completed call (and only those: a create has no
  // summary) is found by a word of its summary. On SQLite the index is a file of its own,
  // written by its own thread after the calls' commits.
  const totalOf = async (query: string) => {
    const { status, body } = await request(
      server.baseUrl,
      'GET',
      `/api/call-history?${query}&includeTotal=true&limit=1`,
    );
    if (status !== 200) problems.push(`GET ?${query} answered ${status}`);
    return body.total as number;
  };
  const completed = await totalOf('status=completed');
  const found = await totalOf('q=satisfied');
  if (found !== completed) {
    problems.push(`a search finds ${found} calls by their summary, ${completed} are completed`);
  }

  expect(problems).toEqual([]);
}

afterAll(() => agent.destroy());

interface StoredCall {
  call_sid: string;
  status: string;
  summary: string | null;
  collected_data: string;
}

/** The database read directly, with no server: what the rounds left behind. */
interface DatabaseInspector {
  /** The database's own consistency check; throws or answers what is wrong. */
  integrityProblems(): Promise<unknown[]>;
  duplicateCallSids(): Promise<unknown[]>;
  callSids(): Promise<string[]>;
  call(id: string): Promise<StoredCall | undefined>;
  close(): Promise<void>;
}

function inspectSqlite(file: string): DatabaseInspector {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  // The search index's own file: SQLite's check, and FTS5's own of its index structures.
  const searchDb = new BetterSqlite3(searchFileOf(file), { fileMustExist: true });
  const select = db.prepare<[string], StoredCall>(
    'select call_sid, status, summary, collected_data from calls where id = ?',
  );
  return {
    integrityProblems: async () => {
      const integrity = db.pragma('integrity_check', { simple: true });
      const foreignKeys = db.pragma('foreign_key_check') as unknown[];
      const searchIntegrity = searchDb.pragma('integrity_check', { simple: true });
      const problems: unknown[] = [];
      try {
        searchDb.exec(`INSERT INTO calls_search (calls_search) VALUES ('integrity-check')`);
      } catch (error) {
        problems.push(`search index: ${String(error)}`);
      }
      return [
        ...(integrity === 'ok' ? [] : [integrity]),
        ...foreignKeys,
        ...(searchIntegrity === 'ok' ? [] : [`search file: ${String(searchIntegrity)}`]),
        ...problems,
      ];
    },
    duplicateCallSids: async () =>
      db
        .prepare(
          'select tenant_id, call_sid, count(*) as n from calls group by tenant_id, call_sid having count(*) > 1',
        )
        .all(),
    callSids: async () => db.prepare('select call_sid from calls').pluck().all() as string[],
    call: async (id) => select.get(id),
    close: async () => {
      db.close();
      searchDb.close();
    },
  };
}

async function inspectPostgres(url: string): Promise<DatabaseInspector> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    integrityProblems: async () => {
      // amcheck verifies each B-tree index against its table's rows (heapallindexed).
      await client.query('create extension if not exists amcheck');
      const { rows } = await client.query<{ index: string }>(
        `select c.relname as index from pg_index i
           join pg_class c on c.oid = i.indexrelid
           join pg_am a on a.oid = c.relam
          where a.amname = 'btree' and c.relnamespace = 'public'::regnamespace`,
      );
      expect(rows.length).toBeGreaterThan(0);
      const problems: string[] = [];
      for (const { index } of rows) {
        try {
          await client.query('select bt_index_check($1::regclass, true)', [index]);
        } catch (error) {
          problems.push(`${index}: ${String(error)}`);
        }
      }
      return problems;
    },
    duplicateCallSids: async () =>
      (
        await client.query(
          'select tenant_id, call_sid, count(*) as n from calls group by tenant_id, call_sid having count(*) > 1',
        )
      ).rows,
    callSids: async () =>
      (await client.query<{ call_sid: string }>('select call_sid from calls')).rows.map(
        (row) => row.call_sid,
      ),
    call: async (id) =>
      (
        await client.query<StoredCall>(
          'select call_sid, status, summary, collected_data from calls where id = $1',
          [id],
        )
      ).rows[0],
    close: () => client.end(),
  };
}

describe.each(TEST_DIALECTS)(
  'kill -9 durability (real server process, %s)',
  (dialect: TestDialect) => {
    let dir: string;
    let databaseUrl: string;
    let dropDatabase: () => Promise<void> = async () => {};
    const started: ServerProcess[] = [];
    const rounds: RoundLog[] = [];

    const start = async () => {
      const server = await spawnServer({ env: { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' } });
      started.push(server);
      return server;
    };

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-kill9-'));
      if (dialect === 'sqlite') {
        databaseUrl = `sqlite:${path.join(dir, 'db.sqlite')}`;
      } else {
        const database = await createTestPostgresDatabase();
        databaseUrl = database.url;
        dropDatabase = database.drop;
      }
    });

    afterAll(async () => {
      await Promise.all(started.filter((s) => s.alive).map((s) => s.kill()));
      await dropDatabase();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it(
      `${ROUNDS} rounds of load, SIGKILL, restart: no acknowledged write is lost`,
      async () => {
        let server = await start();
        for (let round = 1; round <= ROUNDS; round += 1) {
          const log: RoundLog = {
            round,
            killAfterMs:
              KILL_AFTER_MIN_MS +
              Math.floor(Math.random() * (KILL_AFTER_MAX_MS - KILL_AFTER_MIN_MS)),
            requests: 0,
            attemptedCallSids: [],
            ackedCreates: [],
            ackedCompletions: [],
            indeterminateCreates: [],
            indeterminateCompletions: [],
            anomalies: [],
          };
          rounds.push(log);

          await loadAndKill(server, log);
          console.log(
            `round ${round}: killed pid ${server.pid} ${log.killAfterMs} ms after the first ` +
              `acknowledged completion; ` +
              `${log.requests} requests, ${log.ackedCreates.length} creates and ` +
              `${log.ackedCompletions.length} completions acknowledged, ` +
              `${log.indeterminateCreates.length + log.indeterminateCompletions.length} indeterminate`,
          );
          expect(log.anomalies).toEqual([]);
          // Not vacuous: the kill landed on a server that had acknowledged writes of both kinds.
          expect(log.ackedCreates.length).toBeGreaterThan(0);
          expect(log.ackedCompletions.length).toBeGreaterThan(0);

          server = await start();
          await verifyRound(server, log);
        }

        // A clean shutdown, then the database itself, with no server in between.
        const exit = await server.stop();
        expect(exit).toEqual({ code: 0, signal: null });

        const db =
          dialect === 'sqlite'
            ? inspectSqlite(databaseUrl.slice('sqlite:'.length))
            : await inspectPostgres(databaseUrl);
        try {
          expect(await db.integrityProblems()).toEqual([]);
          expect(await db.duplicateCallSids()).toEqual([]);

          const attempted = new Set(rounds.flatMap((r) => r.attemptedCallSids));
          const callSids = await db.callSids();
          const phantoms = callSids.filter((sid) => !attempted.has(sid));
          expect(phantoms).toEqual([]);

          const lost: string[] = [];
          for (const { ackedCreates, ackedCompletions } of rounds) {
            for (const { id, callSid } of ackedCreates) {
              if ((await db.call(id))?.call_sid !== callSid) lost.push(`create ${id}`);
            }
            for (const c of ackedCompletions) {
              const row = await db.call(c.id);
              const data = JSON.parse(row?.collected_data ?? '{}') as Record<string, unknown>;
              if (
                row?.status !== 'completed' ||
                row.summary !== c.summary ||
                data[c.key] !== c.value
              ) {
                lost.push(`completion ${c.id}`);
              }
            }
          }
          expect(lost).toEqual([]);
          const acknowledged = rounds.reduce((sum, r) => sum + r.ackedCreates.length, 0);
          expect(callSids.length).toBeGreaterThanOrEqual(acknowledged);
        } finally {
          await db.close();
        }
      },
      ROUND_BUDGET_MS * ROUNDS + 30_000,
    );
  },
);
