// A real PostgreSQL server stopped and started again under a running service: 503 + Retry-After
// while it is down, recovery by itself within 5 s of its return, no acknowledged write lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { buildApp, type App } from '../../src/http/app.js';
import { createServices } from '../../src/services.js';
import { callStartBody, completionBody } from '../factories.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../setup/embedded-postgres.js';
import { TEST_DIALECTS } from '../setup/test-app.js';

describe.runIf(TEST_DIALECTS.includes('postgres'))('PostgreSQL restart (postgres)', () => {
  let server: EmbeddedServer;
  let database: DatabaseHandle;
  let app: App;
  const acknowledged = new Map<string, string>(); // id → summary

  beforeAll(async () => {
    server = await startEmbeddedPostgres();
    const config = loadConfig({
      DATABASE_URL: server.url,
      LOG_LEVEL: 'silent',
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
    });
    database = openDatabase(config);
    await migrateToLatest(database.db, database.dialect);
    app = await buildApp({ config, services: createServices({ config, database }), logger: false });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await database?.close();
    await server?.stop();
  });

  async function writeCall(summary: string) {
    const created = await app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody(),
    });
    if (created.statusCode !== 201) return created.statusCode;
    const id = created.json<{ id: string }>().id;
    const done = await app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      payload: completionBody({ summary }),
    });
    if (done.statusCode === 200) acknowledged.set(id, summary);
    return done.statusCode;
  }

  it('answers 503 while the server is down and recovers within 5 s of its return', async () => {
    for (let i = 0; i < 5; i++) expect(await writeCall(`before ${i}`)).toBe(200);

    await server.halt();
    const started = Date.now();
    const write = await app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody(),
    });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(Date.now() - started).toBeLessThan(5000);
    for (const res of [write, ready]) {
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }

    await server.resume();
    const back = Date.now();
    let status = 0;
    while (status !== 200) {
      status = await writeCall('after');
      expect(Date.now() - back).toBeLessThan(5000);
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    for (const [id, summary] of acknowledged) {
      const res = await app.inject({ method: 'GET', url: `/api/call-history/${id}` });
      expect(res.json()).toMatchObject({ status: 'completed', summary });
    }
  });
});
