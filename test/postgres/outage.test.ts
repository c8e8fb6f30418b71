// The database going away: while PostgreSQL cannot be reached requests get a 503 problem with
// Retry-After (no hang, no crash), /readyz says not ready, and when it is back the service
// recovers by itself within 5 s, with every acknowledged write still there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { buildApp, type App } from '../../src/http/app.js';
import { createServices, type Services } from '../../src/services.js';
import { callStartBody } from '../factories.js';
import { startTcpProxy, type TcpProxy } from '../setup/tcp-proxy.js';
import { createTestPostgresDatabase, TEST_DIALECTS } from '../setup/test-app.js';

const CONNECT_TIMEOUT_MS = 1000;

describe.runIf(TEST_DIALECTS.includes('postgres'))('PostgreSQL outage (postgres)', () => {
  let proxy: TcpProxy;
  let app: App;
  let services: Services;
  let close: () => Promise<void>;
  let database: ReturnType<typeof openDatabase>;
  const acknowledged: string[] = [];

  beforeAll(async () => {
    const { url, drop } = await createTestPostgresDatabase();
    const target = new URL(url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    const config = loadConfig({
      DATABASE_URL: target.toString(),
      LOG_LEVEL: 'silent',
      DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      DATABASE_STATEMENT_TIMEOUT_MS: '2000',
    });
    database = openDatabase(config);
    services = createServices({ config, database });
    app = await buildApp({ config, services, logger: false });
    close = async () => {
      await app.close();
      await database.close();
      await proxy.close();
      await drop();
    };
  });
  afterAll(() => close());

  const create = async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody(),
    });
    if (res.statusCode === 201) acknowledged.push(res.json<{ id: string }>().id);
    return res;
  };

  async function expectUnavailableQuickly() {
    const started = Date.now();
    const [write, read, ready] = await Promise.all([
      create(),
      app.inject({ method: 'GET', url: '/api/call-history' }),
      app.inject({ method: 'GET', url: '/readyz' }),
    ]);
    const elapsed = Date.now() - started;
    for (const res of [write, read, ready]) {
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(res.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
    }
    // Bounded by the connect timeout (plus slack for a loaded machine), never a hang.
    expect(elapsed).toBeLessThan(CONNECT_TIMEOUT_MS + 4000);
  }

  async function expectRecoveryWithin(ms: number) {
    const started = Date.now();
    for (;;) {
      const res = await create();
      if (res.statusCode === 201) break;
      expect(res.statusCode).toBe(503);
      expect(Date.now() - started).toBeLessThan(ms);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  }

  it('serves before the outage', async () => {
    expect((await create()).statusCode).toBe(201);
  });

  it('a stopped server (connections refused): 503 + Retry-After, then recovery within 5 s', async () => {
    await proxy.refuse();
    await expectUnavailableQuickly();
    await proxy.restore();
    await expectRecoveryWithin(5000);
  });

  it('a hung network (nothing answers): 503 within the connect timeout, then recovery', async () => {
    proxy.blackhole();
    await expectUnavailableQuickly();
    await proxy.restore();
    await expectRecoveryWithin(5000);
  });

  it('open connections that go silent (a frozen host): 503 after the statement timeout, then recovery', async () => {
    expect((await create()).statusCode).toBe(201);
    // Several open connections, all back in the pool (the change the write published too), so
    // that each query of the next write takes an open one rather than connecting, which would
    // time out sooner (the connect timeout, 1 s) and test something else.
    const reads = await Promise.all(
      Array.from({ length: 4 }, () => app.inject({ method: 'GET', url: '/api/call-history' })),
    );
    expect(reads.map((read) => read.statusCode)).toEqual([200, 200, 200, 200]);
    await expect
      .poll(() => {
        const stats = database.poolStats?.();
        return stats?.dialect === 'postgres' && stats.total >= 3 && stats.idle === stats.total;
      })
      .toBe(true);
    proxy.freeze();
    const started = Date.now();
    const res = await create();
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    // No answer on an open connection: given up on 1 s after the statement timeout (2 s), by
    // the client, since the server never hears of it; plus slack for a loaded machine.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(3000 - 50);
    expect(elapsed).toBeLessThan(3000 + 3000);
    await proxy.restore();
    await expectRecoveryWithin(5000);
  });

  it('every acknowledged write is there afterwards', async () => {
    expect(acknowledged.length).toBeGreaterThanOrEqual(3);
    for (const id of acknowledged) {
      const res = await app.inject({ method: 'GET', url: `/api/call-history/${id}` });
      expect(res.statusCode).toBe(200);
    }
  });
});
