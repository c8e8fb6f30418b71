// The server: loadConfig → openDatabase → migrate → createServices → buildApp → listen.
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, type DatabaseHandle } from './db/database.js';
import { migrateDatabase } from './db/migrator.js';
import { buildApp, type App } from './http/app.js';
import { startSweeper } from './modules/maintenance/maintenance.service.js';
import { createServices } from './services.js';

const SHUTDOWN_GRACE_MS = 10_000;
/**
 * How long in-flight requests get to finish after a shutdown signal. A client that stops reading
 * (an export it paused) would otherwise hold its response, and the process, open until the grace
 * period above kills it: after this its connection is closed and shutdown goes on.
 */
const SHUTDOWN_DRAIN_MS = 5_000;
/**
 * After the connections are closed, how long the database must have had nothing in flight
 * before it is closed, and how long to wait for that at most. A request whose client hung up is
 * no longer a connection, but its handler may still be running, between two of its queries:
 * closing the pool under it made its next query fail ("Cannot use a pool after calling end"),
 * logged as an error at every stop under load.
 */
const SHUTDOWN_QUIET_MS = 50;
const SHUTDOWN_QUIET_MAX_MS = 2_000;

export interface RunningServer {
  readonly app: App;
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Calls indexed for search per round, at most (with 3 kB transcripts about 0.1 s of work on
 * SQLite and 1 s on PostgreSQL; with 12 kB, 0.3 s and 4-6 s), in batches of SEARCH_INDEX_BATCH:
 * a backlog drains over the following rounds, and a stop waits for the batch in hand only.
 */
const SEARCH_INDEX_ROUND_CALLS = 2_000;

export async function startServer(config: Config): Promise<RunningServer> {
  const database = openDatabase(config);
  try {
    await migrateDatabase(config, database);
    const services = createServices({ config, database });
    await services.assertCanAuthenticate();
    await services.writesReady();
    const app = await buildApp({ config, services });
    const address = await app.listen({ port: config.port, host: config.host });
    app.log.info(
      { dialect: database.dialect, database: database.description, devMode: config.devMode },
      `callmind listening on ${address}`,
    );
    // Sweeps are idempotent and batch-bounded, so every instance may run them (on PostgreSQL,
    // SKIP LOCKED keeps instances off each other's rows); SWEEP_INTERVAL_SECONDS=0 opts one out.
    const sweeper =
      config.maintenance.sweepIntervalMs > 0
        ? startSweeper(
            (stopping) => services.maintenance.sweep(stopping),
            config.maintenance.sweepIntervalMs,
            (result) => {
              if (result instanceof Error) app.log.warn({ err: result }, 'sweep failed');
              else if (result.ended + result.deleted > 0) app.log.info(result, 'swept calls');
            },
          )
        : undefined;
    // PostgreSQL's rollup triggers insert delta rows; stats reads sum the rows still pending, so
    // they are compacted every few seconds (a try-lock lets one instance at a time do it).
    // SQLite updates its rollups in place and has nothing to compact.
    const compactor =
      database.dialect === 'postgres' && config.maintenance.rollupCompactIntervalMs > 0
        ? startSweeper(
            (stopping) => services.maintenance.compactRollups(stopping),
            config.maintenance.rollupCompactIntervalMs,
            (result) => {
              if (result instanceof Error)
                app.log.warn({ err: result }, 'rollup compaction failed');
            },
          )
        : undefined;
    // Calls are added to the search index in batches, off their own commits (T1600 on SQLite,
    // 2026-12-07T1000 on PostgreSQL, where every server sharing the database takes a share);
    // calls still pending at a stop stay noted in the database and are indexed later.
    const searchIndexer = startSweeper(
      (stopping) =>
        services.calls.indexPendingSearch({ maxCalls: SEARCH_INDEX_ROUND_CALLS, stopping }),
      config.maintenance.searchIndexIntervalMs,
      (result) => {
        if (result instanceof Error) app.log.warn({ err: result }, 'search indexing failed');
      },
    );
    return {
      app,
      address,
      close: async () => {
        // Stops taking requests at once (new connections are refused, a request on an open
        // keep-alive connection gets 503) and lets in-flight ones finish, for SHUTDOWN_DRAIN_MS
        // at most. The background rounds are stopped alongside, not first: a search-index round
        // under load can take a second, and a server that waited for it before closing kept
        // acknowledging creates sent well after the signal.
        const cutOff = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_DRAIN_MS);
        const stopped = await Promise.allSettled([
          app.close().finally(() => clearTimeout(cutOff)),
          sweeper?.stop(),
          compactor?.stop(),
          searchIndexer.stop(),
        ]);
        const failure = stopped.find((outcome) => outcome.status === 'rejected');
        if (failure !== undefined) throw failure.reason;
        await services.transactor.drain();
        await databaseQuiet(database);
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * Resolves once the database has had no query in flight for SHUTDOWN_QUIET_MS, or after
 * SHUTDOWN_QUIET_MAX_MS at most.
 */
async function databaseQuiet(database: DatabaseHandle): Promise<void> {
  const busy = () => {
    const stats = database.poolStats?.();
    if (stats === undefined) return false;
    return stats.dialect === 'sqlite'
      ? stats.readsInFlight > 0
      : stats.total > stats.idle || stats.waiting > 0;
  };
  const giveUpAt = Date.now() + SHUTDOWN_QUIET_MAX_MS;
  let quietSince = Date.now();
  while (Date.now() < giveUpAt) {
    if (busy()) quietSince = Date.now();
    else if (Date.now() - quietSince >= SHUTDOWN_QUIET_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const server = await startServer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      server.app.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
