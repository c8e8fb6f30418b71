// Authentication required: Clerk sessions for people, org API keys for machines, the 401 matrix
// on every route, ownership claims, scopes and admin rights.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newAgentId, uniqueId } from '../factories.js';
import { createTestClerk, TEST_AZP, type SessionOptions } from '../setup/clerk.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const clerk = createTestClerk();

describe.each(TEST_DIALECTS)('identity (%s)', (dialect) => {
  let t: TestApp;
  const orgId = uniqueId('org_');
  const admin: SessionOptions = { userId: uniqueId('user_'), orgId, role: 'admin' };
  const member: SessionOptions = { userId: uniqueId('user_'), orgId, role: 'member' };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  let agentId: string;
  let apiKey: string;
  let apiKeyId: string;
  let realFetch: typeof fetch;
  let revokedKey: string;
  let networkCalls = 0;

  beforeAll(async () => {
    // Verification with CLERK_JWT_KEY must never reach the network.
    realFetch = globalThis.fetch;
    globalThis.fetch = () => {
      networkCalls += 1;
      return Promise.reject(new Error('no network in this test'));
    };
    t = await createTestApp(dialect, { env: clerk.env });
    agentId = newAgentId();
    const agent = await t.app.inject({
      method: 'POST',
      url: '/api/agents',
      headers: bearer(clerk.session(admin)),
      payload: { name: 'Support', id: agentId },
    });
    expect(agent.statusCode).toBe(201);
    const key = await t.app.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: bearer(clerk.session(admin)),
      payload: { name: 'Telephony backend' },
    });
    expect(key.statusCode).toBe(201);
    apiKey = key.json().key;
    apiKeyId = key.json().id;
    const doomed = await t.app.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: bearer(clerk.session(admin)),
      payload: { name: 'Revoked' },
    });
    revokedKey = doomed.json().key;
    await t.app.inject({
      method: 'DELETE',
      url: `/api/api-keys/${doomed.json().id}`,
      headers: bearer(clerk.session(admin)),
    });
  });
  afterAll(async () => {
    globalThis.fetch = realFetch;
    await t.close();
    expect(networkCalls).toBe(0);
  });

  const send = (method: string, url: string, headers: Record<string, string>, payload?: object) =>
    t.app.inject({ method: method as 'GET', url, headers, ...(payload ? { payload } : {}) });

  describe('Clerk session tokens', () => {
    it('a valid v2 session token of an org admin is accepted; the org is the tenant', async () => {
      const res = await send('POST', '/api/call-history', bearer(clerk.session(admin)), {
        ...callStartBody({ agentId }),
        userId: admin.userId,
        orgId,
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ agentId, orgId, userId: admin.userId });
    });

    it('v1 claims (org_id, org_role) give the same identity as v2 (o.id, o.rol)', async () => {
      const v1 = bearer(clerk.session({ ...admin, version: 1 }));
      const v2 = bearer(clerk.session(admin));
      const [fromV1, fromV2] = await Promise.all([
        send('GET', '/api/api-keys', v1),
        send('GET', '/api/api-keys', v2),
      ]);
      expect(fromV1.statusCode).toBe(200);
      expect(fromV1.json()).toEqual(fromV2.json());
      const memberV1 = await send(
        'GET',
        '/api/api-keys',
        bearer(clerk.session({ ...member, version: 1 })),
      );
      expect(memberV1.statusCode).toBe(403);
    });

    it('a user without an active org is their own tenant, and cannot see the org', async () => {
      const solo = bearer(clerk.session({ userId: admin.userId }));
      const res = await send('GET', `/api/agents/${agentId}`, solo);
      expect(res.statusCode).toBe(404);
      const own = await send('POST', '/api/agents', solo, { name: 'Mine' });
      expect(own.json()).toMatchObject({ userId: admin.userId, orgId: null });
    });

    const now = () => Math.floor(Date.now() / 1000);
    const rejected: Array<[string, () => string]> = [
      [
        'expired beyond the clock skew',
        () => clerk.session({ ...admin, claims: { exp: now() - 30 } }),
      ],
      ['not valid yet', () => clerk.session({ ...admin, claims: { nbf: now() + 60 } })],
      ['signed by another key', () => clerk.session({ ...admin, key: clerk.foreignKey })],
      ['alg: none', () => clerk.unsigned(admin)],
      ['HS256 with the public key as secret', () => clerk.hmacWithPublicKey(admin)],
      [
        'from a foreign issuer',
        () => clerk.session({ ...admin, claims: { iss: 'https://evil.example' } }),
      ],
      [
        'for another authorized party',
        () => clerk.session({ ...admin, claims: { azp: 'https://evil.example' } }),
      ],
      ['with no authorized party', () => clerk.session({ ...admin, claims: { azp: undefined } })],
      ['without a session id', () => clerk.session({ ...admin, claims: { sid: undefined } })],
      ['of a pending session', () => clerk.session({ ...admin, claims: { sts: 'pending' } })],
      ['without a subject', () => clerk.session({ ...admin, claims: { sub: undefined } })],
      [
        'tampered with',
        () =>
          clerk.session(admin).replace(/\.([^.]+)\./, (_m, p: string) => `.${p.slice(0, -2)}AA.`),
      ],
    ];
    it.each(rejected)('a token %s is a 401', async (_name, token) => {
      const res = await send('GET', '/api/call-history', bearer(token()));
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.json()).toMatchObject({
        status: 401,
        code: 'unauthorized',
        detail: 'the credential is not valid',
      });
    });

    it('the authorized party must be one of CLERK_AUTHORIZED_PARTIES', async () => {
      const res = await send(
        'GET',
        '/api/call-history',
        bearer(clerk.session({ ...admin, claims: { azp: TEST_AZP } })),
      );
      expect(res.statusCode).toBe(200);
    });
  });

  describe('the 401 matrix, on every route', () => {
    const credentials: Array<[string, () => Record<string, string>]> = [
      ['no Authorization header', () => ({})],
      [
        'a non-Bearer scheme',
        () => ({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }),
      ],
      ['an empty Bearer', () => ({ authorization: 'Bearer ' })],
      ['the guide placeholder', () => bearer('YOUR_CLERK_JWT_TOKEN')],
      [
        'an expired session',
        () =>
          bearer(clerk.session({ ...admin, claims: { exp: Math.floor(Date.now() / 1000) - 60 } })),
      ],
      [
        'a key with a typo',
        () => bearer(`${apiKey.slice(0, -1)}${apiKey.endsWith('A') ? 'B' : 'A'}`),
      ],
      [
        'a well-formed key nobody issued',
        () => bearer('cm_sk_00000000000000000000000000000000000000'),
      ],
      ['a revoked key', () => bearer(revokedKey)],
      [
        'a session not valid yet',
        () =>
          bearer(clerk.session({ ...admin, claims: { nbf: Math.floor(Date.now() / 1000) + 60 } })),
      ],
      [
        'a session signed by a foreign key',
        () => bearer(clerk.session({ ...admin, key: clerk.foreignKey })),
      ],
      ['an alg:none session', () => bearer(clerk.unsigned(admin))],
      ['an HS256-confused session', () => bearer(clerk.hmacWithPublicKey(admin))],
      [
        'a session from a foreign issuer',
        () => bearer(clerk.session({ ...admin, claims: { iss: 'https://evil.example' } })),
      ],
    ];
    it('every /api route answers 401 with WWW-Authenticate for every bad credential', async () => {
      const routes = t.app.apiRoutes;
      expect(routes.length).toBeGreaterThanOrEqual(15);
      for (const route of routes) {
        const url = route.url.replace(/:(\w+)/g, (_m, name: string) => `${name}_x`);
        for (const [name, headers] of credentials) {
          const res = await send(
            route.method,
            url,
            headers(),
            route.method === 'GET' || route.method === 'DELETE' ? undefined : {},
          );
          expect(res.statusCode, `${route.method} ${route.url} with ${name}`).toBe(401);
          expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        }
      }
    });

    it('an encoded or absolute-form path to an /api route still needs a credential', async () => {
      const url = new URL(await t.listen());
      const raw = (target: string) =>
        new Promise<string>((resolve) => {
          const socket = net.connect(Number(url.port), url.hostname, () => {
            socket.write(
              `GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`,
            );
          });
          let answer = '';
          socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
          socket.on('close', () => resolve(answer));
        });
      for (const target of [
        '/%61pi/call-history',
        '/%61pi/call-history/call_x',
        `http://${url.host}/api/call-history`,
      ]) {
        const answer = await raw(target);
        expect(answer.split('\r\n')[0], target).toMatch(/^HTTP\/1\.1 (401|404)/);
      }
    });

    it('health endpoints need no credential', async () => {
      expect((await send('GET', '/healthz', {})).statusCode).toBe(200);
      expect((await send('GET', '/readyz', {})).statusCode).toBe(200);
    });
  });

  describe('org API keys', () => {
    it('are cm_sk_ keys, shown once, listed without their secret', async () => {
      expect(apiKey).toMatch(/^cm_sk_[0-9A-Za-z]{38}$/);
      const list = await send('GET', '/api/api-keys', bearer(clerk.session(admin)));
      const listed = list.json().data.find((k: any) => k.id === apiKeyId);
      expect(listed).toMatchObject({
        name: 'Telephony backend',
        scopes: ['calls:read', 'calls:write'],
        orgId,
      });
      expect(listed.prefix).toBe(apiKey.slice(0, 12));
      expect(JSON.stringify(list.json())).not.toContain(apiKey);
      expect(listed).not.toHaveProperty('key');
    });

    it('ingest and read for their org; lastUsedAt is recorded', async () => {
      const created = await send(
        'POST',
        '/api/call-history',
        bearer(apiKey),
        callStartBody({ agentId, userId: undefined }),
      );
      expect(created.statusCode).toBe(201);
      expect(created.json().orgId).toBe(orgId);
      const read = await send('GET', `/api/call-history/${created.json().id}`, bearer(apiKey));
      expect(read.statusCode).toBe(200);
      const list = await send('GET', '/api/api-keys', bearer(clerk.session(admin)));
      const listed = list.json().data.find((k: any) => k.id === apiKeyId);
      expect(Date.parse(listed.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('an org key acts for the org, not a user: a body userId is a 403 naming it', async () => {
      const res = await send(
        'POST',
        '/api/call-history',
        bearer(apiKey),
        callStartBody({ agentId, userId: 'user_67890' }),
      );
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({
        code: 'credential_mismatch',
        errors: [{ field: 'userId' }],
      });
    });

    it('cannot manage keys (machines are not admins)', async () => {
      for (const [method, url, payload] of [
        ['GET', '/api/api-keys', undefined],
        ['POST', '/api/api-keys', { name: 'escalate' }],
        ['DELETE', `/api/api-keys/${apiKeyId}`, undefined],
        ['PUT', '/api/settings', { retentionDays: 1 }],
      ] as const) {
        const res = await send(method, url, bearer(apiKey), payload);
        expect(res.statusCode).toBe(403);
        expect(res.json().code).toBe('admin_required');
      }
    });

    it('a read-only key reads but cannot write (403 insufficient_scope)', async () => {
      const made = await send('POST', '/api/api-keys', bearer(clerk.session(admin)), {
        name: 'Dashboard export',
        scopes: ['calls:read'],
      });
      const readOnly = made.json().key as string;
      expect((await send('GET', '/api/call-history', bearer(readOnly))).statusCode).toBe(200);
      const write = await send(
        'POST',
        '/api/call-history',
        bearer(readOnly),
        callStartBody({ agentId, userId: undefined }),
      );
      expect(write.statusCode).toBe(403);
      expect(write.json().code).toBe('insufficient_scope');
      const hook = await send('POST', '/api/webhooks/calls/completed', bearer(readOnly), {
        callSid: 'CA-ro',
      });
      expect(hook.statusCode).toBe(403);
    });

    it('revocation takes effect on the very next request', async () => {
      const made = await send('POST', '/api/api-keys', bearer(clerk.session(admin)), {
        name: 'Short-lived',
      });
      const key = made.json().key as string;
      expect((await send('GET', '/api/call-history', bearer(key))).statusCode).toBe(200);
      const revoked = await send(
        'DELETE',
        `/api/api-keys/${made.json().id}`,
        bearer(clerk.session(admin)),
      );
      expect(revoked.statusCode).toBe(204);
      const after = await send('GET', '/api/call-history', bearer(key));
      expect(after.statusCode).toBe(401);
      expect(after.json().detail).toBe('the credential is not valid');
    });

    it('only admins make keys: an org member gets 403', async () => {
      const res = await send('POST', '/api/api-keys', bearer(clerk.session(member)), {
        name: 'nope',
      });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('admin_required');
    });

    it('only admins change retention; members may read it', async () => {
      const change = await send('PUT', '/api/settings', bearer(clerk.session(member)), {
        retentionDays: 1,
      });
      expect(change.statusCode).toBe(403);
      expect(change.json().code).toBe('admin_required');
      const read = await send('GET', '/api/settings', bearer(clerk.session(member)));
      expect(read.statusCode).toBe(200);
      expect(read.json().retentionDays).toBeNull();
      const byAdmin = await send('PUT', '/api/settings', bearer(clerk.session(admin)), {
        retentionDays: 90,
      });
      expect(byAdmin.json().effectiveRetentionDays).toBe(90);
    });

    it('members may ingest and read calls', async () => {
      const res = await send('POST', '/api/call-history', bearer(clerk.session(member)), {
        ...callStartBody({ agentId }),
        userId: member.userId,
      });
      expect(res.statusCode).toBe(201);
    });

    it('a key made in a personal tenant acts as its user', async () => {
      const solo = bearer(clerk.session({ userId: 'user_solo' }));
      const made = await send('POST', '/api/api-keys', solo, { name: 'mine' });
      expect(made.json()).toMatchObject({ orgId: null, userId: 'user_solo' });
      const agent = await send('POST', '/api/agents', solo, {
        name: 'Solo line',
        id: 'agent_solo',
      });
      expect(agent.statusCode).toBe(201);
      const call = await send('POST', '/api/call-history', bearer(made.json().key), {
        ...callStartBody({ agentId: 'agent_solo' }),
        userId: 'user_solo',
      });
      expect(call.statusCode).toBe(201);
      expect(call.json().userId).toBe('user_solo');
    });

    it('no key plaintext is stored anywhere in the database', async () => {
      const keys = [apiKey];
      for (let i = 0; i < 3; i++) {
        keys.push(
          (
            await send('POST', '/api/api-keys', bearer(clerk.session(admin)), { name: `k${i}` })
          ).json().key,
        );
      }
      const tables = ['api_keys', 'calls', 'call_events', 'agents'] as const;
      let dump = '';
      for (const table of tables) {
        dump += JSON.stringify(await t.database.db.selectFrom(table).selectAll().execute());
      }
      for (const key of keys) {
        expect(dump).not.toContain(key);
        expect(dump).not.toContain(key.slice(6)); // not even without its prefix
      }
      expect(dump).toMatch(/"secret_hash":"[0-9a-f]{64}"/);
    });
  });

  describe('ownership claims', () => {
    it('orgId and userId in a body must agree with the credential (403 naming the field)', async () => {
      const session = bearer(clerk.session(admin));
      const otherOrg = await send('POST', '/api/call-history', session, {
        ...callStartBody({ agentId, userId: admin.userId }),
        orgId: 'org_other',
      });
      expect(otherOrg.statusCode).toBe(403);
      expect(otherOrg.json().errors).toEqual([
        { field: 'orgId', message: expect.stringContaining(orgId) },
      ]);
      const otherUser = await send('POST', '/api/webhooks/calls/started', session, {
        callSid: uniqueId('CA-'),
        agentId,
        userId: 'user_someone_else',
      });
      expect(otherUser.statusCode).toBe(403);
      expect(otherUser.json().errors[0].field).toBe('userId');
    });

    it('the completed webhook checks the same claims, for sessions and API keys', async () => {
      for (const headers of [bearer(apiKey), bearer(clerk.session(member))]) {
        const res = await send('POST', '/api/webhooks/calls/completed', headers, {
          callSid: uniqueId('CA-'),
          orgId: 'org_elsewhere',
        });
        expect(res.statusCode).toBe(403);
        expect(res.json().errors[0].field).toBe('orgId');
      }
    });

    it('an unknown agent is a 404 agent_not_found outside dev mode, and nothing is created', async () => {
      const res = await send(
        'POST',
        '/api/call-history',
        bearer(clerk.session(admin)),
        callStartBody({ agentId: 'agent_nobody', userId: undefined }),
      );
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('agent_not_found');
      expect(
        (await send('GET', '/api/agents/agent_nobody', bearer(clerk.session(admin)))).statusCode,
      ).toBe(404);
    });

    it('a completed webhook may still arrive before the agent is known (no agentId)', async () => {
      const res = await send('POST', '/api/webhooks/calls/completed', bearer(apiKey), {
        callSid: uniqueId('CA-'),
        duration: 3,
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ agentId: '', orgId });
    });

    it('the PATCH and the reads of a call work with the credential that owns it', async () => {
      const created = await send(
        'POST',
        '/api/call-history',
        bearer(apiKey),
        callStartBody({ agentId, userId: undefined }),
      );
      const patched = await send(
        'PATCH',
        `/api/call-history/${created.json().id}/status`,
        bearer(clerk.session(member)),
        completionBody(),
      );
      expect(patched.statusCode).toBe(200);
    });
  });
});
