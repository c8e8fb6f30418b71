// Runs the frozen migrations in src/db/migrations with Kysely's Migrator. Migrations are listed
// here explicitly (not read from disk) so the built server and the tests run the same set.
import { Migrator, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import * as initial from './migrations/2026-11-25T1100_initial.js';
import * as apiKeys from './migrations/2026-11-25T1300_api_keys.js';
import * as callFieldSources from './migrations/2026-11-25T1400_call_field_sources.js';
import * as webhookSigning from './migrations/2026-11-25T1500_webhook_signing.js';
import * as searchAndEndReason from './migrations/2026-12-04T1000_search_and_end_reason.js';
import * as tenantSettings from './migrations/2026-12-04T1100_tenant_settings.js';
import * as searchVocabulary from './migrations/2026-12-04T1200_search_vocabulary.js';
import * as callFacets from './migrations/2026-12-04T1300_call_facets.js';
import * as callRollups from './migrations/2026-12-04T1400_call_rollups.js';
import * as postgresSearchTable from './migrations/2026-12-04T1500_postgres_search_table.js';
import * as sqliteDeferredSearchIndex from './migrations/2026-12-04T1600_sqlite_deferred_search_index.js';
import * as rollupAutovacuum from './migrations/2026-12-05T1000_rollup_autovacuum.js';
import * as providerWebhooks from './migrations/2026-12-05T1100_provider_webhooks.js';
import * as sqliteSearchFile from './migrations/2026-12-05T1200_sqlite_search_file.js';
import * as postgresJsonWordsPlpgsql from './migrations/2026-12-06T1000_postgres_json_words_plpgsql.js';
import * as postgresSearchDocumentInline from './migrations/2026-12-06T1200_postgres_search_document_inline.js';
import * as postgresDeferredSearchIndex from './migrations/2026-12-07T1000_postgres_deferred_search_index.js';
import {
  openDatabase,
  type DatabaseConfig,
  type DatabaseHandle,
  type Dialect,
} from './database.js';
import type { Database } from './types.js';

export type MigrationDialect = Dialect;

export interface MigrationModule {
  up(db: Kysely<any>, dialect: MigrationDialect): Promise<void>;
  down?(db: Kysely<any>, dialect: MigrationDialect): Promise<void>;
}

const MIGRATIONS: Readonly<Record<string, MigrationModule>> = {
  '2026-11-25T1100_initial': initial,
  '2026-11-25T1300_api_keys': apiKeys,
  '2026-11-25T1400_call_field_sources': callFieldSources,
  '2026-11-25T1500_webhook_signing': webhookSigning,
  '2026-12-04T1000_search_and_end_reason': searchAndEndReason,
  '2026-12-04T1100_tenant_settings': tenantSettings,
  '2026-12-04T1200_search_vocabulary': searchVocabulary,
  '2026-12-04T1300_call_facets': callFacets,
  '2026-12-04T1400_call_rollups': callRollups,
  '2026-12-04T1500_postgres_search_table': postgresSearchTable,
  '2026-12-04T1600_sqlite_deferred_search_index': sqliteDeferredSearchIndex,
  '2026-12-05T1000_rollup_autovacuum': rollupAutovacuum,
  '2026-12-05T1100_provider_webhooks': providerWebhooks,
  '2026-12-05T1200_sqlite_search_file': sqliteSearchFile,
  '2026-12-06T1000_postgres_json_words_plpgsql': postgresJsonWordsPlpgsql,
  '2026-12-06T1200_postgres_search_document_inline': postgresSearchDocumentInline,
  '2026-12-07T1000_postgres_deferred_search_index': postgresDeferredSearchIndex,
};

export function createMigrator(
  db: Kysely<Database>,
  dialect: MigrationDialect,
  modules: Readonly<Record<string, MigrationModule>> = MIGRATIONS,
): Migrator {
  const migrations: Record<string, Migration> = {};
  for (const [name, module] of Object.entries(modules)) {
    migrations[name] = {
      up: async (trx) => {
        // A migration that backfills a large table takes as long as it takes: the request
        // timeout (DATABASE_STATEMENT_TIMEOUT_MS) would abort it, and with it the server's start.
        // SET LOCAL: it ends with the migration's transaction.
        if (dialect === 'postgres') await sql`SET LOCAL statement_timeout = 0`.execute(trx);
        await module.up(trx, dialect);
      },
      ...(module.down
        ? {
            down: async (trx) => {
              if (dialect === 'postgres') await sql`SET LOCAL statement_timeout = 0`.execute(trx);
              await module.down!(trx, dialect);
            },
          }
        : {}),
    };
  }
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
}

/** Applies every pending migration; throws (with the failing migration's name) on error. */
export async function migrateToLatest(
  db: Kysely<Database>,
  dialect: MigrationDialect,
  modules: Readonly<Record<string, MigrationModule>> = MIGRATIONS,
): Promise<string[]> {
  const { error, results }: MigrationResultSet = await createMigrator(
    db,
    dialect,
    modules,
  ).migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const reason = error instanceof Error ? error.message : JSON.stringify(error);
    throw new Error(`Migration ${failed} failed: ${reason}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Brings an open database up to date. On PostgreSQL the migrations run on a connection of their
 * own without the request timeouts (DATABASE_STATEMENT_TIMEOUT_MS, and the client's read
 * timeout a second later), which would abort a backfill of a large table and with it the
 * server's start. SQLite has no such timeouts, and an in-memory database has only the one
 * connection.
 */
export async function migrateDatabase(
  config: DatabaseConfig,
  database: DatabaseHandle,
  modules: Readonly<Record<string, MigrationModule>> = MIGRATIONS,
): Promise<string[]> {
  if (database.dialect === 'sqlite') return migrateToLatest(database.db, 'sqlite', modules);
  const unbounded = openDatabase(config, { withoutTimeouts: true });
  try {
    return await migrateToLatest(unbounded.db, 'postgres', modules);
  } finally {
    await unbounded.close();
  }
}
