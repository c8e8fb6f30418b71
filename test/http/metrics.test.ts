// /metrics: requests by route pattern and status, ingest outcomes, the database's pool, the event
// loop; never an id, a callSid, a caller's number or a query value; open only where it is safe.
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

/** Every sample of a Prometheus text exposition, keyed by name and sorted labels. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, name, value]) => `${name}=${value}`)
      .sort()
      .join(',');
    samples.set(`${match[1]}{${labels}}`, Number(match[3]));
  }
  return samples;
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels)
    .map(([label, value]) => `${label}=${value}`)
    .sort()
    .join(',')}}`;

const OUTCOMES = ['created', 'merged', 'duplicate', 'rejected'] as const;

describe.each(TEST_DIALECTS)('metrics (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const scrape = async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return { text: res.body, samples: parseMetrics(res.body) };
  };
  const ingestDeltas = (before: Map<string, number>, after: Map<string, number>) => {
    const deltas: Record<string, number> = {};
    for (const source of ['api', 'webhook']) {
      for (const outcome of OUTCOMES) {
        const k = key('callmind_ingest_total', { source, outcome });
        expect(after.has(k), k).toBe(true);
        deltas[`${source}:${outcome}`] = after.get(k)! - (before.get(k) ?? 0);
      }
    }
    return deltas;
  };
  const delta = (
    before: Map<string, number>,
    after: Map<string, number>,
    name: string,
    labels: Record<string, string>,
  ) => (after.get(key(name, labels)) ?? 0) - (before.get(key(name, labels)) ?? 0);

  it('counts a create, a duplicate, a merge and a rejected body exactly, by route pattern', async () => {
    const callerNumber = `+1415${randomInt(1_000_000, 9_999_999)}`;
    const callSid = newCallSid();
    const searchTerm = `needle${randomInt(1_000_000, 9_999_999)}`;
    const { samples: before } = await scrape();

    const body = callStartBody({ callSid, callerNumber });
    const created = await t.app.inject({ method: 'POST', url: '/api/call-history', payload: body });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const repeated = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: body,
    });
    expect(repeated.statusCode).toBe(200);
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      payload: completionBody(),
    });
    expect(patched.statusCode).toBe(200);
    const invalid = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: { ...callStartBody({ callerNumber }), status: 'exploded' },
    });
    expect(invalid.statusCode).toBe(400);
    // Reads with the id, the callSid and a search term in the URL: none may reach a label.
    expect((await t.app.inject({ url: `/api/call-history/${id}` })).statusCode).toBe(200);
    expect((await t.app.inject({ url: `/api/call-history/by-sid/${callSid}` })).statusCode).toBe(
      200,
    );
    expect(
      (
        await t.app.inject({
          url: `/api/call-history?q=${searchTerm}&callerNumber=${encodeURIComponent(callerNumber)}`,
        })
      ).statusCode,
    ).toBe(200);
    expect((await t.app.inject({ url: `/api/no-such-route/${callerNumber}` })).statusCode).toBe(
      404,
    );

    const { text, samples: after } = await scrape();
    expect(ingestDeltas(before, after)).toEqual({
      'api:created': 1,
      'api:duplicate': 1,
      'api:merged': 1,
      'api:rejected': 1,
      'webhook:created': 0,
      'webhook:merged': 0,
      'webhook:duplicate': 0,
      'webhook:rejected': 0,
    });

    const requests = (method: string, route: string, status: number) =>
      delta(before, after, 'http_requests_total', { method, route, status: String(status) });
    expect(requests('POST', '/api/call-history', 201)).toBe(1);
    expect(requests('POST', '/api/call-history', 200)).toBe(1);
    expect(requests('POST', '/api/call-history', 400)).toBe(1);
    expect(requests('PATCH', '/api/call-history/:id/status', 200)).toBe(1);
    expect(requests('GET', '/api/call-history/:id', 200)).toBe(1);
    expect(requests('GET', '/api/call-history/by-sid/:callSid', 200)).toBe(1);
    expect(requests('GET', '/api/call-history', 200)).toBe(1);
    expect(requests('GET', 'unmatched', 404)).toBe(1);
    // Every label value is a pattern the router knows, or 'unmatched'.
    const routes = new Set(
      [...text.matchAll(/^http_requests_total\{.*route="([^"]*)"/gm)].map(([, route]) => route),
    );
    for (const route of routes) expect(route === 'unmatched' || route!.startsWith('/')).toBe(true);
    expect([...routes].filter((route) => route!.includes('call_'))).toEqual([]);

    // Caller data and identifiers appear nowhere in the whole exposition.
    for (const secret of [id, callSid, callerNumber, callerNumber.slice(1), searchTerm, '?']) {
      expect(text, secret).not.toContain(secret);
    }

    // Latency histograms per route, and the process's own figures.
    const histogram = { method: 'POST', route: '/api/call-history', status: '201' };
    expect(delta(before, after, 'http_request_duration_seconds_count', histogram)).toBe(1);
    expect(
      after.has(key('http_request_duration_seconds_bucket', { ...histogram, le: '+Inf' })),
    ).toBe(true);
    expect(after.has(key('http_request_duration_seconds_sum', histogram))).toBe(true);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  });

  it('counts webhooks as their own source, and 409s and too-large bodies as rejected', async () => {
    const { samples: before } = await scrape();
    const callSid = newCallSid();
    const completed = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/completed',
      payload: { callSid, agentId: 'agent_hooks', ...completionBody() },
    });
    expect(completed.statusCode).toBe(201);
    const started = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/started',
      payload: callStartBody({ callSid, agentId: 'agent_hooks', callerName: 'Late Starter' }),
    });
    expect(started.statusCode).toBe(200);
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/started',
      payload: callStartBody({ callSid, agentId: 'agent_hooks', callerName: 'Late Starter' }),
    });
    expect(again.statusCode).toBe(200);
    const otherAgent = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/started',
      payload: callStartBody({ callSid, agentId: 'agent_someone_else' }),
    });
    expect(otherAgent.statusCode).toBe(409);
    const tooLarge = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody({ transcript: 'x'.repeat(t.config.bodyLimit + 1) }),
    });
    expect(tooLarge.statusCode).toBe(413);
    const { samples: after } = await scrape();
    expect(ingestDeltas(before, after)).toEqual({
      'api:created': 0,
      'api:duplicate': 0,
      'api:merged': 0,
      'api:rejected': 1,
      'webhook:created': 1,
      'webhook:merged': 1,
      'webhook:duplicate': 1,
      'webhook:rejected': 1,
    });
  });

  it("exposes the database's state", async () => {
    const { samples } = await scrape();
    if (dialect === 'postgres') {
      expect(samples.get(key('callmind_pg_pool_connections'))).toBeGreaterThanOrEqual(1);
      expect(samples.get(key('callmind_pg_pool_idle_connections'))).toBeGreaterThanOrEqual(0);
      expect(samples.get(key('callmind_pg_pool_waiting_requests'))).toBe(0);
      expect(samples.has(key('callmind_sqlite_write_queue'))).toBe(false);
    } else {
      expect(samples.get(key('callmind_sqlite_write_queue'))).toBe(0);
      expect(samples.get(key('callmind_sqlite_reader_threads'))).toBe(t.config.sqlite.readers);
      expect(samples.get(key('callmind_sqlite_reads_in_flight'))).toBe(0);
      const commits = samples.get(key('callmind_sqlite_group_commits_total'))!;
      const writes = samples.get(key('callmind_sqlite_group_commit_writes_total'))!;
      expect(commits).toBeGreaterThan(0);
      expect(writes).toBeGreaterThanOrEqual(commits);
      expect(samples.has(key('callmind_pg_pool_connections'))).toBe(false);
    }
  });
});

describe('who may read /metrics', () => {
  const token = 'metrics-token-0123456789abcdef';
  const apps: TestApp[] = [];
  const appWith = async (env: Record<string, string>) => {
    const t = await createTestApp('sqlite', { env });
    apps.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of apps) await t.close();
  });
  const get = (t: TestApp, authorization?: string) =>
    t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: authorization === undefined ? {} : { authorization },
    });

  it('with authentication on and no METRICS_TOKEN: a 404, not the dashboard, and nothing counted', async () => {
    const t = await appWith({ AUTH_REQUIRED: '1' });
    const res = await get(t);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'route_not_found' });
    expect((await get(t, `Bearer ${token}`)).statusCode).toBe(404);
    await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(await t.services.metrics.registry.metrics()).not.toMatch(/^http_requests_total\{/m);
  });

  it('with METRICS_TOKEN: only that bearer token, even in production', async () => {
    const t = await appWith({ AUTH_REQUIRED: '1', METRICS_TOKEN: token });
    for (const header of [undefined, 'Bearer wrong-token-0123456789', token, `Basic ${token}`]) {
      const res = await get(t, header);
      expect(res.statusCode, String(header)).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).not.toContain('http_requests_total');
    }
    // A refused ingest (no credential) is counted as rejected.
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/call-history', payload: callStartBody() }))
        .statusCode,
    ).toBe(401);
    const res = await get(t, `Bearer ${token}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const samples = parseMetrics(res.body);
    expect(samples.get(key('callmind_ingest_total', { source: 'api', outcome: 'rejected' }))).toBe(
      1,
    );
  });

  it('in dev mode: open without METRICS_TOKEN, closed with one', async () => {
    expect((await get(await appWith({}))).statusCode).toBe(200);
    const t = await appWith({ METRICS_TOKEN: token });
    expect((await get(t)).statusCode).toBe(401);
    expect((await get(t, `bearer ${token}`)).statusCode).toBe(200);
  });

  it('each app has its own registry', async () => {
    const [a, b] = [await appWith({}), await appWith({})];
    await a.app.inject({ method: 'POST', url: '/api/call-history', payload: callStartBody() });
    const count = async (t: TestApp) =>
      parseMetrics((await get(t)).body).get(
        key('callmind_ingest_total', { source: 'api', outcome: 'created' }),
      );
    expect(await count(a)).toBe(1);
    expect(await count(b)).toBe(0);
  });
});
