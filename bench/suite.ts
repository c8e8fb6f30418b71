// The benchmark suite (issue 7), `npm run bench`: in one run and with one load generator
// (autocannon), a Fastify route that only parses the body (the ceiling) and our server on each
// dialect, on an empty database and on the million-call fixture, through every scenario a user
// leans on: ingest (a call's start, then its end with a 3 KB transcript), the webhook pair, a
// filtered list page, a search and a year of stats. Each figure is printed with its ratio to the
// ceiling, req/s, p50, p99 and the server's peak resident memory, and checked against issue 7's
// goals. Results go to bench/results/suite-<timestamp>.json.
//   npm run bench                                          (about 25 minutes with cached fixtures)
//   BENCH_DATABASES=empty BENCH_SECONDS=3 npm run bench    (a quick look, no fixture needed)
// See bench/README.md for the scenarios, the variables and how to read the table.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Dialect } from '../src/db/database.js';
import { REPO_ROOT, startScriptNodeArgs } from '../test/setup/server-process.js';
import { postgresVersion, sqliteVersion } from './query/databases.js';
import { ensurePostgresFixture, ensureSqliteFixture, type Fixture } from './query/fixture.js';
import { SEARCH_TERMS } from './query/generator.js';
import { RssSampler, runLoad, type AutocannonRequest, type LoadResult } from './query/http.js';
import { BenchResources, type ServerHandle } from './query/resources.js';
import {
  completionBodies,
  lifecycleRequests,
  queryString,
  statsYear,
  webhookPairRequests,
} from './query/scenarios.js';
import { envAssignments, envList, envNumber, envWords } from './query/settings.js';

// --- Settings ------------------------------------------------------------------------------------

type DatabaseKind = 'empty' | 'preloaded';

const CALLS = Math.round(envNumber('BENCH_CALLS', 1_000_000, 1000));
const DIALECTS = envList<Dialect>('BENCH_DIALECTS', ['sqlite', 'postgres']);
const DATABASES = envList<DatabaseKind>('BENCH_DATABASES', ['empty', 'preloaded']);
const SECONDS = envNumber('BENCH_SECONDS', 10, 1);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2, 0);
const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 50, 1));
/** An admin connection to the PostgreSQL server; only callmind_bench_* databases are touched. */
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

/** Issue 7's goals on this machine. */
const GOALS = {
  /** SQLite ingest at a million calls, as a share of the ceiling's rate. */
  sqliteIngestShareOfCeiling: 0.1,
  sqliteIngestP99Ms: 30,
  /** PostgreSQL's ingest rate over SQLite's on the same database: within 30 %. */
  postgresShareOfSqlite: 0.7,
  peakRssMiB: 200,
} as const;

/**
 * BENCH_SERVER_ENV="SQLITE_CACHE_MB=8,SQLITE_SYNCHRONOUS=normal": settings for the servers under
 * test, to measure a setting against the defaults; recorded with the results.
 */
const SERVER_ENV_OVERRIDES = envAssignments('BENCH_SERVER_ENV');

/**
 * The servers under test run with production's defaults (durable commits, the search index on),
 * except the sweepers: they would end the fixture's live calls as stale in the middle of a run.
 */
const serverEnv = (databaseUrl: string): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  LOG_LEVEL: 'warn',
  SWEEP_INTERVAL_SECONDS: '0',
  RETENTION_DAYS: '0',
  ...SERVER_ENV_OVERRIDES,
});

/** The server as `npm start` runs it: the build, without the TypeScript loader. */
const SERVER_SCRIPT = 'dist/main.js';
/**
 * The node flags `npm start` uses, then BENCH_SERVER_NODE_ARGS ("--cpu-prof
 * --cpu-prof-dir=/tmp/prof" for a profile), which win where they overlap.
 */
const SERVER_NODE_ARGS = [...startScriptNodeArgs(REPO_ROOT), ...envWords('BENCH_SERVER_NODE_ARGS')];

/** Builds the server from the current sources, so the run measures them (not an old dist/). */
function buildServer(): void {
  console.log('building the server (tsc -p tsconfig.build.json)');
  execFileSync(
    process.execPath,
    [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    },
  );
}

// --- Scenarios -----------------------------------------------------------------------------------

type ScenarioKey = 'ingest' | 'webhooks' | 'list' | 'search' | 'stats';

interface Scenario {
  readonly key: ScenarioKey;
  readonly label: string;
  /** Requests per call: the ingest scenarios send two per call. */
  readonly requestsPerCall?: number;
  /** GET scenarios: the path, for a database whose newest calls end at `anchor`. */
  readonly path?: (anchor: Date) => string;
}

const bodies = completionBodies(32);
const DAY_MS = 24 * 3600 * 1000;

const SCENARIOS: readonly Scenario[] = [
  {
    key: 'ingest',
    label: 'ingest: POST a start, then PATCH its end (3 KB transcript)',
    requestsPerCall: 2,
  },
  {
    key: 'webhooks',
    label: 'webhook pair: started, then completed (3 KB transcript)',
    requestsPerCall: 2,
  },
  {
    key: 'list',
    label: 'a filtered list page (50 calls)',
    path: (anchor) =>
      `/api/call-history?${queryString({
        status: 'completed',
        direction: 'inbound',
        from: new Date(anchor.getTime() - 90 * DAY_MS).toISOString(),
        limit: 50,
      })}`,
  },
  {
    key: 'search',
    label: `a search, newest first ("${SEARCH_TERMS.mid.word}", 50 calls)`,
    path: () =>
      `/api/call-history?${queryString({ q: SEARCH_TERMS.mid.word, sort: 'newest', limit: 50 })}`,
  },
  {
    key: 'stats',
    label: 'a year of stats',
    path: (anchor) => `/api/call-history/stats?${queryString(statsYear(anchor))}`,
  },
];

/** BENCH_SCENARIOS=ingest,webhooks runs a subset; the default is all of them. */
const SELECTED = envList<ScenarioKey>(
  'BENCH_SCENARIOS',
  SCENARIOS.map((s) => s.key),
);
const selectedScenarios = () => SCENARIOS.filter((s) => SELECTED.includes(s.key));

const requestsOf = (scenario: Scenario, path: string | undefined): AutocannonRequest[] => {
  if (scenario.key === 'ingest') return lifecycleRequests(bodies);
  if (scenario.key === 'webhooks') return webhookPairRequests(bodies);
  return [{ method: 'GET', path: path! }];
};

// --- Figures -------------------------------------------------------------------------------------

interface Row {
  readonly server: 'ceiling' | Dialect;
  readonly database: DatabaseKind | '-';
  /** `get`: the ceiling's answer to a GET scenario, as large as `answerBytes`. */
  readonly scenario: ScenarioKey | 'get';
  /** The ceiling's runs: first, last (ingest), or a read answer of `answerBytes`. */
  readonly when?: 'first' | 'last';
  readonly load: LoadResult;
  readonly answerBytes?: number;
  readonly peakRssMiB?: number;
  vsCeiling?: number;
}

const rows: Row[] = [];
const mib = (kib: number) => Math.round(kib / 1024);

function report(row: Row): void {
  rows.push(row);
  const { load } = row;
  const perCall = SCENARIOS.find((s) => s.key === row.scenario)?.requestsPerCall;
  console.log(
    `  ${row.scenario}${row.when ? ` (${row.when})` : ''}: ${load.reqPerSec.toFixed(0)} req/s` +
      (perCall ? ` (${(load.reqPerSec / perCall).toFixed(0)} calls/s)` : '') +
      `, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms` +
      (row.answerBytes === undefined ? '' : `, answers of ${row.answerBytes} bytes`) +
      (row.peakRssMiB === undefined ? '' : `, peak RSS ${row.peakRssMiB} MiB`) +
      (load.errors + load.non2xx > 0
        ? `, ${load.errors} errors, ${load.non2xx} non-2xx ${JSON.stringify(load.statusCodes)}`
        : ''),
  );
}

// --- Runs ----------------------------------------------------------------------------------------

const resources = new BenchResources('suite', ADMIN_URL);

/** Ceiling answers for the GET scenarios: rounded sizes, so runs of similar pages share one. */
const answerSizes = new Set<number>();
const roundedSize = (bytes: number) => {
  const step = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(bytes, 1))) - 1);
  return Math.max(2, Math.round(bytes / step) * step);
};

async function measureCeiling(when: 'first' | 'last'): Promise<void> {
  const handle = await resources.startServer({ LOG_LEVEL: 'warn' }, 'bench/ceiling-server.ts');
  const { baseUrl } = handle.server;
  console.log(`\nceiling (${when}): bench/ceiling-server.ts, pid ${handle.server.pid}`);
  try {
    if (WARMUP_SECONDS > 0) {
      await runLoad(baseUrl, {
        connections: CONNECTIONS,
        seconds: WARMUP_SECONDS,
        requests: lifecycleRequests(bodies),
      });
    }
    for (const scenario of selectedScenarios().filter((s) => s.requestsPerCall !== undefined)) {
      const load = await runLoad(baseUrl, {
        connections: CONNECTIONS,
        seconds: SECONDS,
        requests: requestsOf(scenario, undefined),
      });
      report({ server: 'ceiling', database: '-', scenario: scenario.key, when, load });
    }
    if (when === 'last') {
      // A GET ceiling answers a prepared page as large as the real answer it stands for; the
      // sizes are known only once the servers have answered, so these run at the end.
      for (const bytes of [...answerSizes].sort((a, b) => a - b)) {
        const load = await runLoad(baseUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          requests: [{ method: 'GET', path: `/api/call-history?ceilingBytes=${bytes}` }],
        });
        report({ server: 'ceiling', database: '-', scenario: 'get', answerBytes: bytes, load });
      }
    }
  } finally {
    await resources.stopServer(`ceiling ${when}`, handle);
  }
}

async function measureServer(
  dialect: Dialect,
  database: DatabaseKind,
  fixture: Fixture | undefined,
): Promise<void> {
  const copyStarted = Date.now();
  const databaseUrl =
    fixture === undefined
      ? await resources.emptyDatabase(dialect, true)
      : await resources.copyOfFixture(fixture, CALLS);
  const handle: ServerHandle = await resources.startServer(
    serverEnv(databaseUrl),
    SERVER_SCRIPT,
    SERVER_NODE_ARGS,
  );
  const { baseUrl, pid } = handle.server;
  console.log(
    `\n${dialect}, ${database} database${fixture ? ` (a copy of the ${CALLS.toLocaleString('en')}-call fixture, made in ${((Date.now() - copyStarted) / 1000).toFixed(0)} s)` : ''}: pid ${pid}`,
  );
  const anchor = fixture === undefined ? new Date() : new Date(fixture.marker.anchor);
  try {
    if (WARMUP_SECONDS > 0) {
      await runLoad(baseUrl, {
        connections: CONNECTIONS,
        seconds: WARMUP_SECONDS,
        requests: lifecycleRequests(bodies),
      });
    }
    for (const scenario of selectedScenarios()) {
      const path = scenario.path?.(anchor);
      let answerBytes: number | undefined;
      if (path !== undefined) {
        const answer = await fetch(`${baseUrl}${path}`);
        answerBytes = (await answer.arrayBuffer()).byteLength;
        if (answer.status !== 200) throw new Error(`${path}: HTTP ${answer.status}`);
        answerSizes.add(roundedSize(answerBytes));
      }
      const rss = new RssSampler(pid);
      const load = await runLoad(baseUrl, {
        connections: CONNECTIONS,
        seconds: SECONDS,
        requests: requestsOf(scenario, path),
      });
      report({
        server: dialect,
        database,
        scenario: scenario.key,
        load,
        peakRssMiB: mib(rss.stop().peakKiB),
        ...(answerBytes === undefined ? {} : { answerBytes }),
      });
    }
  } finally {
    await resources.stopServer(`${dialect} ${database}`, handle);
    await resources.cleanUp();
  }
}

// --- Ratios and goals ----------------------------------------------------------------------------

function ceilingRate(row: Row): number | undefined {
  const ceilings = rows.filter((r) => r.server === 'ceiling');
  if (row.answerBytes !== undefined) {
    return ceilings.find((c) => c.answerBytes === roundedSize(row.answerBytes!))?.load.reqPerSec;
  }
  const runs = ceilings.filter((c) => c.scenario === row.scenario && c.answerBytes === undefined);
  if (runs.length === 0) return undefined;
  return runs.reduce((sum, c) => sum + c.load.reqPerSec, 0) / runs.length;
}

interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}

function goals(): Goal[] {
  const found: Goal[] = [];
  const server = rows.filter((r) => r.server !== 'ceiling');
  const ingestOf = (dialect: Dialect, database: DatabaseKind) =>
    server.find((r) => r.server === dialect && r.database === database && r.scenario === 'ingest');
  const sqliteAtScale = ingestOf('sqlite', 'preloaded');
  if (sqliteAtScale !== undefined) {
    const share = sqliteAtScale.vsCeiling ?? 0;
    const { p99 } = sqliteAtScale.load.latencyMs;
    const failures = sqliteAtScale.load.errors + sqliteAtScale.load.non2xx;
    found.push({
      goal: `SQLite ingest at ${CALLS.toLocaleString('en')} calls ≥ ${GOALS.sqliteIngestShareOfCeiling * 100} % of the ceiling, p99 ≤ ${GOALS.sqliteIngestP99Ms} ms, no errors`,
      measured: `${(share * 100).toFixed(1)} % (${(sqliteAtScale.load.reqPerSec / 2).toFixed(0)} calls/s), p99 ${p99} ms, ${failures} errors`,
      met:
        share >= GOALS.sqliteIngestShareOfCeiling &&
        p99 <= GOALS.sqliteIngestP99Ms &&
        failures === 0,
    });
  }
  for (const database of DATABASES) {
    const sqlite = ingestOf('sqlite', database);
    const postgres = ingestOf('postgres', database);
    if (sqlite === undefined || postgres === undefined) continue;
    const share = postgres.load.reqPerSec / sqlite.load.reqPerSec;
    found.push({
      goal: `PostgreSQL ingest within 30 % of SQLite's (${database} database)`,
      measured: `${(share * 100).toFixed(0)} % (${(postgres.load.reqPerSec / 2).toFixed(0)} against ${(sqlite.load.reqPerSec / 2).toFixed(0)} calls/s)`,
      met: share >= GOALS.postgresShareOfSqlite,
    });
  }
  for (const dialect of DIALECTS) {
    const peaks = server.filter((r) => r.server === dialect).map((r) => r.peakRssMiB ?? 0);
    if (peaks.length === 0) continue;
    const peak = Math.max(...peaks);
    found.push({
      goal: `${dialect} server RSS < ${GOALS.peakRssMiB} MB under load`,
      measured: `peak ${peak} MiB`,
      met: peak < GOALS.peakRssMiB,
    });
  }
  return found;
}

function markdownTable(): string {
  const header = [
    'server',
    'database',
    'scenario',
    'req/s',
    'calls/s',
    'p50 / p99 ms',
    'vs ceiling',
    'peak RSS MiB',
    'errors',
  ];
  const lines = rows.map((row) => {
    const perCall = SCENARIOS.find((s) => s.key === row.scenario)?.requestsPerCall;
    const scenario =
      row.scenario === 'get'
        ? `GET, a ${((row.answerBytes ?? 0) / 1000).toFixed(1)} kB answer`
        : `${row.scenario}${row.when ? ` (${row.when})` : ''}`;
    return [
      row.server,
      row.database,
      scenario,
      row.load.reqPerSec.toFixed(0),
      perCall ? (row.load.reqPerSec / perCall).toFixed(0) : '',
      `${row.load.latencyMs.p50} / ${row.load.latencyMs.p99}`,
      row.vsCeiling === undefined ? '' : `${(row.vsCeiling * 100).toFixed(1)} %`,
      row.peakRssMiB === undefined ? '' : String(row.peakRssMiB),
      String(row.load.errors + row.load.non2xx),
    ];
  });
  const all = [header, ...lines];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]!.length)));
  const format = (line: string[]) =>
    `| ${line.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i < 3 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [format(header), rule, ...lines.map(format)].join('\n');
}

// --- Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const onSignal = () => {
    void resources.cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const startedAt = new Date();
  const loadAtStart = os.loadavg();
  console.log(
    `bench suite: dialects ${DIALECTS.join(', ')}; databases ${DATABASES.join(', ')}` +
      `${DATABASES.includes('preloaded') ? ` (${CALLS.toLocaleString('en')} calls)` : ''}; ` +
      `${SECONDS} s per phase, ${CONNECTIONS} connections; load average ` +
      loadAtStart.map((l) => l.toFixed(2)).join(' '),
  );

  buildServer();
  const fixtures = new Map<Dialect, Fixture>();
  if (DATABASES.includes('preloaded')) {
    for (const dialect of DIALECTS) {
      fixtures.set(
        dialect,
        dialect === 'sqlite'
          ? await ensureSqliteFixture(CALLS)
          : await ensurePostgresFixture(CALLS, ADMIN_URL),
      );
    }
  }

  try {
    await measureCeiling('first');
    for (const dialect of DIALECTS) {
      for (const database of DATABASES) {
        await measureServer(
          dialect,
          database,
          database === 'preloaded' ? fixtures.get(dialect) : undefined,
        );
      }
    }
    await measureCeiling('last');
  } finally {
    await resources.cleanUp();
  }

  for (const row of rows) {
    if (row.server === 'ceiling') continue;
    const ceiling = ceilingRate(row);
    if (ceiling !== undefined && ceiling > 0) row.vsCeiling = row.load.reqPerSec / ceiling;
  }
  const table = markdownTable();
  const checked = goals();
  console.log(`\n${table}\n`);
  for (const goal of checked) {
    console.log(`${goal.met ? 'ok  ' : 'MISS'}  ${goal.goal}: ${goal.measured}`);
  }
  for (const problem of resources.serverProblems) {
    console.log(`\n${problem.where} logged:\n  ${problem.lines.join('\n  ')}`);
  }

  const cpus = os.cpus();
  const results = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      sqlite: sqliteVersion(),
      postgres: DIALECTS.includes('postgres') ? await postgresVersion(ADMIN_URL) : undefined,
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg(),
    },
    settings: {
      calls: CALLS,
      dialects: DIALECTS,
      databases: DATABASES,
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
      serverEnv: SERVER_ENV_OVERRIDES,
      serverNodeArgs: SERVER_NODE_ARGS,
      goals: GOALS,
    },
    fixtures: [...fixtures.values()].map((f) => ({
      dialect: f.dialect,
      location: f.location,
      marker: f.marker,
    })),
    rows,
    goals: checked,
    serverProblems: resources.serverProblems,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(
    RESULTS_DIR,
    `suite-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`,
  );
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults: ${path.relative(REPO_ROOT, file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  void resources.cleanUp().finally(() => process.exit(1));
});
