// A real app on a real SQLite file, one per test file (or per test that needs its own).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { buildApp, type App } from '../../src/http/app.js';
import type { Clock } from '../../src/lib/time.js';
import { createServices, type Services } from '../../src/services.js';
import type { ExportWalkSizes } from '../../src/modules/calls/calls.export.js';
import type { CallStreamSettings } from '../../src/modules/calls/call-stream.js';

export type TestDialect = 'sqlite' | 'postgres';

/**
 * The dialects every repository and HTTP test runs on: both, unless TEST_DIALECTS narrows it
 * (e.g. TEST_DIALECTS=sqlite for a quick local run).
 */
export const TEST_DIALECTS: readonly TestDialect[] = (
  process.env.TEST_DIALECTS?.split(',') ?? ['sqlite', 'postgres']
).filter((d): d is TestDialect => d === 'sqlite' || d === 'postgres');

export interface TestApp {
  readonly app: App;
  readonly services: Services;
  readonly database: DatabaseHandle;
  readonly config: Config;
  readonly dir: string;
  /** Starts listening on 127.0.0.1 (for tests that need real sockets); returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function makeTempDir(prefix = 'callmind-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestAppOptions {
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  readonly logger?: Parameters<typeof buildApp>[0]['logger'];
  readonly exportWalkSizes?: ExportWalkSizes;
  /** The built dashboard to serve (browser tests build their own). */
  readonly webRoot?: string;
  /** The live stream's rounds and bounds (tests make them small). */
  readonly callStreamSettings?: CallStreamSettings;
}

let adminPool: pg.Pool | undefined;

function postgresAdmin(): { pool: pg.Pool; adminUrl: string; template: string } {
  const adminUrl = inject('postgresAdminUrl');
  const template = inject('postgresTemplate');
  if (!adminUrl) throw new Error('PostgreSQL tests need the global setup (test/setup)');
  adminPool ??= new pg.Pool({ connectionString: adminUrl, max: 2 });
  return { pool: adminPool, adminUrl, template };
}

/**
 * A fresh PostgreSQL database cloned from the migrated template (or empty, with `empty`);
 * dropped by the returned function.
 */
export async function createTestPostgresDatabase(options: { empty?: boolean } = {}): Promise<{
  url: string;
  drop: () => Promise<void>;
}> {
  const admin = postgresAdmin();
  const { pool, adminUrl } = admin;
  const template = options.empty ? 'template0' : admin.template;
  const name = `callmind_t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  // Two clones of one template at the same moment can collide on its lock: retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await pool.query(`create database "${name}" template "${template}"`);
      break;
    } catch (error) {
      if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    }
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await pool.query(`drop database if exists "${name}" with (force)`);
    },
  };
}

/** A database URL of the dialect, made for one test app; `cleanup` removes it. */
async function makeTestDatabase(
  dialect: TestDialect,
  dir: string,
): Promise<{ url: string; cleanup: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    return { url: `sqlite:${path.join(dir, 'callmind.db')}`, cleanup: async () => {} };
  }
  const { url, drop } = await createTestPostgresDatabase();
  return { url, cleanup: drop };
}

export async function createTestApp(
  dialect: TestDialect = 'sqlite',
  options: TestAppOptions = {},
): Promise<TestApp> {
  const dir = makeTempDir();
  const testDatabase = await makeTestDatabase(dialect, dir);
  const config = loadConfig({
    DATABASE_URL: testDatabase.url,
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const database = openDatabase(config);
  await migrateToLatest(database.db, database.dialect);
  const services = createServices({
    config,
    database,
    clock: options.clock,
    exportWalkSizes: options.exportWalkSizes,
    callStreamSettings: options.callStreamSettings,
  });
  const app = await buildApp({
    config,
    services,
    logger: options.logger ?? false,
    ...(options.webRoot === undefined ? {} : { webRoot: options.webRoot }),
  });
  await app.ready();
  return {
    app,
    services,
    database,
    config,
    dir,
    async listen() {
      return app.listen({ port: 0, host: '127.0.0.1' });
    },
    async close() {
      await app.close();
      await services.transactor.drain();
      await database.close();
      await testDatabase.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
