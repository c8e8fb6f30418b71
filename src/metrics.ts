// Prometheus metrics (served at /metrics by src/http/metrics.plugin.ts). Each composition
// (createServices) owns its Registry, never prom-client's global one, so that several apps in one
// process (the tests) do not collide. No label ever carries caller data: requests are counted by
// their route's pattern (/api/call-history/:id), never by the URL, whose ids, callSids and query
// strings may name a caller.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DatabaseHandle, PoolStats } from './db/database.js';
import type { GroupCommitQueue } from './db/transactor.js';
import type { ConcurrencyGate } from './lib/concurrency-gate.js';

/** Where a write came from: POST /api/call-history and PATCH …/status, or the two webhooks. */
export type IngestSource = 'api' | 'webhook';
/**
 * created, merged (an existing call changed) and duplicate (a repeat that changed nothing, or a
 * replayed signed delivery) are what the call service did; rejected is a 4xx answer (invalid
 * body, 409, 413, 415, 401/403, 429…), most of which the service never sees.
 */
export type IngestMetricOutcome = 'created' | 'merged' | 'duplicate' | 'rejected';

const INGEST_SOURCES: readonly IngestSource[] = ['api', 'webhook'];
const INGEST_OUTCOMES: readonly IngestMetricOutcome[] = [
  'created',
  'merged',
  'duplicate',
  'rejected',
];

/** Seconds; finer than prom-client's default at the low end, where most requests finish. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Metrics {
  readonly registry: Registry;
  /** A finished request; `route` is the matched pattern, or 'unmatched'. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  countIngest(source: IngestSource, outcome: IngestMetricOutcome): void;
}

export interface MetricsDeps {
  readonly database: Pick<DatabaseHandle, 'poolStats'>;
  /**
   * SQLite's group commits: the main thread's and the writer thread's (none on PostgreSQL).
   * The metrics add them up.
   */
  readonly groupCommits: readonly GroupCommitQueue[];
  /** Where searches and stats wait their turn (HEAVY_READS_AT_ONCE); none when unlimited. */
  readonly heavyReads?: ConcurrencyGate | undefined;
}

export function createMetrics({ database, groupCommits, heavyReads }: MetricsDeps): Metrics {
  const registry = new Registry();
  // Process figures (CPU, memory, GC, handles) and nodejs_eventloop_lag_* (how long a callback
  // waits for the event loop: what a slow synchronous SQLite read costs everyone else).
  collectDefaultMetrics({ register: registry });

  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to the end of its answer, by method, route pattern and status',
    labelNames,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const ingest = new Counter({
    name: 'callmind_ingest_total',
    help: 'Call writes (creates, status updates, webhooks) by source and outcome',
    labelNames: ['source', 'outcome'] as const,
    registers: [registry],
  });
  // Every series from the start, so that rate() and absence alerts see zeros, not gaps.
  for (const source of INGEST_SOURCES) {
    for (const outcome of INGEST_OUTCOMES) ingest.inc({ source, outcome }, 0);
  }

  registerDatabaseMetrics(registry, database, groupCommits);
  if (heavyReads !== undefined) registerHeavyReadMetrics(registry, heavyReads);

  return {
    registry,
    observeRequest(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      durations.observe(labels, seconds);
    },
    countIngest(source, outcome) {
      ingest.inc({ source, outcome });
    },
  };
}

/** Searches and stats running and waiting their turn (HEAVY_READS_AT_ONCE), read on each scrape. */
function registerHeavyReadMetrics(registry: Registry, heavyReads: ConcurrencyGate): void {
  new Gauge({
    name: 'callmind_heavy_reads_running',
    help: `Searches and stats being answered (at most HEAVY_READS_AT_ONCE, here ${heavyReads.limit})`,
    registers: [registry],
    collect() {
      this.set(heavyReads.active);
    },
  });
  new Gauge({
    name: 'callmind_heavy_reads_waiting',
    help: 'Searches and stats waiting for their turn (above 0: HEAVY_READS_AT_ONCE are running)',
    registers: [registry],
    collect() {
      this.set(heavyReads.queued);
    },
  });
}

/**
 * Read on each scrape. PostgreSQL: the pool's open, idle and waiting counts (waiting above 0
 * means DATABASE_POOL_MAX is the bottleneck). SQLite has one writer: what shows its load is the
 * group commit's queue and batch sizes (rate of writes over rate of commits), and the reads
 * queued on the reader threads.
 */
function registerDatabaseMetrics(
  registry: Registry,
  database: Pick<DatabaseHandle, 'poolStats'>,
  groupCommits: readonly GroupCommitQueue[],
): void {
  const gauge = (name: string, help: string, read: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const value = read();
        if (value !== undefined) this.set(value);
      },
    });
  const pool = <D extends PoolStats['dialect']>(dialect: D) => {
    const stats = database.poolStats?.();
    return stats?.dialect === dialect ? (stats as Extract<PoolStats, { dialect: D }>) : undefined;
  };

  const dialect = database.poolStats?.().dialect;
  if (dialect === 'postgres') {
    gauge(
      'callmind_pg_pool_connections',
      'PostgreSQL connections open in this instance pool, idle or in use',
      () => pool('postgres')?.total,
    );
    gauge(
      'callmind_pg_pool_idle_connections',
      'PostgreSQL connections open and idle in this instance pool',
      () => pool('postgres')?.idle,
    );
    gauge(
      'callmind_pg_pool_waiting_requests',
      'Queries waiting for a PostgreSQL connection (the pool is exhausted while above 0)',
      () => pool('postgres')?.waiting,
    );
  } else if (dialect === 'sqlite') {
    gauge(
      'callmind_sqlite_reader_threads',
      'SQLite reader threads (0: reads run on the main thread)',
      () => pool('sqlite')?.readers,
    );
    gauge(
      'callmind_sqlite_reads_in_flight',
      'Reads sent to the SQLite reader threads and not answered yet (running or queued)',
      () => pool('sqlite')?.readsInFlight,
    );
  }

  if (groupCommits.length === 0) return;
  const sum = (read: (queue: GroupCommitQueue) => number) => () =>
    groupCommits.reduce((total, queue) => total + read(queue), 0);
  gauge(
    'callmind_sqlite_write_queue',
    'Writes waiting for an SQLite group commit (on the writer thread: sent and not answered)',
    sum((queue) => queue.queued),
  );
  // Counters kept by the transactor itself, copied on each scrape.
  const copied = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  copied(
    'callmind_sqlite_group_commits_total',
    'SQLite group commits (transactions; each is one fsync with SQLITE_SYNCHRONOUS=full)',
    sum((queue) => queue.stats.batches),
  );
  copied(
    'callmind_sqlite_group_commit_writes_total',
    'Writes committed by SQLite group commits (over group_commits_total: the mean batch size)',
    sum((queue) => queue.stats.writes),
  );
}
