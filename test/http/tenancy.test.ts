// Tenants never meet: another tenant's agent, call, key or events are a 404 (never a 403) on every
// route, lists never show them, and the same callSid in two tenants is two calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newAgentId, newCallSid, uniqueId } from '../factories.js';
import { createTestClerk } from '../setup/clerk.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const clerk = createTestClerk();

interface Tenant {
  readonly orgId: string;
  readonly session: () => Record<string, string>;
  apiKey: string;
  apiKeyId: string;
  agentId: string;
  callId: string;
  callSid: string;
}

describe.each(TEST_DIALECTS)('tenant isolation (%s)', (dialect) => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;

  const send = (method: string, url: string, headers: Record<string, string>, payload?: object) =>
    t.app.inject({ method: method as 'GET', url, headers, ...(payload ? { payload } : {}) });

  async function makeTenant(): Promise<Tenant> {
    const orgId = uniqueId('org_');
    const userId = uniqueId('user_');
    const session = () => ({
      authorization: `Bearer ${clerk.session({ userId, orgId, role: 'admin' })}`,
    });
    const key = (await send('POST', '/api/api-keys', session(), { name: 'backend' })).json();
    const agentId = newAgentId();
    expect(
      (await send('POST', '/api/agents', session(), { name: 'Line', id: agentId })).statusCode,
    ).toBe(201);
    const callSid = newCallSid();
    const call = await send(
      'POST',
      '/api/call-history',
      { authorization: `Bearer ${key.key}` },
      {
        ...callStartBody({ agentId, callSid }),
        userId: undefined,
      },
    );
    expect(call.statusCode).toBe(201);
    await send('PATCH', `/api/call-history/${call.json().id}/status`, session(), completionBody());
    return {
      orgId,
      session,
      apiKey: key.key,
      apiKeyId: key.id,
      agentId,
      callId: call.json().id,
      callSid,
    };
  }

  beforeAll(async () => {
    t = await createTestApp(dialect, { env: clerk.env });
    a = await makeTenant();
    b = await makeTenant();
  });
  afterAll(() => t.close());

  const snapshot = async (tenant: Tenant) => ({
    call: (await send('GET', `/api/call-history/${tenant.callId}`, tenant.session())).json(),
    events: (
      await send('GET', `/api/call-history/${tenant.callId}/events`, tenant.session())
    ).json(),
    agent: (await send('GET', `/api/agents/${tenant.agentId}`, tenant.session())).json(),
    keys: (await send('GET', '/api/api-keys', tenant.session())).json(),
  });

  it("every {id} route answers 404 for the other tenant's resources, as for ones that never existed", async () => {
    const before = await snapshot(a);
    const idFor = (url: string, param: string, tenant: Tenant | null) => {
      if (param === 'callSid') return tenant?.callSid ?? 'CA-never-existed';
      if (url.startsWith('/api/agents')) return tenant?.agentId ?? 'agent_never_existed';
      if (url.startsWith('/api/api-keys'))
        return tenant?.apiKeyId ?? 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV';
      return tenant?.callId ?? 'call_01ARZ3NDEKTSV4RRFFQ69G5FAV';
    };
    const routes = t.app.apiRoutes.filter((r) => r.url.includes('/:'));
    expect(routes.length).toBeGreaterThanOrEqual(6);
    for (const route of routes) {
      const payload =
        route.method === 'PATCH' ? completionBody({ summary: 'hijacked' }) : undefined;
      for (const credential of [b.session(), { authorization: `Bearer ${b.apiKey}` }]) {
        const foreign = await send(
          route.method,
          route.url.replace(/:(\w+)/, (_m, p: string) => idFor(route.url, p, a)),
          credential,
          payload,
        );
        const missing = await send(
          route.method,
          route.url.replace(/:(\w+)/, (_m, p: string) => idFor(route.url, p, null)),
          credential,
          payload,
        );
        if (missing.statusCode === 403) continue; // admin-only route with the API key: refused before any lookup
        expect(foreign.statusCode, `${route.method} ${route.url}`).toBe(404);
        expect(missing.statusCode).toBe(404);
        const shape = (res: typeof foreign) => {
          const { code, title, status, type } = res.json();
          return { code, title, status, type };
        };
        expect(shape(foreign)).toEqual(shape(missing));
      }
    }
    expect(await snapshot(a)).toEqual(before);
  });

  it("lists never show the other tenant's calls, agents or keys", async () => {
    const calls = (await send('GET', '/api/call-history?limit=100', b.session())).json().data;
    expect(calls.map((c: any) => c.id)).toContain(b.callId);
    expect(calls.map((c: any) => c.id)).not.toContain(a.callId);
    expect(calls.every((c: any) => c.orgId === b.orgId)).toBe(true);
    const filtered = (
      await send('GET', `/api/call-history?agentId=${a.agentId}`, b.session())
    ).json().data;
    expect(filtered).toEqual([]);
    // Search, relevance and totals are scoped too: A's words find nothing of A's from B.
    const secret = uniqueId('word');
    await send('PATCH', `/api/call-history/${a.callId}/status`, a.session(), {
      summary: `only tenant A says ${secret}`,
    });
    expect(
      (await send('GET', `/api/call-history?q=${secret}`, a.session())).json().data,
    ).toHaveLength(1);
    for (const query of [
      `q=${secret}`,
      `q=${secret}&sort=relevance`,
      `q=${secret}&includeTotal=true`,
    ]) {
      const page = (await send('GET', `/api/call-history?${query}`, b.session())).json();
      expect(page.data, query).toEqual([]);
      if (query.includes('includeTotal')) expect(page.total).toBe(0);
    }
    // Stats, export and erasure are scoped the same way.
    const stats = (
      await send('GET', `/api/call-history/stats?agentId=${a.agentId}`, b.session())
    ).json();
    expect(stats.total).toBe(0);
    const exported = await send('GET', '/api/call-history/export?format=ndjson', b.session());
    expect(exported.body).not.toContain(a.callId);
    expect(exported.body).toContain(b.callId);
    const erased = await send(
      'POST',
      '/api/call-history/erase',
      { authorization: `Bearer ${b.apiKey}` },
      {
        callerNumber: '+1234567890',
      },
    );
    expect(erased.json()).toEqual({ deleted: 1 }); // B's own call from that number, not A's
    expect((await send('GET', `/api/call-history/${a.callId}`, a.session())).statusCode).toBe(200);
    const agents = (await send('GET', '/api/agents', b.session())).json().data;
    expect(agents.map((x: any) => x.id)).not.toContain(a.agentId);
    const keys = (await send('GET', '/api/api-keys', b.session())).json().data;
    expect(keys.map((k: any) => k.id)).not.toContain(a.apiKeyId);
  });

  it('the same callSid in two tenants is two calls; webhooks never reach across', async () => {
    const before = await snapshot(a);
    const completed = await send(
      'POST',
      '/api/webhooks/calls/completed',
      { authorization: `Bearer ${b.apiKey}` },
      {
        callSid: a.callSid,
        summary: 'from tenant B',
      },
    );
    expect(completed.statusCode).toBe(201);
    expect(completed.json().id).not.toBe(a.callId);
    expect(completed.json().orgId).toBe(b.orgId);
    const started = await send('POST', '/api/webhooks/calls/started', b.session(), {
      callSid: a.callSid,
      agentId: a.agentId, // A's agent is unknown in B
    });
    expect(started.statusCode).toBe(404);
    expect(started.json().code).toBe('agent_not_found');
    expect(await snapshot(a)).toEqual(before);
  });

  it('an agent id taken in one tenant is free in another', async () => {
    const res = await send('POST', '/api/agents', b.session(), { name: 'Same id', id: a.agentId });
    expect(res.statusCode).toBe(201);
    const mine = (await send('GET', `/api/agents/${a.agentId}`, a.session())).json();
    expect(mine.name).toBe('Line');
  });
});
