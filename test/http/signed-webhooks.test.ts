// Standard Webhooks signatures on /api/webhooks/*: tampering, the ±5 minute window, rotation
// with an overlap, replays acknowledged once applied, and tenants that never meet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/modules/webhook-signing/webhook-signing.service.js';
import { newCallSid, uniqueId } from '../factories.js';
import { createTestClerk } from '../setup/clerk.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const clerk = createTestClerk();

describe.each(TEST_DIALECTS)('signed webhooks (%s)', (dialect) => {
  let t: TestApp;
  let nowMs = Date.now();
  const tenantA = uniqueId('org_');
  const tenantB = uniqueId('org_');
  let secretA: string;
  let secretB: string;

  beforeAll(async () => {
    t = await createTestApp(dialect, { env: clerk.env, clock: () => new Date(nowMs) });
    secretA = (await t.services.webhookSigning.createSecret(tenantA, 24)).secret;
    secretB = (await t.services.webhookSigning.createSecret(tenantB, 24)).secret;
  });
  afterAll(() => t.close());

  interface Delivery {
    body: string;
    id?: string;
    timestamp?: number;
    secret?: string;
    signature?: string;
    tenant?: string;
    path?: string;
  }

  const deliver = (d: Delivery) => {
    const id = d.id ?? uniqueId('msg_');
    const timestamp = d.timestamp ?? Math.floor(nowMs / 1000);
    const signature = d.signature ?? signWebhook(d.secret ?? secretA, id, timestamp, d.body);
    return t.app.inject({
      method: 'POST',
      url: `${d.path ?? '/api/webhooks/calls/completed'}?tenant=${d.tenant ?? tenantA}`,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signature,
      },
      payload: d.body,
    });
  };

  const eventsOf = async (callId: string) => {
    const rows = await t.database.db
      .selectFrom('call_events')
      .select('id')
      .where('call_id', '=', callId)
      .execute();
    return rows.length;
  };

  it('a correctly signed delivery is accepted as its tenant, no bearer credential needed', async () => {
    const res = await deliver({ body: JSON.stringify({ callSid: newCallSid(), duration: 30 }) });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ orgId: tenantA, status: 'completed', duration: 30 });
  });

  it('one delivery id sent 10 times in a row and 10 at once is applied exactly once', async () => {
    const body = JSON.stringify({ callSid: newCallSid(), duration: 42, summary: 'once' });
    const id = uniqueId('msg_');
    const timestamp = Math.floor(nowMs / 1000);
    const sequential = [];
    for (let i = 0; i < 10; i++) sequential.push(await deliver({ body, id, timestamp }));
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => deliver({ body, id, timestamp })),
    );
    const all = [...sequential, ...concurrent];
    expect(all.every((r) => r.statusCode === 200 || r.statusCode === 201)).toBe(true);
    expect(all.filter((r) => r.statusCode === 201)).toHaveLength(1);
    const callId = all[0]!.json().id as string;
    expect(new Set(all.map((r) => r.json().id))).toEqual(new Set([callId]));
    expect(await eventsOf(callId)).toBe(1);
    const deliveries = await t.database.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', id)
      .execute();
    expect(deliveries).toHaveLength(1);
    const call = await t.app.inject({
      method: 'GET',
      url: `/api/call-history/${callId}`,
      headers: { authorization: `Bearer ${clerk.session({ userId: 'user_x', orgId: tenantA })}` },
    });
    expect(call.json().updatedAt).toBe(call.json().createdAt);
  });

  it.each([
    [
      'one body byte flipped',
      (body: string) => ({ body: body.replace('30', '31'), signedBody: body }),
    ],
    [
      'the JSON re-serialised with other whitespace',
      (body: string) => ({ body: JSON.stringify(JSON.parse(body), null, 2), signedBody: body }),
    ],
  ])('%s → 401, nothing written', async (_name, tamper) => {
    const original = JSON.stringify({ callSid: newCallSid(), duration: 30 });
    const { body, signedBody } = tamper(original);
    const id = uniqueId('msg_');
    const timestamp = Math.floor(nowMs / 1000);
    const res = await deliver({
      body,
      id,
      timestamp,
      signature: signWebhook(secretA, id, timestamp, signedBody),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    const sid = (JSON.parse(original) as { callSid: string }).callSid;
    const stored = await t.database.db
      .selectFrom('calls')
      .select('id')
      .where('call_sid', '=', sid)
      .execute();
    expect(stored).toEqual([]);
  });

  it('another secret, another tenant or no secret at all → 401', async () => {
    const body = JSON.stringify({ callSid: newCallSid() });
    expect((await deliver({ body, secret: secretB })).statusCode).toBe(401); // B's secret, tenant A
    expect((await deliver({ body, tenant: tenantB })).statusCode).toBe(401); // A's secret, tenant B
    expect((await deliver({ body, tenant: 'org_without_secrets' })).statusCode).toBe(401);
    expect(
      (await deliver({ body, signature: 'v1,' + Buffer.alloc(32).toString('base64') })).statusCode,
    ).toBe(401);
  });

  it('a signature without its other headers → 400; no headers and no bearer → 401', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/webhooks/calls/completed?tenant=${tenantA}`,
      headers: { 'content-type': 'application/json', 'webhook-signature': 'v1,abc' },
      payload: { callSid: newCallSid() },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_webhook_headers');
    const none = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/completed',
      payload: { callSid: newCallSid() },
    });
    expect(none.statusCode).toBe(401);
  });

  it('timestamps: 299 s old accepted; 301 s old or 301 s ahead refused', async () => {
    const now = Math.floor(nowMs / 1000);
    const body = () => JSON.stringify({ callSid: newCallSid() });
    expect((await deliver({ body: body(), timestamp: now - 299 })).statusCode).toBe(201);
    expect((await deliver({ body: body(), timestamp: now - 301 })).statusCode).toBe(401);
    expect((await deliver({ body: body(), timestamp: now + 301 })).statusCode).toBe(401);
  });

  it('signatures only open the webhook routes', async () => {
    const id = uniqueId('msg_');
    const timestamp = Math.floor(nowMs / 1000);
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/call-history?tenant=${tenantA}`,
      headers: {
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(secretA, id, timestamp, ''),
      },
    });
    expect(res.statusCode).toBe(401);
  });

  it('rotation: old and new secrets both verify during the overlap, only the new one after', async () => {
    const tenant = uniqueId('org_');
    const old = (await t.services.webhookSigning.createSecret(tenant, 24)).secret;
    const fresh = (await t.services.webhookSigning.createSecret(tenant, 1)).secret;
    const body = () => JSON.stringify({ callSid: newCallSid() });
    expect((await deliver({ body: body(), tenant, secret: old })).statusCode).toBe(201);
    expect((await deliver({ body: body(), tenant, secret: fresh })).statusCode).toBe(201);
    // A sender mid-rotation signs with both.
    const both = body();
    const id = uniqueId('msg_');
    const timestamp = Math.floor(nowMs / 1000);
    const signature = `${signWebhook(old, id, timestamp, both)} ${signWebhook(fresh, id, timestamp, both)}`;
    expect((await deliver({ body: both, tenant, id, timestamp, signature })).statusCode).toBe(201);

    nowMs += 61 * 60 * 1000; // past the one-hour overlap
    expect((await deliver({ body: body(), tenant, secret: old })).statusCode).toBe(401);
    expect((await deliver({ body: body(), tenant, secret: fresh })).statusCode).toBe(201);
  });

  it('a replay of a delivery whose call was deleted is acknowledged (204) and does not recreate it', async () => {
    const body = JSON.stringify({ callSid: newCallSid(), duration: 5 });
    const id = uniqueId('msg_');
    const timestamp = Math.floor(nowMs / 1000);
    const first = await deliver({ body, id, timestamp });
    expect(first.statusCode).toBe(201);
    const session = {
      authorization: `Bearer ${clerk.session({ userId: 'user_admin', orgId: tenantA })}`,
    };
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/call-history/${first.json().id}`,
      headers: session,
    });
    expect(deleted.statusCode).toBe(204);
    const replay = await deliver({ body, id, timestamp });
    expect(replay.statusCode).toBe(204);
    const sid = (JSON.parse(body) as { callSid: string }).callSid;
    const lookup = await t.app.inject({
      method: 'GET',
      url: `/api/call-history/by-sid/${sid}`,
      headers: session,
    });
    expect(lookup.statusCode).toBe(404);
  });
});
