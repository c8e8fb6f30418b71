// Query performance at scale (issue #5): filtered lists, full-text search, a year of stats and
// the export, on a seeded database of BENCH_CALLS calls (default 1M, the largest tenant 20 % of
// them), on SQLite and PostgreSQL; plus what the search index costs ingest, and ingest's p99
// while heavy reads run. Every figure is printed against its target and a ceiling measured in
// the same run.
//   npx tsx bench/query.ts          (npm run bench:query)
// See bench/README.md for the scenarios, the variables and how to read the table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { createMemoryChangeChannel } from '../src/db/change-channel.js';
import { loadConfig } from '../src/config.js';
import type { Dialect } from '../src/db/database.js';
import { parseCallFilter } from '../src/modules/calls/call-query.js';
import { EXPORT_WALK } from '../src/modules/calls/calls.export.js';
import { createCallRepository } from '../src/modules/calls/calls.repository.js';
import type { CallFilterQuery, CallStatsQuery } from '../src/modules/calls/calls.schemas.js';
import { ZoneOffsets } from '../src/lib/time-zones.js';
import { DEV_AUTH_CONTEXT } from '../src/modules/identity/identity.js';
import { createServices } from '../src/services.js';
import {
  REPO_ROOT,
  sourceServerNodeArgs,
  type ServerProcess,
} from '../test/setup/server-process.js';
import {
  openPostgresBench,
  openSqliteBench,
  postgresVersion,
  sqliteVersion,
  type BenchDatabase,
} from './query/databases.js';
import { ensurePostgresFixture, ensureSqliteFixture, type Fixture } from './query/fixture.js';
import { BIG_TENANT, SEARCH_TERMS } from './query/generator.js';
import { BenchResources, type ServerHandle } from './query/resources.js';
import {
  cpuMicros,
  cpuNote,
  getStreaming,
  measuringCpu,
  postgresCpuMicros,
  readExport,
  RssSampler,
  residentKiB,
  runLoad,
  runPaced,
  type AutocannonRequest,
  type CpuPerRequest,
  type ExportResult,
  type LoadResult,
} from './query/http.js';
import {
  CEILING_CALL_IDS,
  completeRequest,
  completionBodies,
  createRequest,
  lifecycleRequests,
  listMixes,
  queryString,
  searchCases,
  statsYear,
  type ListMix,
} from './query/scenarios.js';
import { envList, envNumber, envWords } from './query/settings.js';
import { summariseDurations, timeSequentially, type Timing } from './query/timing.js';

// --- Settings ------------------------------------------------------------------------------------

const SCENARIO_KEYS = [
  'list',
  'search',
  'stats',
  'export',
  'index-cost',
  'ingest-under-reads',
] as const;
type ScenarioKey = (typeof SCENARIO_KEYS)[number];

const CALLS = Math.round(envNumber('BENCH_CALLS', 1_000_000, 1000));
const DIALECTS = envList<Dialect>('BENCH_DIALECTS', ['sqlite', 'postgres']);
const SCENARIOS = envList<ScenarioKey>('BENCH_SCENARIOS', SCENARIO_KEYS);
const SECONDS = envNumber('BENCH_SECONDS', 10, 1);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 2, 0);
const CONNECTIONS = Math.round(envNumber('BENCH_CONNECTIONS', 50, 1));
const STATS_CONNECTIONS = Math.round(envNumber('BENCH_STATS_CONNECTIONS', 1, 1));
/** The paced list phase: requests per second over all connections (50 clients, 2 pages/s each). */
const LIST_RATE = Math.round(envNumber('BENCH_LIST_RATE', 100, 1));
const DB_ITERATIONS = Math.round(envNumber('BENCH_DB_ITERATIONS', 200, 5));
/** An admin connection to the PostgreSQL server; only callmind_bench_* databases are touched. */
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
/** The export's page (src/modules/calls/calls.export.ts). */
const EXPORT_PAGE_ROWS = EXPORT_WALK.page;
/** Back-to-back exports in the flat-memory figure. */
const EXPORT_REPEATS = 4;

const TARGETS = {
  listHttpP99Ms: 20,
  searchNewestP99Ms: 10,
  searchRelevanceP99Ms: 150,
  statsP99Ms: 50,
  exportRowsPerSec: 20_000,
  searchIndexIngestCost: 0.3,
} as const;

const wants = (scenario: ScenarioKey) => SCENARIOS.includes(scenario);

/**
 * The servers under test run with production's defaults, except that the sweeper is off: it
 * would end the fixture's live calls as stale (a write to the cached fixture) in the middle of a
 * read scenario.
 */
const serverEnv = (databaseUrl: string): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  LOG_LEVEL: 'warn',
  SWEEP_INTERVAL_SECONDS: '0',
  RETENTION_DAYS: '0',
});

/**
 * The server runs from its sources (through tsx), with the node flags `npm start` gives it and
 * then BENCH_SERVER_NODE_ARGS, as the suite does (test/setup/server-process.ts).
 */
const SERVER_NODE_ARGS = [...sourceServerNodeArgs(), ...envWords('BENCH_SERVER_NODE_ARGS')];

// --- Figures -------------------------------------------------------------------------------------

type CeilingKey =
  'list-page' | 'stats-page' | 'export-stream' | 'create' | 'complete' | 'lifecycle';

interface Target {
  readonly text: string;
  /** Measured over the bound: below 1 meets a "less than" target. */
  readonly ratio: number;
  readonly met: boolean;
}

interface Plan {
  readonly sql: string;
  readonly parameters: unknown[];
  readonly plan: string;
}

interface Figure {
  readonly dialect: Dialect | 'ceiling';
  readonly scenario: ScenarioKey | 'ceiling' | 'list-db';
  readonly case: string;
  readonly http?: LoadResult;
  /** CPU per answered request over an HTTP phase, where measured (the list's, flat out). */
  readonly cpu?: CpuPerRequest;
  readonly timing?: Timing;
  readonly export?: ExportResult & {
    rss?: { baselineKiB: number; peakKiB: number; lastKiB: number; samples: number };
  };
  /** Bytes per second streamed (the export ceiling). */
  readonly stream?: { bytesPerSec: number; pages: number; pageBytes: number };
  readonly target?: Target;
  /** Which ceiling its rate is compared with, and the ratio once both are known. */
  readonly ceilingKey?: CeilingKey;
  vsCeiling?: number;
  readonly notes: string[];
  readonly plans?: Plan[];
}

const figures: Figure[] = [];

function add(figure: Figure): void {
  figures.push(figure);
  const rate = rateText(figure);
  const latency =
    figure.http !== undefined
      ? `p50 ${figure.http.latencyMs.p50} ms, p99 ${figure.http.latencyMs.p99} ms`
      : figure.timing !== undefined
        ? `p50 ${figure.timing.p50Ms.toFixed(2)} ms, p99 ${figure.timing.p99Ms.toFixed(2)} ms`
        : '';
  console.log(
    `  ${figure.scenario} | ${figure.case}: ${[rate, latency, ...figure.notes].filter(Boolean).join(', ')}`,
  );
}

const latencyTarget = (measuredMs: number, boundMs: number, what = 'p99'): Target => ({
  text: `${what} < ${boundMs} ms`,
  ratio: measuredMs / boundMs,
  met: measuredMs < boundMs,
});

/** The search index's share of ingest's server time against its bound. */
const indexCostTarget = (cost: number): Target => ({
  text: `cost ≤ ${TARGETS.searchIndexIngestCost * 100} %`,
  ratio: cost / TARGETS.searchIndexIngestCost,
  met: cost <= TARGETS.searchIndexIngestCost,
});

function rateText(figure: Figure): string {
  if (figure.http !== undefined) return `${figure.http.reqPerSec.toFixed(0)} req/s`;
  if (figure.export !== undefined) {
    return figure.export.available
      ? `${figure.export.rowsPerSec.toFixed(0)} rows/s`
      : 'not available';
  }
  if (figure.stream !== undefined) {
    return `${(figure.stream.bytesPerSec / 1e6).toFixed(1)} MB/s`;
  }
  if (figure.timing !== undefined) return `${(1000 / figure.timing.meanMs).toFixed(0)} q/s`;
  return '';
}

// --- Processes and temporary databases -----------------------------------------------------------

const resources = new BenchResources('query', ADMIN_URL);

// --- In-process: the database's own time ---------------------------------------------------------

/** Sizes of real answers, so the ceiling answers pages of the same size. */
interface AnswerSizes {
  listPageBytes: Record<string, number>;
  statsBytes: number;
  exportPageBytes: number;
}

const shortParameter = (value: unknown) =>
  typeof value === 'string' && value.length > 200 ? `${value.slice(0, 200)}…` : value;

/** Times `work` in-process, then runs it once more to record and explain its statements. */
async function timeWithPlans(
  bench: BenchDatabase,
  work: () => Promise<unknown>,
): Promise<{ timing: Timing; plans: Plan[]; serverTiming?: Timing }> {
  const timing = await timeSequentially(work, { iterations: DB_ITERATIONS, maxSeconds: SECONDS });
  const { queries } = await bench.recorder.record(work);
  const plans: Plan[] = [];
  for (const query of queries) {
    plans.push({
      sql: query.sql,
      parameters: query.parameters.map(shortParameter),
      plan: await bench
        .explain(query)
        .catch((error: unknown) => `EXPLAIN failed: ${String(error)}`),
    });
  }
  const { serverMs } = bench;
  if (serverMs === undefined) return { timing, plans };
  // PostgreSQL's own time for the same work: its statements' planning and execution summed, as
  // many times over. What the in-process timing adds to it is the client's (see bench/README).
  const serverTiming = await timeSequentially(
    async () => {
      let total = 0;
      for (const query of queries) total += await serverMs(query);
      return total;
    },
    { iterations: DB_ITERATIONS, maxSeconds: SECONDS, measure: (total) => total },
  );
  return { timing, plans, serverTiming };
}

const asFilterQuery = (query: Readonly<Record<string, string | number>>) =>
  query as unknown as CallFilterQuery & Record<string, unknown>;

async function inProcess(fixture: Fixture): Promise<{ mixes: ListMix[]; sizes: AnswerSizes }> {
  const { dialect } = fixture;
  console.log(`\n${dialect}: in-process timings on ${fixture.location}`);
  const bench =
    dialect === 'sqlite'
      ? openSqliteBench(fixture.location, { readonly: true })
      : openPostgresBench(fixture.databaseUrl);
  try {
    const repository = createCallRepository(bench.db, dialect);
    const services = createServices({
      config: loadConfig({ DATABASE_URL: fixture.databaseUrl, SQLITE_READERS: '0' }),
      database: {
        db: bench.db,
        readDb: bench.db,
        dialect,
        // The bench reads; nothing listens for changes.
        changes: createMemoryChangeChannel(),
        description: fixture.location,
        close: async () => {},
      },
    });
    const anchor = new Date(fixture.marker.anchor);
    // A number that called the big tenant recently: its filter finds a handful of calls.
    const [recent] = await repository.list(
      BIG_TENANT,
      {},
      {
        sort: 'newest',
        limit: 1,
        withTranscript: false,
      },
    );
    const mixes = listMixes(anchor, recent?.caller_number ?? '+14152000000');

    const sizes: AnswerSizes = { listPageBytes: {}, statsBytes: 0, exportPageBytes: 0 };
    for (const mix of mixes) {
      const page = await services.calls.list(DEV_AUTH_CONTEXT, asFilterQuery(mix.query));
      sizes.listPageBytes[mix.key] = Buffer.byteLength(JSON.stringify(page));
    }
    const year = statsYear(anchor);
    sizes.statsBytes = Buffer.byteLength(
      JSON.stringify(await services.calls.stats(DEV_AUTH_CONTEXT, year)),
    );
    for await (const page of await services.calls.exportNdjson(DEV_AUTH_CONTEXT, {})) {
      const bytes = Buffer.from(page);
      const rows = bytes.reduce((lines, byte) => (byte === 0x0a ? lines + 1 : lines), 0);
      sizes.exportPageBytes = (bytes.length / Math.max(1, rows)) * EXPORT_PAGE_ROWS;
      break;
    }

    if (wants('list')) {
      // What a page costs on top of the database: the service's row mapping and serialising
      // the answer (Fastify's serializer does the same work as JSON.stringify, roughly).
      const representative = mixes[1]!;
      const pageWork = await timeSequentially(
        async () =>
          JSON.stringify(
            await services.calls.list(DEV_AUTH_CONTEXT, asFilterQuery(representative.query)),
          ),
        { iterations: DB_ITERATIONS, maxSeconds: SECONDS },
      );
      add({
        dialect,
        scenario: 'list-db',
        case: `${representative.key}: service + JSON.stringify`,
        timing: pageWork,
        notes: [`page ${sizes.listPageBytes[representative.key]} B`],
      });
      for (const mix of mixes) {
        const filter = parseCallFilter(asFilterQuery(mix.query));
        const matches = await repository.count(BIG_TENANT, filter);
        // The service asks for one row more than the page, to know whether another follows.
        const { timing, plans } = await timeWithPlans(bench, () =>
          repository.list(BIG_TENANT, filter, { sort: 'newest', limit: 51, withTranscript: false }),
        );
        add({
          dialect,
          scenario: 'list-db',
          case: mix.key,
          timing,
          target: latencyTarget(timing.p99Ms, TARGETS.listHttpP99Ms, 'p99 (page)'),
          notes: [`${matches} matches`, `page ${sizes.listPageBytes[mix.key]} B`],
          plans,
        });
      }
    }

    if (wants('search')) {
      for (const search of searchCases()) {
        const filter = parseCallFilter({ q: search.word, ...search.filter });
        const frequency = fixture.marker.terms[search.kind];
        const { timing, plans, serverTiming } = await timeWithPlans(bench, () =>
          // A search reads the transcripts for its snippets, as the service does.
          search.sort === 'relevance'
            ? repository.listByRelevance(BIG_TENANT, filter, {
                window: undefined,
                limit: 51,
                withTranscript: true,
              })
            : repository.list(BIG_TENANT, filter, {
                sort: search.sort,
                limit: 51,
                withTranscript: true,
              }),
        );
        const bound =
          search.sort === 'newest' ? TARGETS.searchNewestP99Ms : TARGETS.searchRelevanceP99Ms;
        const share =
          `in ${frequency.bigTenantCalls} of ${fixture.marker.bigTenantCalls} tenant calls ` +
          `(${((100 * frequency.bigTenantCalls) / fixture.marker.bigTenantCalls).toFixed(2)} %)`;
        // The target is the database's time: SQLite runs in this process, so that is the
        // in-process timing; PostgreSQL's is its own planning and execution (serverTiming),
        // and the in-process row beside it adds the client's share.
        add({
          dialect,
          scenario: 'search',
          case: serverTiming === undefined ? search.key : `${search.key}, client`,
          timing,
          ...(serverTiming === undefined ? { target: latencyTarget(timing.p99Ms, bound) } : {}),
          notes:
            serverTiming === undefined
              ? [share]
              : ['in-process: the server plus node-pg, its GC pauses included'],
          plans,
        });
        if (serverTiming !== undefined) {
          add({
            dialect,
            scenario: 'search',
            case: `${search.key}, in PostgreSQL`,
            timing: serverTiming,
            target: latencyTarget(serverTiming.p99Ms, bound),
            notes: [share, 'planning, execution and rows as text (EXPLAIN ANALYZE)'],
          });
        }
      }
    }

    if (wants('stats')) {
      const filter = parseCallFilter(year);
      const service = await timeWithPlans(bench, () =>
        services.calls.stats(DEV_AUTH_CONTEXT, year),
      );
      add({
        dialect,
        scenario: 'stats',
        case: 'one year, service (in-process)',
        timing: service.timing,
        target: latencyTarget(service.timing.p99Ms, TARGETS.statsP99Ms),
        notes: [`${sizes.statsBytes} B answer`],
        plans: service.plans,
      });
      // The time range alone reads the rollups; the zones and buckets change which periods add
      // up to each bucket. Any other filter reads the calls (the last case).
      const variants: Array<[string, CallStatsQuery]> = [
        ['one year by week in Asia/Kathmandu', { ...year, bucket: 'week', tz: 'Asia/Kathmandu' }],
        ['one year by day in America/New_York', { ...year, tz: 'America/New_York' }],
        ['all calls (no from/to) by day', {}],
        ['one year by hour', { ...year, bucket: 'hour' }],
        ['one year, inbound only (no rollups)', { ...year, direction: 'inbound' }],
      ];
      for (const [name, query] of variants) {
        const { timing, plans } = await timeWithPlans(bench, () =>
          services.calls.stats(DEV_AUTH_CONTEXT, query),
        );
        add({ dialect, scenario: 'stats', case: `${name}, service`, timing, notes: [], plans });
      }
      const series = { zone: new ZoneOffsets('UTC'), bucket: 'day' as const };
      const parts: Array<[string, () => Promise<unknown>]> = [
        ['statsBySlot', () => repository.statsBySlot(BIG_TENANT, filter, series)],
        ['statsByAgent', () => repository.statsByAgent(BIG_TENANT, filter)],
        [
          'durationDistribution',
          () => repository.durationDistribution(BIG_TENANT, filter, [50, 90]),
        ],
      ];
      for (const [name, work] of parts) {
        const { timing, plans } = await timeWithPlans(bench, work);
        add({
          dialect,
          scenario: 'stats',
          case: `one year, repository.${name}`,
          timing,
          notes: ['one of the three reads of the first case'],
          plans,
        });
      }
    }
    return { mixes, sizes };
  } finally {
    await bench.close();
  }
}

// --- Ceiling -------------------------------------------------------------------------------------

interface CeilingInputs {
  readonly listQuery: string;
  readonly listPageBytes: number;
  readonly statsBytes: number;
  readonly exportPageBytes: number;
  readonly bodies: readonly string[];
}

/** Sequential GETs of one page size on one connection, for `seconds`: bytes per second. */
async function streamRepeatedly(url: string, seconds: number): Promise<Figure['stream']> {
  const deadline = performance.now() + seconds * 1000;
  const begun = performance.now();
  let bytes = 0;
  let pages = 0;
  let pageBytes = 0;
  while (performance.now() < deadline) {
    const response = await fetch(url);
    pageBytes = (await response.arrayBuffer()).byteLength;
    bytes += pageBytes;
    pages += 1;
  }
  return { bytesPerSec: bytes / ((performance.now() - begun) / 1000), pages, pageBytes };
}

async function measureCeiling(when: 'before' | 'after', inputs: CeilingInputs): Promise<void> {
  const reads = wants('list') || wants('stats') || wants('export');
  const writes = wants('index-cost') || wants('ingest-under-reads');
  if (!reads && !writes) return;
  const handle = await resources.startServer({ LOG_LEVEL: 'warn' }, 'bench/ceiling-server.ts');
  const { server } = handle;
  console.log(`\nceiling (${when}): bench/ceiling-server.ts, pid ${server.pid}`);
  try {
    if (wants('list')) {
      const { http, cpu } = await measuringCpu(server.pid, false, () =>
        runLoad(server.baseUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          requests: [
            {
              method: 'GET',
              path: `/api/call-history?${inputs.listQuery}&ceilingBytes=${inputs.listPageBytes}`,
            },
          ],
        }),
      );
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `list-page ${when}`,
        ceilingKey: 'list-page',
        http,
        cpu,
        notes: [`${inputs.listPageBytes} B page`, cpuNote(cpu)],
      });
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `list-page paced ${LIST_RATE} req/s ${when}`,
        http: await runPaced(
          server.baseUrl,
          `/api/call-history?${inputs.listQuery}&ceilingBytes=${inputs.listPageBytes}`,
          { rate: LIST_RATE, seconds: SECONDS, connections: CONNECTIONS },
        ),
        notes: ['the latency floor of the paced list phases'],
      });
    }
    if (wants('stats')) {
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `stats-page ${when}`,
        ceilingKey: 'stats-page',
        http: await runLoad(server.baseUrl, {
          connections: STATS_CONNECTIONS,
          seconds: SECONDS,
          requests: [
            { method: 'GET', path: `/api/call-history?ceilingBytes=${inputs.statsBytes}` },
          ],
        }),
        notes: [`${inputs.statsBytes} B page, ${STATS_CONNECTIONS} connection(s)`],
      });
    }
    if (wants('export')) {
      const pageBytes = Math.round(inputs.exportPageBytes);
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `export-stream ${when}`,
        ceilingKey: 'export-stream',
        stream: await streamRepeatedly(
          `${server.baseUrl}/api/call-history?ceilingBytes=${pageBytes}`,
          SECONDS,
        ),
        notes: [
          `${pageBytes} B pages (${EXPORT_PAGE_ROWS} export rows) back to back, 1 connection`,
        ],
      });
    }
    if (wants('index-cost')) {
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `create ${when}`,
        ceilingKey: 'create',
        http: await runLoad(server.baseUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          requests: [createRequest([])],
        }),
        notes: [],
      });
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `complete ${when}`,
        ceilingKey: 'complete',
        http: await runLoad(server.baseUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          requests: [completeRequest(CEILING_CALL_IDS, inputs.bodies, { sent: 0 })],
        }),
        notes: [],
      });
    }
    if (wants('ingest-under-reads')) {
      add({
        dialect: 'ceiling',
        scenario: 'ceiling',
        case: `lifecycle ${when}`,
        ceilingKey: 'lifecycle',
        http: await runLoad(server.baseUrl, {
          connections: CONNECTIONS,
          seconds: SECONDS,
          requests: lifecycleRequests(inputs.bodies),
        }),
        notes: ['create then complete, per connection'],
      });
    }
  } finally {
    await resources.stopServer(`ceiling ${when}`, handle);
  }
}

// --- HTTP scenarios on the fixture ---------------------------------------------------------------

async function httpReads(fixture: Fixture, mixes: readonly ListMix[]): Promise<void> {
  const { dialect } = fixture;
  const handle = await resources.startServer(
    serverEnv(fixture.databaseUrl),
    undefined,
    SERVER_NODE_ARGS,
  );
  const { server } = handle;
  console.log(`\n${dialect}: HTTP reads, server pid ${server.pid} on ${fixture.location}`);
  try {
    if (wants('list')) {
      for (const mix of mixes) {
        const { http, cpu } = await measuringCpu(server.pid, dialect === 'postgres', () =>
          runLoad(server.baseUrl, {
            connections: CONNECTIONS,
            seconds: SECONDS,
            requests: [{ method: 'GET', path: `/api/call-history?${queryString(mix.query)}` }],
          }),
        );
        add({
          dialect,
          scenario: 'list',
          case: mix.key,
          http,
          cpu,
          target: latencyTarget(http.latencyMs.p99, TARGETS.listHttpP99Ms),
          ceilingKey: 'list-page',
          notes: [cpuNote(cpu)],
        });
      }
      // The same clients at a pace a dashboard's users could keep up: latency without the queue
      // that a saturating load builds (at saturation, p99 is mostly waiting behind the others).
      for (const mix of mixes) {
        const http = await runPaced(server.baseUrl, `/api/call-history?${queryString(mix.query)}`, {
          rate: LIST_RATE,
          seconds: SECONDS,
          connections: CONNECTIONS,
        });
        add({
          dialect,
          scenario: 'list',
          case: `${mix.key}, paced ${LIST_RATE} req/s`,
          http,
          target: latencyTarget(http.latencyMs.p99, TARGETS.listHttpP99Ms),
          notes: [],
        });
      }
    }
    if (wants('stats')) {
      const http = await runLoad(server.baseUrl, {
        connections: STATS_CONNECTIONS,
        seconds: SECONDS,
        requests: [
          {
            method: 'GET',
            path: `/api/call-history/stats?${queryString(statsYear(new Date(fixture.marker.anchor)))}`,
          },
        ],
      });
      add({
        dialect,
        scenario: 'stats',
        case: `one year, HTTP, ${STATS_CONNECTIONS} connection(s)`,
        http,
        target: latencyTarget(http.latencyMs.p99, TARGETS.statsP99Ms),
        ceilingKey: 'stats-page',
        notes: [],
      });
    }
    if (wants('export')) {
      for (const format of ['ndjson', 'csv'] as const) {
        await exportFigure(fixture, server, format);
      }
      await exportRepeatFigure(fixture, server);
    }
  } finally {
    await resources.stopServer(`${dialect} reads`, handle);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Later exports' RSS peaks may exceed the first's by this much and still count as flat. */
const EXPORT_FLAT_GROWTH = 1.15;

/**
 * Flat memory: the same NDJSON export EXPORT_REPEATS times back to back, each sampled on its
 * own. Streaming four times the rows must not raise the peak: memory that grew with the rows
 * sent would show as a higher peak on each run.
 */
async function exportRepeatFigure(fixture: Fixture, server: ServerProcess): Promise<void> {
  const peaks: number[] = [];
  let rows = 0;
  for (let run = 0; run < EXPORT_REPEATS; run += 1) {
    const sampler = new RssSampler(server.pid, 100);
    try {
      rows += (await readExport(server.baseUrl, 'ndjson')).rows;
    } finally {
      peaks.push(sampler.stop().peakKiB);
    }
  }
  const growth = Math.max(...peaks.slice(1)) / peaks[0]!;
  add({
    dialect: fixture.dialect,
    scenario: 'export',
    case: `ndjson ×${EXPORT_REPEATS} back to back`,
    target: {
      text: `later RSS peaks ≤ ${EXPORT_FLAT_GROWTH}× the first`,
      ratio: growth / EXPORT_FLAT_GROWTH,
      met: growth <= EXPORT_FLAT_GROWTH,
    },
    notes: [
      `${rows} rows streamed`,
      `RSS peaks ${peaks.map((kib) => (kib / 1024).toFixed(0)).join(' / ')} MiB`,
    ],
  });
}

async function exportFigure(
  fixture: Fixture,
  server: ServerProcess,
  format: 'ndjson' | 'csv',
): Promise<void> {
  // The resident size at rest, just before the export starts.
  const before: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    before.push(residentKiB(server.pid) ?? 0);
    await sleep(100);
  }
  const baselineKiB = [...before].sort((a, b) => a - b)[2]!;
  const sampler = new RssSampler(server.pid, 100);
  let result: ExportResult;
  try {
    result = await readExport(server.baseUrl, format);
  } catch (error) {
    sampler.stop();
    throw error;
  }
  const rss = sampler.stop();
  if (!result.available) {
    add({
      dialect: fixture.dialect,
      scenario: 'export',
      case: format,
      export: result,
      notes: ['export: not available (404)'],
    });
    return;
  }
  const expected = fixture.marker.bigTenantCalls;
  add({
    dialect: fixture.dialect,
    scenario: 'export',
    case: format,
    export: { ...result, rss: { baselineKiB, ...rss } },
    target: {
      text: `≥ ${TARGETS.exportRowsPerSec} rows/s`,
      ratio: result.rowsPerSec / TARGETS.exportRowsPerSec,
      met: result.rowsPerSec >= TARGETS.exportRowsPerSec,
    },
    ceilingKey: 'export-stream',
    notes: [
      `${result.rows} rows${result.rows === expected ? '' : ` (EXPECTED ${expected})`}`,
      `HTTP ${result.status}`,
      `${result.megabytesPerSec.toFixed(1)} MB/s`,
      `first byte ${result.firstByteMs.toFixed(0)} ms`,
      `RSS ${(baselineKiB / 1024).toFixed(0)} → peak ${(rss.peakKiB / 1024).toFixed(0)} MiB`,
    ],
  });
}

// --- Write scenarios -----------------------------------------------------------------------------

async function ingestUnderReads(fixture: Fixture, bodies: readonly string[]): Promise<void> {
  const { dialect } = fixture;
  console.log(`\n${dialect}: ingest with and without concurrent reads (copying the fixture)`);
  const copyStarted = Date.now();
  const databaseUrl = await resources.copyOfFixture(fixture, CALLS);
  console.log(`  copied in ${((Date.now() - copyStarted) / 1000).toFixed(1)} s`);
  const handle = await resources.startServer(serverEnv(databaseUrl), undefined, SERVER_NODE_ARGS);
  const { server } = handle;
  try {
    if (WARMUP_SECONDS > 0) {
      await runLoad(server.baseUrl, {
        connections: CONNECTIONS,
        seconds: WARMUP_SECONDS,
        requests: lifecycleRequests(bodies),
      });
    }
    const alone = await runLoad(server.baseUrl, {
      connections: CONNECTIONS,
      seconds: SECONDS,
      requests: lifecycleRequests(bodies),
    });

    // The reads: one stats request after another, and one export after another, all through
    // the ingest phase.
    const stop = new AbortController();
    const statsPath = `/api/call-history/stats?${queryString(statsYear(new Date(fixture.marker.anchor)))}`;
    const statsDurations: number[] = [];
    let exportRows = 0;
    let exportsDone = 0;
    const ignoreAbort = (error: unknown) => {
      if (!stop.signal.aborted) throw error;
    };
    const statsLoop = (async () => {
      while (!stop.signal.aborted) {
        const begun = performance.now();
        const { complete } = await getStreaming(
          `${server.baseUrl}${statsPath}`,
          () => {},
          stop.signal,
        );
        if (complete) statsDurations.push(performance.now() - begun);
      }
    })().catch(ignoreAbort);
    const exportLoop = (async () => {
      while (!stop.signal.aborted) {
        const result = await readExport(server.baseUrl, 'ndjson', {}, stop.signal);
        exportRows += result.rows;
        if (result.complete) exportsDone += 1;
        if (!result.available) return;
      }
    })().catch(ignoreAbort);
    const withReads = await runLoad(server.baseUrl, {
      connections: CONNECTIONS,
      seconds: SECONDS,
      requests: lifecycleRequests(bodies),
    });
    stop.abort();
    await Promise.all([statsLoop, exportLoop]);
    const stats = summariseDurations(statsDurations);

    add({
      dialect,
      scenario: 'ingest-under-reads',
      case: 'create+complete, alone',
      http: alone,
      ceilingKey: 'lifecycle',
      notes: [],
    });
    add({
      dialect,
      scenario: 'ingest-under-reads',
      case: 'create+complete, with stats+export',
      http: withReads,
      ceilingKey: 'lifecycle',
      notes: [
        `p99 ${(withReads.latencyMs.p99 / Math.max(1, alone.latencyMs.p99)).toFixed(2)}× alone`,
        `meanwhile ${stats.n} stats (p50 ${stats.p50Ms.toFixed(0)} ms, max ${stats.maxMs.toFixed(0)} ms)`,
        `${exportRows} export rows (${exportsDone} full exports)`,
      ],
    });
  } finally {
    await resources.stopServer(`${dialect} ingest under reads`, handle);
  }
}

/** How many calls wait for the search index right now (SQLite T1600, PostgreSQL 2026-12-07T1000). */
async function callsWaitingForIndex(databaseUrl: string): Promise<number | undefined> {
  if (databaseUrl.startsWith('postgres')) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const table = await client.query<{ name: string | null }>(
        `SELECT to_regclass('call_search_pending')::text AS name`,
      );
      if (table.rows[0]?.name == null) return undefined;
      const { rows } = await client.query<{ n: string }>(
        'SELECT count(*) AS n FROM call_search_pending',
      );
      return Number(rows[0]!.n);
    } finally {
      await client.end();
    }
  }
  if (!databaseUrl.startsWith('sqlite:')) return undefined;
  const db = new BetterSqlite3(databaseUrl.slice('sqlite:'.length), { readonly: true });
  try {
    const exists = db
      .prepare(`SELECT 1 FROM sqlite_master WHERE name = 'calls_search_pending'`)
      .pluck()
      .get();
    return exists === undefined
      ? undefined
      : Number(db.prepare('SELECT count(*) FROM calls_search_pending').pluck().get());
  } finally {
    db.close();
  }
}

/**
 * Both dialects index calls in batches after their writes, so a phase can end with calls not
 * yet indexed; a search indexes them before it reads. How long the first search after a phase
 * takes is that backlog's cost, and it is charged to the phase.
 */
async function searchCatchUpMs(baseUrl: string): Promise<number> {
  const search = async () => {
    const started = performance.now();
    const answer = await fetch(`${baseUrl}/api/call-history?q=${SEARCH_TERMS.common.word}&limit=1`);
    if (answer.status !== 200) throw new Error(`the catch-up search answered ${answer.status}`);
    await answer.arrayBuffer();
    return performance.now() - started;
  };
  const first = await search();
  // The same search again, with nothing left to index: what the search itself takes.
  return Math.max(0, first - (await search()));
}

/** Requests a phase had answered with a 2xx (autocannon's total counts answers, not errors). */
function answered(result: LoadResult): number {
  const count = result.totalRequests - result.non2xx;
  if (count <= 0) throw new Error('a phase answered no request');
  return count;
}

interface IngestPhases {
  readonly create: LoadResult;
  readonly complete: LoadResult;
  readonly catchUpMs: { readonly create: number; readonly complete: number };
  /**
   * The server's CPU time (every thread) per request answered, from the phase's start to the
   * end of its catch-up search: what the work costs, whichever thread does it and whenever.
   */
  readonly cpuMicrosPerRequest: { readonly create: number; readonly complete: number };
  /** The most calls left waiting for the search index at the end of a slice. */
  readonly waiting: { readonly create?: number; readonly complete?: number };
}

/** One server of the index-cost comparison: an empty database with or without the index. */
interface IngestSide {
  readonly withIndex: boolean;
  readonly databaseUrl: string;
  readonly handle: ServerHandle;
  /** The calls its create phase made, for its complete phase. */
  readonly ids: string[];
  readonly completions: { sent: number };
}

/** What one side's slices of a phase add up to. */
interface PhaseTotals {
  readonly slices: LoadResult[];
  catchUpMs: number;
  cpuMicros: number;
  /** The most calls left waiting for the index at a slice's end. */
  waiting?: number;
}

/**
 * Both servers run at once, each loaded in turn: a phase is INDEX_COST_SLICES slices of
 * SECONDS / INDEX_COST_SLICES per server, alternating which goes first. Flat out on two cores
 * with the load generator, a run's rate drifts with the machine by more than the index costs
 * (the same code's completions lost -5 to 37 % to it in six runs, one server after the
 * other); in turns a few seconds apart both servers see the same drift. After each of its
 * slices a server is searched until its backlog is indexed, so no indexing spills into the
 * other's turn.
 */
async function ingestInTurns(
  dialect: Dialect,
  bodies: readonly string[],
): Promise<{ with: IngestPhases; without: IngestPhases }> {
  const sides: IngestSide[] = [];
  try {
    for (const withIndex of [true, false]) {
      const databaseUrl = await resources.emptyDatabase(dialect, withIndex);
      const handle = await resources.startServer(
        serverEnv(databaseUrl),
        undefined,
        SERVER_NODE_ARGS,
      );
      sides.push({ withIndex, databaseUrl, handle, ids: [], completions: { sent: 0 } });
    }
    if (WARMUP_SECONDS > 0) {
      for (const side of sides) {
        await runLoad(side.handle.server.baseUrl, {
          connections: CONNECTIONS,
          seconds: WARMUP_SECONDS,
          requests: [createRequest([])],
        });
        await searchCatchUpMs(side.handle.server.baseUrl);
      }
    }
    const create = await phaseInTurns(sides, (side) => createRequest(side.ids));
    for (const side of sides) {
      if (side.ids.length === 0) throw new Error(`${dialect}: the create phase created nothing`);
    }
    const complete = await phaseInTurns(sides, (side) =>
      completeRequest(side.ids, bodies, side.completions),
    );
    const phasesOf = (index: number): IngestPhases => {
      const [created, completed] = [create[index]!, complete[index]!];
      return {
        create: combined(created),
        complete: combined(completed),
        catchUpMs: { create: created.catchUpMs, complete: completed.catchUpMs },
        cpuMicrosPerRequest: {
          create: created.cpuMicros / answered(combined(created)),
          complete: completed.cpuMicros / answered(combined(completed)),
        },
        waiting: { create: created.waiting, complete: completed.waiting },
      };
    };
    return { with: phasesOf(0), without: phasesOf(1) };
  } finally {
    for (const side of sides) {
      await resources.stopServer(
        `${dialect} ${side.withIndex ? 'with' : 'without'} index`,
        side.handle,
      );
    }
  }
}

const INDEX_COST_SLICES = 5;

async function phaseInTurns(
  sides: readonly IngestSide[],
  requestOf: (side: IngestSide) => AutocannonRequest,
): Promise<PhaseTotals[]> {
  // The server's CPU, and on PostgreSQL the database's too, where its indexing runs: in turns
  // only one side is loaded, so what PostgreSQL does meanwhile is that side's (and its share of
  // the checkpoints and vacuums its writes cause).
  const cpuOf = (pid: number) =>
    cpuMicros(pid) + (sides[0]!.databaseUrl.startsWith('postgres') ? postgresCpuMicros() : 0);
  const totals = sides.map((): PhaseTotals => ({ slices: [], catchUpMs: 0, cpuMicros: 0 }));
  const requests = sides.map(requestOf);
  for (let slice = 0; slice < INDEX_COST_SLICES; slice++) {
    const order = slice % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) {
      const { server } = sides[index]!.handle;
      const total = totals[index]!;
      const cpuBefore = cpuOf(server.pid);
      total.slices.push(
        await runLoad(server.baseUrl, {
          connections: CONNECTIONS,
          seconds: Math.max(1, Math.round(SECONDS / INDEX_COST_SLICES)),
          requests: [requests[index]!],
        }),
      );
      const waiting = await callsWaitingForIndex(sides[index]!.databaseUrl);
      if (waiting !== undefined) total.waiting = Math.max(total.waiting ?? 0, waiting);
      total.catchUpMs += await searchCatchUpMs(server.baseUrl);
      total.cpuMicros += cpuOf(server.pid) - cpuBefore;
    }
  }
  return totals;
}

/**
 * A phase's slices as one result: its rate is the requests answered over the slices' seconds
 * plus the catch-up searches' time; its latencies the slowest slice's.
 */
function combined(totals: PhaseTotals): LoadResult {
  const { slices } = totals;
  const seconds = slices.reduce((sum, slice) => sum + slice.seconds, 0);
  const count = (pick: (slice: LoadResult) => number) =>
    slices.reduce((sum, slice) => sum + pick(slice), 0);
  const worst = (pick: (slice: LoadResult) => number) => Math.max(...slices.map(pick));
  const statusCodes: Record<string, number> = {};
  for (const slice of slices) {
    for (const [code, n] of Object.entries(slice.statusCodes)) {
      statusCodes[code] = (statusCodes[code] ?? 0) + n;
    }
  }
  const totalRequests = count((slice) => slice.totalRequests);
  const non2xx = count((slice) => slice.non2xx);
  return {
    connections: slices[0]!.connections,
    seconds,
    reqPerSec: (totalRequests - non2xx) / (seconds + totals.catchUpMs / 1000),
    latencyMs: {
      p50: worst((slice) => slice.latencyMs.p50),
      p90: worst((slice) => slice.latencyMs.p90),
      p99: worst((slice) => slice.latencyMs.p99),
      max: worst((slice) => slice.latencyMs.max),
    },
    totalRequests,
    errors: count((slice) => slice.errors),
    non2xx,
    statusCodes,
    bytesPerSec: count((slice) => slice.bytesPerSec * slice.seconds) / seconds,
  };
}

async function indexCost(dialect: Dialect, bodies: readonly string[]): Promise<void> {
  console.log(`\n${dialect}: ingest with and without the search index (empty databases)`);
  const phases = await ingestInTurns(dialect, bodies);
  for (const phase of ['create', 'complete'] as const) {
    const withIndex = phases.with[phase];
    const without = phases.without[phase];
    const cost = 1 - withIndex.reqPerSec / without.reqPerSec;
    add({
      dialect,
      scenario: 'index-cost',
      case: `${phase}, without search index`,
      http: without,
      ceilingKey: phase,
      notes: [],
    });
    add({
      dialect,
      scenario: 'index-cost',
      case: `${phase}, with search index`,
      http: withIndex,
      ceilingKey: phase,
      target: indexCostTarget(cost),
      notes: [
        `index costs ${(cost * 100).toFixed(1)} % of req/s`,
        `p99 ${withIndex.latencyMs.p99} vs ${without.latencyMs.p99} ms`,
        `indexing left for the searches after the phase's slices ${phases.with.catchUpMs[phase].toFixed(0)} vs ${phases.without.catchUpMs[phase].toFixed(0)} ms (in the rates)`,
        ...(phases.with.waiting[phase] === undefined
          ? []
          : [`up to ${phases.with.waiting[phase]} calls waiting for the index at a slice's end`]),
      ],
    });
  }
  // A call is ingested as its start and, minutes later, its end: the two phases above, each
  // call's start indexed before its end re-indexes it. Its cost is the server time of both.
  const microsPerCall = (runs: IngestPhases) =>
    1e6 / runs.create.reqPerSec + 1e6 / runs.complete.reqPerSec;
  const withIndex = microsPerCall(phases.with);
  const without = microsPerCall(phases.without);
  const cost = 1 - without / withIndex;
  add({
    dialect,
    scenario: 'index-cost',
    case: 'per call (start + end), with search index',
    target: indexCostTarget(cost),
    notes: [
      `index costs ${(cost * 100).toFixed(1)} % of calls/s`,
      `${withIndex.toFixed(0)} vs ${without.toFixed(0)} µs of server time per call`,
    ],
  });
  // The same costs as CPU time per request: where the machine is CPU-bound, what the rate
  // loses (1 - without / with), whatever share of the cores the load generator takes. The
  // server's CPU, and on PostgreSQL the database's processes' too (phaseInTurns).
  const cpu = (runs: IngestPhases) => runs.cpuMicrosPerRequest;
  const cpuRows: [string, number, number][] = [
    ['create', cpu(phases.with).create, cpu(phases.without).create],
    ['complete', cpu(phases.with).complete, cpu(phases.without).complete],
    [
      'per call (start + end)',
      cpu(phases.with).create + cpu(phases.with).complete,
      cpu(phases.without).create + cpu(phases.without).complete,
    ],
  ];
  const whose = dialect === 'postgres' ? 'server + PostgreSQL' : 'server';
  for (const [name, withMicros, withoutMicros] of cpuRows) {
    const cpuCost = 1 - withoutMicros / withMicros;
    add({
      dialect,
      scenario: 'index-cost',
      case: `${name}, ${whose} CPU with search index`,
      target: indexCostTarget(cpuCost),
      notes: [
        `index costs ${(cpuCost * 100).toFixed(1)} % of the ${whose} CPU per request`,
        `${withMicros.toFixed(0)} vs ${withoutMicros.toFixed(0)} µs of CPU per request`,
      ],
    });
  }
}

// --- Output --------------------------------------------------------------------------------------

function applyCeilings(): Record<string, number> {
  const means: Record<string, number> = {};
  const ceilings = figures.filter((f) => f.dialect === 'ceiling' && f.ceilingKey !== undefined);
  for (const key of new Set(ceilings.map((f) => f.ceilingKey!))) {
    const rates = ceilings
      .filter((f) => f.ceilingKey === key)
      .map((f) => (f.stream !== undefined ? f.stream.bytesPerSec : f.http!.reqPerSec));
    means[key] = rates.reduce((sum, rate) => sum + rate, 0) / rates.length;
  }
  for (const figure of figures) {
    if (figure.dialect === 'ceiling' || figure.ceilingKey === undefined) continue;
    const base = means[figure.ceilingKey];
    if (base === undefined) continue;
    if (figure.http !== undefined) figure.vsCeiling = figure.http.reqPerSec / base;
    if (figure.export?.available) {
      figure.vsCeiling = figure.export.bytes / figure.export.seconds / base;
    }
  }
  return means;
}

function table(): string {
  const header = [
    'dialect',
    'scenario',
    'case',
    'rate',
    'p50 ms',
    'p99 ms',
    'target',
    'vs target',
    'vs ceiling',
    'notes',
  ];
  const fixed = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
  const rows = figures.map((f) => {
    const p50 = f.http?.latencyMs.p50 ?? f.timing?.p50Ms;
    const p99 = f.http?.latencyMs.p99 ?? f.timing?.p99Ms;
    const errors =
      f.http !== undefined && f.http.errors + f.http.non2xx > 0
        ? [`${f.http.errors} errors, ${f.http.non2xx} non-2xx`]
        : [];
    return [
      f.dialect,
      f.scenario,
      f.case,
      rateText(f),
      p50 === undefined ? '' : fixed(p50),
      p99 === undefined ? '' : fixed(p99),
      f.target?.text ?? '',
      f.target === undefined ? '' : `${f.target.ratio.toFixed(2)}× ${f.target.met ? 'ok' : 'MISS'}`,
      f.vsCeiling === undefined ? '' : `${(f.vsCeiling * 100).toFixed(1)} %`,
      [...errors, ...f.notes].join('; '),
    ];
  });
  const all = [header, ...rows];
  const numeric = new Set([3, 4, 5, 7, 8]);
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, column) => (numeric.has(column) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function fileSystemType(dir: string): string {
  const known: Record<number, string> = { 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs' };
  const type = fs.statfsSync(dir).type;
  return known[type] ?? `0x${type.toString(16)}`;
}

// --- Main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const onSignal = () => {
    void resources.cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const loadAtStart = os.loadavg();
  console.log(
    `query bench: ${CALLS.toLocaleString('en')} calls, dialects ${DIALECTS.join(', ')}, ` +
      `scenarios ${SCENARIOS.join(', ')}; ${SECONDS} s per phase, ${CONNECTIONS} connections, ` +
      `load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`,
  );

  const fixtures: Fixture[] = [];
  for (const dialect of DIALECTS) {
    fixtures.push(
      dialect === 'sqlite'
        ? await ensureSqliteFixture(CALLS)
        : await ensurePostgresFixture(CALLS, ADMIN_URL),
    );
  }
  for (const fixture of fixtures) {
    const m = fixture.marker;
    console.log(
      `${fixture.dialect} fixture ${fixture.location}: ${m.calls} calls, ${m.bigTenantCalls} in ` +
        `tenant "${BIG_TENANT}", anchor ${m.anchor}, ` +
        `${fixture.seededNow ? 'seeded now' : 'cached'} (seeding took ${m.seedSeconds.toFixed(0)} s); ` +
        `terms: ${Object.entries(m.terms)
          .map(
            ([kind, t]) =>
              `${kind} "${t.word}" in ${t.calls} calls (${t.bigTenantCalls} in the tenant)`,
          )
          .join(', ')}`,
    );
  }

  const bodies = completionBodies(32);
  try {
    const measured: Array<{ fixture: Fixture; mixes: ListMix[]; sizes: AnswerSizes }> = [];
    for (const fixture of fixtures) measured.push({ fixture, ...(await inProcess(fixture)) });

    // The ceiling answers pages the size of the first dialect's answers.
    const first = measured[0]!;
    const pageSizes = Object.values(first.sizes.listPageBytes).sort((a, b) => a - b);
    const ceilingInputs: CeilingInputs = {
      listQuery: queryString(first.mixes[1]!.query),
      listPageBytes: pageSizes[Math.floor(pageSizes.length / 2)]!,
      statsBytes: first.sizes.statsBytes,
      exportPageBytes: first.sizes.exportPageBytes,
      bodies,
    };
    await measureCeiling('before', ceilingInputs);

    for (const { fixture, mixes } of measured) {
      if (wants('list') || wants('stats') || wants('export')) await httpReads(fixture, mixes);
      if (wants('ingest-under-reads')) await ingestUnderReads(fixture, bodies);
      if (wants('index-cost')) await indexCost(fixture.dialect, bodies);
    }
    await measureCeiling('after', ceilingInputs);
  } finally {
    await resources.cleanUp();
  }

  const ceilingMeans = applyCeilings();
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
      postgres: DIALECTS.includes('postgres') ? await postgresVersion(ADMIN_URL) : undefined,
      tmpFileSystem: fileSystemType(os.tmpdir()),
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg(),
    },
    settings: {
      calls: CALLS,
      dialects: DIALECTS,
      scenarios: SCENARIOS,
      secondsPerPhase: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
      statsConnections: STATS_CONNECTIONS,
      listRate: LIST_RATE,
      dbIterations: DB_ITERATIONS,
      server: serverSettings(fixtures),
      serverNodeArgs: SERVER_NODE_ARGS,
    },
    targets: TARGETS,
    fixtures: fixtures.map((f) => ({
      dialect: f.dialect,
      location: f.location,
      seededNow: f.seededNow,
      ...f.marker,
    })),
    ceilingMeans,
    figures,
    serverProblems: resources.serverProblems,
  };

  console.log(`\n${table()}\n`);
  printPlansOfMisses();
  for (const problem of resources.serverProblems) {
    console.log(`${problem.where}: the server logged errors:\n  ${problem.lines.join('\n  ')}`);
  }
  if (figures.some((f) => f.scenario === 'export' && f.export?.available === false)) {
    console.log('export: not available (the server answered 404)');
  }

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `query-${date.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${path.relative(REPO_ROOT, file)}`);
}

/** What the servers ran with, as the server's own config reader sees the bench's variables. */
function serverSettings(fixtures: readonly Fixture[]) {
  return Object.fromEntries(
    fixtures.map((fixture) => {
      const config = loadConfig(serverEnv(fixture.databaseUrl));
      return [
        fixture.dialect,
        fixture.dialect === 'sqlite'
          ? { ...config.sqlite, writeBatchMax: config.writeBatchMax }
          : config.postgres,
      ];
    }),
  );
}

/** The plans of in-process cases that missed their target: where the time goes. */
function printPlansOfMisses(): void {
  for (const figure of figures) {
    if (figure.plans === undefined || figure.target === undefined || figure.target.met) continue;
    console.log(`plans of ${figure.dialect} ${figure.scenario} "${figure.case}" (missed):`);
    for (const plan of figure.plans) {
      const sql = plan.sql.replace(/\s+/g, ' ');
      console.log(`  SQL: ${sql.length > 400 ? `${sql.slice(0, 400)}…` : sql}`);
      console.log(`  parameters: ${JSON.stringify(plan.parameters)}`);
      console.log(`${plan.plan.replace(/^/gm, '    ')}\n`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  void resources.cleanUp().finally(() => process.exit(1));
});
