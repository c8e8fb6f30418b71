// GET /api/call-history/stream: server-sent events of the tenant's calls as they are created,
// change and go, over a real socket, on both dialects; never another tenant's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newCallSid, uniqueId } from '../factories.js';
import { createTestClerk } from '../setup/clerk.js';
import { openEventStream, type EventStreamClient, type StreamEvent } from '../setup/sse.js';
import {
  CALL_STREAM_SETTINGS,
  type CallStreamSettings,
} from '../../src/modules/calls/call-stream.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const clerk = createTestClerk();

const callEvent = (id: string, status?: string) => (event: StreamEvent) =>
  event.event === 'call' &&
  (JSON.parse(event.data) as { id: string; status: string }).id === id &&
  (status === undefined || (JSON.parse(event.data) as { status: string }).status === status);

describe.each(TEST_DIALECTS)('the live call stream (%s)', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  const streams: EventStreamClient[] = [];

  /** A tenant with an admin session, as the dashboard has. */
  function tenant() {
    const orgId = uniqueId('org_');
    const userId = uniqueId('user_');
    return {
      orgId,
      headers: { authorization: `Bearer ${clerk.session({ userId, orgId, role: 'admin' })}` },
    };
  }

  async function send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: object,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as never) };
  }

  async function stream(headers: Record<string, string>): Promise<EventStreamClient> {
    const client = await openEventStream(`${baseUrl}/api/call-history/stream`, headers);
    streams.push(client);
    expect(client.status).toBe(200);
    // Changes made after `ready` are sure to arrive.
    await client.next((event) => event.event === 'ready');
    return client;
  }

  beforeAll(async () => {
    t = await createTestApp(dialect, { env: clerk.env });
    baseUrl = await t.listen();
  });
  afterAll(async () => {
    for (const client of streams) client.close();
    await t.close();
  });

  it('sends a call when it starts, as it changes, and when it is deleted', async () => {
    const { headers } = tenant();
    const agent = await send('POST', '/api/agents', headers, { name: 'Live line' });
    const live = await stream(headers);
    expect(live.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(live.headers.get('cache-control')).toBe('no-store');

    const created = await send(
      'POST',
      '/api/call-history',
      headers,
      callStartBody({ agentId: agent.body.id, userId: undefined }),
    );
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const started = JSON.parse((await live.next(callEvent(id, 'in-progress'))).data) as Record<
      string,
      unknown
    >;
    // The call as the list shows it: no transcript, whether it has one.
    const listed = await send('GET', `/api/call-history?limit=1`, headers);
    expect(started).toEqual((listed.body.data as unknown[])[0]);

    const completed = await send(
      'PATCH',
      `/api/call-history/${id}/status`,
      headers,
      completionBody({ summary: 'Live summary' }),
    );
    expect(completed.status).toBe(200);
    const ended = JSON.parse((await live.next(callEvent(id, 'completed'))).data) as Record<
      string,
      unknown
    >;
    expect(ended.summary).toBe('Live summary');
    expect(ended.hasTranscript).toBe(true);
    expect(ended).not.toHaveProperty('transcript');

    // The webhooks are writes like any other.
    const callSid = newCallSid();
    await send('POST', '/api/webhooks/calls/completed', headers, {
      ...completionBody(),
      callSid,
      agentId: agent.body.id,
    });
    const byWebhook = await live.next(
      (event) =>
        event.event === 'call' &&
        (JSON.parse(event.data) as { callSid: string }).callSid === callSid,
    );
    expect(JSON.parse(byWebhook.data)).toMatchObject({ status: 'completed' });

    expect((await send('DELETE', `/api/call-history/${id}`, headers)).status).toBe(204);
    const deleted = await live.next((event) => event.event === 'deleted');
    expect(JSON.parse(deleted.data)).toEqual({ id });
  });

  it("never sends another tenant's calls", async () => {
    const a = tenant();
    const b = tenant();
    const agentA = (await send('POST', '/api/agents', a.headers, { name: 'A' })).body.id;
    const agentB = (await send('POST', '/api/agents', b.headers, { name: 'B' })).body.id;
    const streamA = await stream(a.headers);
    const streamB = await stream(b.headers);
    // B's call first: if it leaked, A's stream would have it before A's own.
    const callB = await send(
      'POST',
      '/api/call-history',
      b.headers,
      callStartBody({ agentId: agentB, userId: undefined }),
    );
    const callA = await send(
      'POST',
      '/api/call-history',
      a.headers,
      callStartBody({ agentId: agentA, userId: undefined }),
    );
    await streamB.next(callEvent(callB.body.id as string));
    await streamA.next(callEvent(callA.body.id as string));
    const seenByA = streamA.received
      .filter((event) => event.event === 'call')
      .map((event) => (JSON.parse(event.data) as { id: string }).id);
    expect(seenByA).toEqual([callA.body.id]);
    // B erasing a caller tells B's streams to read again, not A's.
    await send('POST', '/api/call-history/erase', b.headers, {
      callerNumber: callStartBody().callerNumber,
    });
    await streamB.next((event) => event.event === 'refresh');
    await send('PATCH', `/api/call-history/${String(callA.body.id)}/status`, a.headers, {
      status: 'completed',
    });
    await streamA.next(callEvent(callA.body.id as string, 'completed'));
    expect(streamA.received.some((event) => event.event === 'refresh')).toBe(false);
  });

  it('has no HEAD, which would hold a stream open that sends nothing', async () => {
    const res = await fetch(`${baseUrl}/api/call-history/stream`, {
      method: 'HEAD',
      headers: tenant().headers,
    });
    expect(res.status).toBe(404);
  });

  it('asks for a credential with the calls:read scope, as every read does', async () => {
    const anonymous = await openEventStream(`${baseUrl}/api/call-history/stream`);
    streams.push(anonymous);
    expect(anonymous.status).toBe(401);
    const { headers } = tenant();
    const key = await send('POST', '/api/api-keys', headers, {
      name: 'writer only',
      scopes: ['calls:write'],
    });
    expect(key.status).toBe(201);
    const writer = await openEventStream(`${baseUrl}/api/call-history/stream`, {
      authorization: `Bearer ${String(key.body.key)}`,
    });
    streams.push(writer);
    expect(writer.status).toBe(403);
  });

  it('sends every call of a burst', async () => {
    const { headers } = tenant();
    const agentId = (await send('POST', '/api/agents', headers, { name: 'Burst' })).body.id;
    const live = await stream(headers);
    const ids = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const created = await send(
          'POST',
          '/api/call-history',
          headers,
          callStartBody({ agentId, userId: undefined }),
        );
        return created.body.id as string;
      }),
    );
    for (const id of ids) await live.next(callEvent(id));
  });

  it('ends open streams when the server stops, without waiting for them', async () => {
    const other = await createTestApp(dialect);
    const url = await other.listen();
    const client = await openEventStream(`${url}/api/call-history/stream`);
    streams.push(client);
    await client.next((event) => event.event === 'ready');
    // app.close() waits for every open connection: it returns only if the stream was ended.
    await other.close();
    await expect(client.next(() => false)).rejects.toThrow('the stream ended');
  });

  it('tells a stream which calls retention deleted', async () => {
    const { headers } = tenant();
    const agentId = (await send('POST', '/api/agents', headers, { name: 'Old' })).body.id;
    const old = await send(
      'POST',
      '/api/call-history',
      headers,
      callStartBody({ agentId, userId: undefined, startedAt: '2020-01-01T00:00:00Z' }),
    );
    expect((await send('PUT', '/api/settings', headers, { retentionDays: 30 })).status).toBe(200);
    const live = await stream(headers);
    const swept = await t.services.maintenance.sweep();
    expect(swept.deleted).toBeGreaterThanOrEqual(1);
    const deleted = await live.next((event) => event.event === 'deleted');
    expect(JSON.parse(deleted.data)).toEqual({ id: old.body.id });
  });
});

describe.each(TEST_DIALECTS)('the live call stream, bounded (%s)', (dialect) => {
  const opened: EventStreamClient[] = [];
  const apps: TestApp[] = [];

  afterAll(async () => {
    for (const client of opened) client.close();
    for (const app of apps) {
      // Node's fetch can keep the socket of an aborted stream open for a few seconds (it
      // drains the body to reuse the connection); the server would wait for it, as a real
      // shutdown does up to its drain cut-off (main.ts). These streams are done with.
      app.app.server.closeAllConnections();
      await app.close();
    }
  });

  /** An app of its own, so that no other test's streams count against its bounds. */
  async function boundedApp(settings: Partial<CallStreamSettings>): Promise<string> {
    const app = await createTestApp(dialect, {
      env: clerk.env,
      callStreamSettings: { ...CALL_STREAM_SETTINGS, ...settings },
    });
    apps.push(app);
    return app.listen();
  }
  const headersOf = (orgId: string) => ({
    authorization: `Bearer ${clerk.session({ userId: uniqueId('user_'), orgId, role: 'admin' })}`,
  });
  const open = async (baseUrl: string, headers: Record<string, string>) => {
    const client = await openEventStream(`${baseUrl}/api/call-history/stream`, headers);
    opened.push(client);
    if (client.status === 200) await client.next((event) => event.event === 'ready');
    return client;
  };

  it('sends one refresh for a burst larger than a round holds', async () => {
    const baseUrl = await boundedApp({ roundMs: 300, maxCallsPerRound: 2 });
    const headers = headersOf(uniqueId('org_'));
    const live = await open(baseUrl, headers);
    const agent = await fetch(`${baseUrl}/api/agents`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Burst' }),
    });
    const agentId = ((await agent.json()) as { id: string }).id;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        fetch(`${baseUrl}/api/call-history`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(callStartBody({ agentId, userId: undefined })),
        }),
      ),
    );
    await live.next((event) => event.event === 'refresh');
    expect(live.received.filter((event) => event.event === 'call').length).toBeLessThan(5);
  });

  it('refuses streams past a tenant’s share (429) and past the instance’s (503)', async () => {
    const baseUrl = await boundedApp({ maxStreams: 3, maxStreamsPerTenant: 2 });
    const a = headersOf(uniqueId('org_'));
    const first = await open(baseUrl, a);
    const second = await open(baseUrl, a);
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await open(baseUrl, a);
    expect(third.status).toBe(429);
    expect((await open(baseUrl, headersOf(uniqueId('org_')))).status).toBe(200);
    expect((await open(baseUrl, headersOf(uniqueId('org_')))).status).toBe(503);
    // A stream that closes frees its place.
    first.close();
    await expect
      .poll(async () => {
        const retry = await open(baseUrl, headersOf(uniqueId('org_')));
        retry.close();
        return retry.status;
      })
      .toBe(200);
  });
});
