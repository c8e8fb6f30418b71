// The edge: rate limits per credential, security headers, and CORS for configured origins only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../factories.js';
import { createTestClerk } from '../setup/clerk.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const clerk = createTestClerk();
const ALLOWED_ORIGIN = 'https://dashboard.example.com';
/** What helmet sends with our policy, on every answer. */
const SECURITY_HEADERS = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
] as const;

describe.each(TEST_DIALECTS)('edge protections (%s)', (dialect) => {
  let t: TestApp;
  const keys: Record<'a' | 'b', string> = { a: '', b: '' };

  beforeAll(async () => {
    t = await createTestApp(dialect, {
      env: {
        ...clerk.env,
        RATE_LIMIT_MAX: '5',
        RATE_LIMIT_WINDOW_MS: '60000',
        CORS_ORIGINS: ALLOWED_ORIGIN,
      },
    });
    for (const name of ['a', 'b'] as const) {
      const created = await t.services.apiKeys.createForOperator(
        { tenantId: uniqueId('org_'), orgId: null, userId: null, createdBy: null },
        'rate test',
        ['calls:read', 'calls:write'],
      );
      keys[name] = created.key;
    }
  });
  afterAll(() => t.close());

  const get = (key: string) =>
    t.app.inject({
      method: 'GET',
      url: '/api/call-history',
      headers: { authorization: `Bearer ${key}` },
    });

  it('limits each credential on its own: the 6th request in the window is a 429 with Retry-After', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await get(keys.a);
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBe('5');
    }
    const limited = await get(keys.a);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(limited.json()).toMatchObject({ status: 429, code: 'rate_limited' });
    // Another tenant's credential still has its whole budget.
    expect((await get(keys.b)).statusCode).toBe(200);
    // Health checks are never limited.
    for (let i = 0; i < 10; i++) {
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    }
  });

  it('sends security headers and no X-Powered-By', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).toContain('media-src');
    expect(res.headers['x-frame-options']).toBeDefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('sends the same security headers on every answer: a read, a 401, a 404, a 400 and a 429', async () => {
    const pick = (headers: Record<string, unknown>) =>
      Object.fromEntries(SECURITY_HEADERS.map((name) => [name, headers[name]]));
    const answers = await Promise.all([
      t.app.inject({ method: 'GET', url: '/healthz' }),
      t.app.inject({ method: 'GET', url: '/api/call-history' }),
      t.app.inject({ method: 'GET', url: '/api/no-such-thing' }),
      t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        headers: { authorization: `Bearer ${keys.b}`, 'content-type': 'application/json' },
        payload: '{"callSid": 42',
      }),
      get(keys.a),
    ]);
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 401, 404, 400, 429]);
    const expected = pick(answers[0].headers);
    for (const name of SECURITY_HEADERS) expect(expected[name], name).toEqual(expect.any(String));
    expect(expected['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(expected['referrer-policy']).toBe('no-referrer');
    for (const answer of answers.slice(1)) expect(pick(answer.headers)).toEqual(expected);
  });

  it('answers CORS preflights for configured origins only, before authentication', async () => {
    const preflight = (origin: string) =>
      t.app.inject({
        method: 'OPTIONS',
        url: '/api/call-history',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(String(allowed.headers['access-control-allow-headers'])).toContain('authorization');
    const other = await preflight('https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const actual = await t.app.inject({
      method: 'GET',
      url: '/api/call-history',
      headers: { origin: ALLOWED_ORIGIN, authorization: `Bearer ${keys.b}` },
    });
    expect(actual.statusCode).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
  });
});

describe('failed authentications per address (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { env: { ...clerk.env, AUTH_FAILURES_PER_MINUTE: '3' } });
  });
  afterAll(() => t.close());

  it('after 3 bad credentials in a minute an address gets 429 before any verification', async () => {
    const bad = () =>
      t.app.inject({
        method: 'GET',
        url: '/api/call-history',
        headers: { authorization: 'Bearer cm_sk_00000000000000000000000000000000000000' },
      });
    for (let i = 0; i < 3; i++) expect((await bad()).statusCode).toBe(401);
    const blocked = await bad();
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.json().code).toBe('too_many_failed_authentications');
  });
});
