// Ingest throughput: how close the real server gets to what Fastify alone can do on this machine.
//   npx tsx bench/ingest.ts            (BENCH_SECONDS=10 per phase by default)
// See bench/README.md for the scenarios and how to read the table.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { REPO_ROOT, spawnServer, type ServerProcess } from '../test/setup/server-process.js';

// autocannon ships no type declarations; this is the part of its API used here.
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (
    request: AutocannonRequest,
    context: Record<string, unknown>,
  ) => AutocannonRequest;
  onResponse?: (
    status: number,
    body: string,
    context: Record<string, unknown>,
    headers: Record<string, string | string[]>,
  ) => void;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  timeout?: number;
  headers?: Record<string, string>;
  requests: AutocannonRequest[];
}
interface AutocannonStats {
  mean: number;
  stddev: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
}
interface AutocannonResult {
  requests: AutocannonStats & { total: number };
  latency: AutocannonStats;
  throughput: AutocannonStats;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
}
type Autocannon = (options: AutocannonOptions) => PromiseLike<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name} must be a number >= ${min} (got "${raw}")`);
  }
  return value;
}

const SECONDS = envNumber('BENCH_SECONDS', 10, 1);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2, 0);
const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 50, 1));
const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

type Phase = 'create' | 'complete';

interface Scenario {
  readonly key: string;
  readonly label: string;
  /** The ceiling runs bench/ceiling-server.ts; the others run the real server. */
  readonly ceiling: boolean;
  readonly env: Record<string, string>;
  /** Runs on a fresh database of the PostgreSQL server at BENCH_DATABASE_URL. */
  readonly postgres?: boolean;
}

/** An admin connection to the PostgreSQL server the postgres scenario creates its database on. */
const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const SCENARIOS: readonly Scenario[] = [
  {
    key: 'ceiling',
    label: 'ceiling: Fastify, JSON parse only',
    ceiling: true,
    env: {},
  },
  {
    key: 'per-request-full',
    label: '(a) commit per request, sync=FULL',
    ceiling: false,
    env: { WRITE_BATCH_MAX: '1', SQLITE_SYNCHRONOUS: 'full' },
  },
  {
    key: 'per-request-normal',
    label: '(b) commit per request, sync=NORMAL',
    ceiling: false,
    env: { WRITE_BATCH_MAX: '1', SQLITE_SYNCHRONOUS: 'normal' },
  },
  {
    key: 'group-commit-full',
    label: '(c) group commit, sync=FULL (default)',
    ceiling: false,
    env: {},
  },
  {
    key: 'postgres',
    label: '(d) PostgreSQL, pool 10, synchronous_commit=on',
    ceiling: false,
    env: {},
    postgres: true,
  },
  {
    // The ceiling again, last: on a shared or throttled machine it drifts, and the ratios use the
    // mean of both measurements. Compare the two rows to see how steady the machine was.
    key: 'ceiling-after',
    label: 'ceiling again, after the others',
    ceiling: true,
    env: {},
  },
];

/** BENCH_SCENARIOS=ceiling,group-commit-full runs a subset; the default is all of them. */
function selectedScenarios(): readonly Scenario[] {
  const raw = process.env.BENCH_SCENARIOS?.trim();
  if (!raw) return SCENARIOS;
  const keys = raw.split(',').map((key) => key.trim());
  const unknown = keys.filter((key) => !SCENARIOS.some((s) => s.key === key));
  if (unknown.length > 0) {
    throw new Error(
      `unknown BENCH_SCENARIOS ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.key).join(', ')}`,
    );
  }
  return SCENARIOS.filter((s) => keys.includes(s.key));
}

// --- Request bodies ----------------------------------------------------------------------------

const runTag = Date.now().toString(36);
let callCounter = 0;

/** A call start as a voice-agent platform sends it; everything but the callSid is fixed. */
function createBodyTemplate(): { before: string; after: string } {
  const marker = '\u0000CALLSID\u0000';
  const json = JSON.stringify({
    agentId: 'agent_bench_support',
    userId: 'user_67890',
    callSid: marker,
    direction: 'inbound',
    callerNumber: '+14155550123',
    callerName: 'Jordan Example',
    status: 'in-progress',
    startedAt: '2026-11-25T10:00:00.000Z',
  });
  const [before, after] = json.split(JSON.stringify(marker).slice(1, -1));
  return { before: before!, after: after! };
}

function transcript(targetChars: number): string {
  const lines = [
    'Agent: Thank you for calling Acme support, this is Sam. How can I help you today?',
    'Caller: Hi, I was charged twice for my subscription this month and I would like a refund.',
    'Agent: I am sorry about that. Could you confirm the email address on the account?',
    'Caller: Sure, it is jordan@example.com, and the account number is ACC-12345.',
    'Agent: Thank you. I can see two charges of 29 dollars on the third. I will refund one now.',
    'Caller: Great, how long will it take to show up on my card?',
    'Agent: Usually three to five business days. Is there anything else I can help with?',
    'Caller: No, that is all. Thanks for sorting it out so quickly.',
  ];
  let text = '';
  for (let i = 0; text.length < targetChars; i += 1) text += `${lines[i % lines.length]}\n`;
  return text.slice(0, targetChars);
}

const COMPLETE_BODY = JSON.stringify({
  status: 'completed',
  endedAt: '2026-11-25T10:04:05.000Z',
  duration: 245,
  recordingUrl: 'https://recordings.example.com/2026/11/25/call-recording.mp3',
  transcript: transcript(3000),
  sentiment: 'positive',
  topics: ['billing', 'refund', 'subscription'],
  summary:
    'Caller was charged twice for the monthly subscription. Agent verified the account and ' +
    'refunded the duplicate charge; caller was told to expect it within 3-5 business days.',
  collectedData: {
    name: 'Jordan Example',
    email: 'jordan@example.com',
    accountNumber: 'ACC-12345',
    refund: { amount: 29, currency: 'USD', approved: true },
  },
  cost: 0.15,
});

const CREATE_TEMPLATE = createBodyTemplate();
const sampleCreateBody = () => `${CREATE_TEMPLATE.before}CA-bench-sample${CREATE_TEMPLATE.after}`;

function headerValue(headers: Record<string, string | string[]>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** POST /api/call-history with a fresh callSid per request; ids of 201s are appended to `ids`. */
function createRequest(ids: string[]): AutocannonRequest {
  return {
    method: 'POST',
    path: '/api/call-history',
    setupRequest: (request) => {
      callCounter += 1;
      const callSid = `CA-bench-${runTag}-${callCounter}`;
      return { ...request, body: `${CREATE_TEMPLATE.before}${callSid}${CREATE_TEMPLATE.after}` };
    },
    onResponse: (status, _body, _context, headers) => {
      if (status !== 201) return;
      const location = headerValue(headers, 'location');
      const id = location?.slice(location.lastIndexOf('/') + 1);
      if (id) ids.push(id);
    },
  };
}

interface CompletionCounter {
  sent: number;
  /** Requests that had to reuse an id already completed in this phase (the pool ran out). */
  reused: number;
  ok: number;
}

/** PATCH /api/call-history/{id}/status, each id of the pool once, then round again. */
function completeRequest(ids: readonly string[], counter: CompletionCounter): AutocannonRequest {
  return {
    method: 'PATCH',
    setupRequest: (request) => {
      const index = counter.sent;
      counter.sent += 1;
      if (index >= ids.length) counter.reused += 1;
      const id = ids[index % ids.length]!;
      return { ...request, path: `/api/call-history/${id}/status`, body: COMPLETE_BODY };
    },
    onResponse: (status) => {
      if (status === 200) counter.ok += 1;
    },
  };
}

// --- Running -----------------------------------------------------------------------------------

interface PhaseResult {
  readonly scenario: string;
  readonly label: string;
  readonly phase: Phase;
  readonly reqPerSecMean: number;
  readonly reqPerSecStddev: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; p99_9: number; max: number };
  readonly totalRequests: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly statusCodes: Record<string, number>;
  ratioToCeiling?: number;
}

interface ScenarioResult {
  readonly scenario: string;
  readonly label: string;
  readonly env: Record<string, string>;
  readonly phases: PhaseResult[];
  /** Sanity checks on the database after a clean shutdown (real server only). */
  readonly database?: {
    readonly rows: number;
    readonly createdAcknowledged: number;
    readonly completedRows: number;
    readonly completionsAcknowledged: number;
    readonly completionsReusingAnId: number;
    readonly check: string;
  };
  readonly serverErrorLines: string[];
  readonly exit: { code: number | null; signal: string | null };
}

async function load(
  server: ServerProcess,
  request: AutocannonRequest,
  seconds: number,
): Promise<AutocannonResult> {
  return autocannon({
    url: server.baseUrl,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    headers: { 'content-type': 'application/json' },
    requests: [request],
  });
}

function summarise(scenario: Scenario, phase: Phase, result: AutocannonResult): PhaseResult {
  return {
    scenario: scenario.key,
    label: scenario.label,
    phase,
    reqPerSecMean: result.requests.mean,
    reqPerSecStddev: result.requests.stddev,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      p99_9: result.latency.p99_9,
      max: result.latency.max,
    },
    totalRequests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
    ),
  };
}

/** Lines the server logged at error level or above (pino level >= 50), or that were not JSON. */
function errorLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        const entry = JSON.parse(line) as { level?: number };
        return (entry.level ?? 0) >= 50;
      } catch {
        return true;
      }
    });
}

const started: ServerProcess[] = [];
const tempDirs: string[] = [];

async function runScenario(scenario: Scenario): Promise<ScenarioResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `callmind-bench-${scenario.key}-`));
  tempDirs.push(dir);
  const dbFile = path.join(dir, 'db.sqlite');
  const postgres = scenario.postgres ? await createBenchPostgresDatabase() : undefined;
  let output = '';
  const server = await spawnServer({
    ...(scenario.ceiling ? { script: 'bench/ceiling-server.ts' } : {}),
    env: {
      DATABASE_URL: postgres?.url ?? `sqlite:${dbFile}`,
      LOG_LEVEL: 'warn',
      ...scenario.env,
    },
    onOutput: (chunk) => {
      if (output.length < 1024 * 1024) output += chunk;
    },
  });
  started.push(server);
  console.log(`\n${scenario.label}  (pid ${server.pid}, ${server.baseUrl})`);

  const ids: string[] = [];
  if (WARMUP_SECONDS > 0) {
    await load(server, createRequest(ids), WARMUP_SECONDS);
    console.log(`  warm-up ${WARMUP_SECONDS} s done`);
  }
  const create = summarise(scenario, 'create', await load(server, createRequest(ids), SECONDS));
  console.log(`  create:   ${create.reqPerSecMean.toFixed(0)} req/s`);

  // The ceiling creates nothing: its completions go to made-up ids of the same shape.
  const pool = scenario.ceiling
    ? Array.from({ length: 1000 }, (_, i) => `call_01CEILING${String(i).padStart(17, '0')}`)
    : ids;
  if (pool.length === 0) throw new Error(`${scenario.label}: the create phase created nothing`);
  const counter: CompletionCounter = { sent: 0, reused: 0, ok: 0 };
  const complete = summarise(
    scenario,
    'complete',
    await load(server, completeRequest(pool, counter), SECONDS),
  );
  console.log(`  complete: ${complete.reqPerSecMean.toFixed(0)} req/s`);

  const exit = await server.stop();
  const result: ScenarioResult = {
    scenario: scenario.key,
    label: scenario.label,
    env: scenario.env,
    phases: [create, complete],
    serverErrorLines: errorLines(output).slice(0, 20),
    exit,
  };
  if (scenario.ceiling) return result;

  let rows: number;
  let completedRows: number;
  if (postgres !== undefined) {
    [rows, completedRows] = await postgres.counts();
    await postgres.drop();
  } else {
    const db = new BetterSqlite3(dbFile, { readonly: true, fileMustExist: true });
    try {
      const count = (query: string) => Number(db.prepare(query).pluck().get());
      rows = count('select count(*) from calls');
      completedRows = count(`select count(*) from calls where status = 'completed'`);
    } finally {
      db.close();
    }
  }
  {
    // autocannon stops counting when a phase ends, but the server still commits the requests
    // that were in flight then: at most one per connection per phase.
    const createRuns = WARMUP_SECONDS > 0 ? 2 : 1;
    const consistent =
      rows >= ids.length &&
      rows - ids.length <= CONNECTIONS * createRuns &&
      (counter.reused > 0 ||
        (completedRows >= counter.ok && completedRows - counter.ok <= CONNECTIONS));
    return {
      ...result,
      database: {
        rows,
        createdAcknowledged: ids.length,
        completedRows,
        completionsAcknowledged: counter.ok,
        completionsReusingAnId: counter.reused,
        check: consistent
          ? 'consistent (the difference is requests in flight when a phase ended)'
          : 'INCONSISTENT: acknowledged writes and rows do not match',
      },
    };
  }
}

async function createBenchPostgresDatabase(): Promise<{
  url: string;
  counts: () => Promise<[number, number]>;
  drop: () => Promise<void>;
}> {
  const name = `callmind_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    counts: async () => {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const { rows } = await client.query<{ total: string; completed: string }>(
          `select count(*) as total, count(*) filter (where status = 'completed') as completed from calls`,
        );
        return [Number(rows[0]!.total), Number(rows[0]!.completed)];
      } finally {
        await client.end();
      }
    },
    drop: async () => {
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}

function sqliteVersion(): string {
  const db = new BetterSqlite3(':memory:');
  try {
    return String(db.prepare('select sqlite_version()').pluck().get());
  } finally {
    db.close();
  }
}

function fileSystemType(dir: string): string {
  const known: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs' };
  const type = fs.statfsSync(dir).type;
  return known[type] ?? `0x${type.toString(16)}`;
}

function table(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'phase', 'req/s (mean)', 'p50 ms', 'p99 ms', 'errors', 'non-2xx'];
  const rows = results.flatMap((scenario) =>
    scenario.phases.map((p) => [
      p.label,
      p.phase,
      p.reqPerSecMean.toFixed(0),
      String(p.latencyMs.p50),
      String(p.latencyMs.p99),
      String(p.errors + p.timeouts),
      String(p.non2xx),
      p.ratioToCeiling === undefined ? '' : `${(p.ratioToCeiling * 100).toFixed(1)} %`,
    ]),
  );
  const all = [[...header, 'vs ceiling'], ...rows];
  const widths = all[0]!.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => (column >= 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, column) => (column >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(all[0]!), rule, ...rows.map(line)].join('\n');
}

async function killAll(): Promise<void> {
  await Promise.all(started.filter((s) => s.alive).map((s) => s.kill()));
}

async function main(): Promise<void> {
  const onSignal = () => {
    void killAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const createBytes = Buffer.byteLength(sampleCreateBody());
  const completeBytes = Buffer.byteLength(COMPLETE_BODY);
  console.log(
    `ingest bench: ${CONNECTIONS} connections, ${SECONDS} s per phase (+${WARMUP_SECONDS} s ` +
      `warm-up), bodies: create ${createBytes} B, complete ${completeBytes} B`,
  );

  const results: ScenarioResult[] = [];
  try {
    for (const scenario of selectedScenarios()) results.push(await runScenario(scenario));
  } finally {
    await killAll();
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  }

  const ceilings = results.filter((r) => SCENARIOS.find((s) => s.key === r.scenario)?.ceiling);
  const ceilingReqPerSec = (phase: Phase): number | undefined => {
    const rates = ceilings.flatMap((r) => r.phases.filter((p) => p.phase === phase));
    if (rates.length === 0) return undefined;
    return rates.reduce((sum, p) => sum + p.reqPerSecMean, 0) / rates.length;
  };
  for (const result of results) {
    for (const phase of result.phases) {
      const base = ceilingReqPerSec(phase.phase);
      if (base) phase.ratioToCeiling = phase.reqPerSecMean / base;
    }
  }

  const date = new Date();
  const report = {
    date: date.toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      sqlite: sqliteVersion(),
      tmpFileSystem: fileSystemType(os.tmpdir()),
    },
    settings: {
      secondsPerPhase: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
      createBodyBytes: createBytes,
      completeBodyBytes: completeBytes,
    },
    ceilingReqPerSec: {
      create: ceilingReqPerSec('create'),
      complete: ceilingReqPerSec('complete'),
    },
    results,
  };

  console.log(`\n${table(results)}\n`);
  for (const result of results) {
    if (result.database) {
      const d = result.database;
      console.log(
        `${result.label}: ${d.rows} rows for ${d.createdAcknowledged} acknowledged creates; ` +
          `${d.completedRows} completed rows for ${d.completionsAcknowledged} acknowledged ` +
          `completions (${d.completionsReusingAnId} reused an id): ${d.check}`,
      );
    }
    if (result.serverErrorLines.length > 0) {
      console.log(
        `${result.label}: the server logged errors:\n  ${result.serverErrorLines.join('\n  ')}`,
      );
    }
    if (result.exit.code !== 0) {
      console.log(`${result.label}: the server exited with ${JSON.stringify(result.exit)}`);
    }
  }
  if (report.machine.tmpFileSystem === 'tmpfs') {
    console.log('warning: the databases lived on tmpfs, where fsync costs nothing');
  }

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `ingest-${date.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${path.relative(REPO_ROOT, file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  void killAll().finally(() => process.exit(1));
});
