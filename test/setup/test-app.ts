// A real app on a real SQLite file, one per test file (or per test that needs its own).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { buildApp, type App } from '../../src/http/app.js';
import type { Clock } from '../../src/lib/time.js';
import { createServices, type Services } from '../../src/services.js';

/** The dialects every repository and HTTP test runs on. */
export const TEST_DIALECTS = ['sqlite'] as const;
export type TestDialect = (typeof TEST_DIALECTS)[number];

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
}

export async function createTestApp(
  _dialect: TestDialect = 'sqlite',
  options: TestAppOptions = {},
): Promise<TestApp> {
  const dir = makeTempDir();
  const config = loadConfig({
    DATABASE_URL: `sqlite:${path.join(dir, 'callmind.db')}`,
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const database = openDatabase(config.database, config.sqlite);
  await migrateToLatest(database.db, database.dialect);
  const services = createServices({ config, database, clock: options.clock });
  const app = await buildApp({ config, services, logger: options.logger ?? false });
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
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
