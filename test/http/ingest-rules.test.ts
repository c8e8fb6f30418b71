// The six ingest rules of ARCHITECTURE.md, through the real app on a real database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newAgentId, newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

describe.each(TEST_DIALECTS)('ingest rules (%s)', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  beforeAll(async () => {
    // 100 PATCHes of one row queue for its lock on a pool of 10 connections. On a loaded
    // machine the last can wait past the default 3 s for a connection and rightly get a 503;
    // these tests are about what is kept, so they give the wait room.
    t = await createTestApp(dialect, { env: { DATABASE_CONNECT_TIMEOUT_MS: '30000' } });
    baseUrl = await t.listen();
  });
  afterAll(() => t.close());

  const inject = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) => {
    const res = await t.app.inject({ method, url, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.json<Record<string, any>>(), headers: res.headers };
  };
  const events = async (id: string) =>
    (await inject('GET', `/api/call-history/${id}/events`)).body.data as Array<Record<string, any>>;

  describe('1. idempotent on callSid', () => {
    it('200 concurrent identical POSTs over HTTP make one row, one 201 and 200 answers with one id', async () => {
      const body = JSON.stringify(callStartBody({ agentId: newAgentId() }));
      const responses = await Promise.all(
        Array.from({ length: 200 }, () =>
          fetch(`${baseUrl}/api/call-history`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          }).then(async (res) => ({
            status: res.status,
            body: (await res.json()) as { id: string },
          })),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 200)).toHaveLength(199);
      const ids = new Set(responses.map((r) => r.body.id));
      expect(ids.size).toBe(1);
      const [id] = [...ids];
      expect(id).toMatch(/^call_[0-9A-HJKMNP-TV-Z]{26}$/);
      const list = await inject(
        'GET',
        `/api/call-history?agentId=${String(JSON.parse(body).agentId)}`,
      );
      expect(list.body.data).toHaveLength(1);
    });

    it('a repeated POST answers 200 with the existing record, merged, and no Location', async () => {
      const start = callStartBody();
      const first = await inject('POST', '/api/call-history', start);
      expect(first.status).toBe(201);
      expect(first.headers.location).toBe(`/api/call-history/${first.body.id}`);
      const again = await inject('POST', '/api/call-history', { ...start, callerName: 'Jane Roe' });
      expect(again.status).toBe(200);
      expect(again.headers.location).toBeUndefined();
      expect(again.body.id).toBe(first.body.id);
      expect(again.body.callerName).toBe('Jane Roe');
    });

    it('the started webhook is keyed by callSid too: 201 new, 200 existing', async () => {
      const body = {
        callSid: newCallSid(),
        agentId: 'agent_12345',
        direction: 'inbound',
        callerNumber: '+1234567890',
      };
      const first = await inject('POST', '/api/webhooks/calls/started', body);
      const second = await inject('POST', '/api/webhooks/calls/started', body);
      expect([first.status, second.status]).toEqual([201, 200]);
      expect(second.body.id).toBe(first.body.id);
      expect(first.body.status).toBe('in-progress');
    });
  });

  describe('2. order-tolerant', () => {
    it('completed before started creates the record; the late started fills gaps, never lowers', async () => {
      const callSid = newCallSid();
      const completed = await inject('POST', '/api/webhooks/calls/completed', {
        callSid,
        duration: 245,
        recordingUrl: 'https://example.com/r.mp3',
        transcript: 'Full text...',
        sentiment: 'positive',
        summary: 'Customer asked about pricing',
      });
      expect(completed.status).toBe(201);
      expect(completed.body).toMatchObject({ status: 'completed', agentId: '', duration: 245 });
      // No start known: it started `duration` seconds before it ended.
      expect(Date.parse(completed.body.endedAt) - Date.parse(completed.body.startedAt)).toBe(
        245_000,
      );

      const started = await inject('POST', '/api/webhooks/calls/started', {
        callSid,
        agentId: 'agent_12345',
        direction: 'inbound',
        callerNumber: '+1234567890',
      });
      expect(started.status).toBe(200);
      expect(started.body).toMatchObject({
        id: completed.body.id,
        status: 'completed',
        agentId: 'agent_12345',
        callerNumber: '+1234567890',
        duration: 245,
        summary: 'Customer asked about pricing',
        endedAt: completed.body.endedAt,
      });

      const create = await inject('POST', '/api/call-history', {
        agentId: 'agent_12345',
        callSid,
        status: 'in-progress',
        callerName: 'John Doe',
      });
      expect(create.status).toBe(200);
      expect(create.body).toMatchObject({
        status: 'completed',
        callerName: 'John Doe',
        duration: 245,
      });
      const kinds = (await events(completed.body.id)).map((e) => [e.kind, e.outcome]);
      expect(kinds).toEqual([
        ['completed', 'created'],
        ['started', 'merged'],
        ['create', 'merged'],
      ]);
    });
  });

  describe('2b. the final record does not depend on arrival order', () => {
    const started = (callSid: string) => ({
      callSid,
      agentId: 'agent_order',
      direction: 'outbound',
      callerNumber: '+15550001111',
      callerName: 'From the start event',
      startedAt: '2025-01-17T10:30:00Z',
    });
    const completed = (callSid: string) => ({
      callSid,
      endedAt: '2025-01-17T10:34:05Z',
      summary: 'done',
    });

    it('started then completed, and completed then started, end in the same record', async () => {
      const inOrder = newCallSid();
      await inject('POST', '/api/webhooks/calls/started', started(inOrder));
      const a = (await inject('POST', '/api/webhooks/calls/completed', completed(inOrder))).body;
      const reversed = newCallSid();
      const first = (await inject('POST', '/api/webhooks/calls/completed', completed(reversed)))
        .body;
      // Before its start is known, a call seen only at its end starts there, not "now".
      expect(first.startedAt).toBe('2025-01-17T10:34:05.000Z');
      const b = (await inject('POST', '/api/webhooks/calls/started', started(reversed))).body;
      const comparable = (call: Record<string, any>) => {
        const { id: _id, callSid: _sid, createdAt: _c, updatedAt: _u, ...rest } = call;
        return rest;
      };
      expect(comparable(b)).toEqual(comparable(a));
      expect(b).toMatchObject({
        duration: 245,
        direction: 'outbound',
        startedAt: '2025-01-17T10:30:00.000Z',
      });
    });

    it('a redelivered started never undoes what later writes stated', async () => {
      const callSid = newCallSid();
      const { body } = await inject('POST', '/api/webhooks/calls/started', started(callSid));
      await inject('PATCH', `/api/call-history/${body.id}/status`, {
        status: 'completed',
        callerName: 'Corrected Name',
        endedAt: '2025-01-17T10:31:00Z',
      });
      const late = await inject('POST', '/api/webhooks/calls/started', started(callSid));
      expect(late.status).toBe(200);
      expect(late.body).toMatchObject({
        callerName: 'Corrected Name',
        status: 'completed',
        duration: 60,
      });
    });

    it('an end stated before the stated start is a 400 naming endedAt, and nothing changes', async () => {
      const callSid = newCallSid();
      const { body } = await inject('POST', '/api/webhooks/calls/started', started(callSid));
      const res = await inject('PATCH', `/api/call-history/${body.id}/status`, {
        status: 'completed',
        endedAt: '2025-01-17T10:00:00Z',
      });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe('endedAt');
      expect((await inject('GET', `/api/call-history/${body.id}`)).body).toEqual(body);
    });
  });

  describe('webhook names imply a status', () => {
    it('a completed webhook without a status ends an in-progress call', async () => {
      const start = callStartBody();
      const { body } = await inject('POST', '/api/call-history', start);
      const done = await inject('POST', '/api/webhooks/calls/completed', {
        callSid: start.callSid,
        duration: 30,
      });
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ id: body.id, status: 'completed', duration: 30 });
      expect(done.body.endedAt).not.toBeNull();
    });

    it('a started webhook without a status moves a ringing call to in-progress', async () => {
      const start = callStartBody({ status: 'ringing' });
      await inject('POST', '/api/call-history', start);
      const started = await inject('POST', '/api/webhooks/calls/started', {
        callSid: start.callSid,
        agentId: start.agentId,
      });
      expect(started.body.status).toBe('in-progress');
    });

    it('a create without a status leaves the stored status alone', async () => {
      const start = callStartBody({ status: 'ringing' });
      await inject('POST', '/api/call-history', start);
      const again = await inject('POST', '/api/call-history', { ...start, status: undefined });
      expect(again.body.status).toBe('ringing');
    });
  });

  describe('3. monotonic status', () => {
    it('ringing → in-progress → completed moves forward; PATCH back from a final status is a 409 that writes nothing', async () => {
      const created = await inject(
        'POST',
        '/api/call-history',
        callStartBody({ status: 'ringing' }),
      );
      const id = created.body.id as string;
      expect(
        (await inject('PATCH', `/api/call-history/${id}/status`, { status: 'in-progress' })).body
          .status,
      ).toBe('in-progress');
      const done = await inject('PATCH', `/api/call-history/${id}/status`, completionBody());
      expect(done.body.status).toBe('completed');

      for (const status of ['in-progress', 'ringing']) {
        const back = await inject('PATCH', `/api/call-history/${id}/status`, {
          status,
          summary: 'should not land',
        });
        expect(back.status).toBe(409);
        expect(back.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(back.body.code).toBe('status_regression');
        expect(back.body.errors[0].field).toBe('status');
      }
      const after = await inject('GET', `/api/call-history/${id}`);
      expect(after.body.status).toBe('completed');
      expect(after.body.summary).toBe(completionBody().summary);
    });

    it('a final status may replace another final status', async () => {
      const { body } = await inject('POST', '/api/call-history', callStartBody());
      await inject('PATCH', `/api/call-history/${body.id}/status`, { status: 'completed' });
      const failed = await inject('PATCH', `/api/call-history/${body.id}/status`, {
        status: 'failed',
      });
      expect(failed.status).toBe(200);
      expect(failed.body.status).toBe('failed');
    });

    it('late started webhooks and creates after completion never lower the status (50 concurrent)', async () => {
      const start = callStartBody();
      const { body } = await inject('POST', '/api/call-history', start);
      await inject('PATCH', `/api/call-history/${body.id}/status`, {
        status: 'completed',
        duration: 10,
      });
      const late = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0
            ? inject('POST', '/api/webhooks/calls/started', {
                callSid: start.callSid,
                agentId: start.agentId,
                status: 'ringing',
              })
            : inject('POST', '/api/call-history', { ...start, status: 'in-progress' }),
        ),
      );
      expect(late.every((r) => r.status === 200 && r.body.status === 'completed')).toBe(true);
      expect((await inject('GET', `/api/call-history/${body.id}`)).body.status).toBe('completed');
    });

    it('endedAt is set when a final status first arrives, and duration computed when not given', async () => {
      const { body } = await inject(
        'POST',
        '/api/call-history',
        callStartBody({ startedAt: '2025-01-17T10:30:00Z' }),
      );
      const done = await inject('PATCH', `/api/call-history/${body.id}/status`, {
        status: 'completed',
        endedAt: '2025-01-17T10:34:05Z',
      });
      expect(done.body).toMatchObject({
        startedAt: '2025-01-17T10:30:00.000Z',
        endedAt: '2025-01-17T10:34:05.000Z',
        duration: 245,
      });
    });
  });

  describe('4. merge, never lose', () => {
    it('absent or null fields keep stored values (the Python example sends None)', async () => {
      const { body } = await inject('POST', '/api/call-history', callStartBody());
      await inject('PATCH', `/api/call-history/${body.id}/status`, completionBody());
      const update = await inject('PATCH', `/api/call-history/${body.id}/status`, {
        status: 'completed',
        duration: 245,
        recordingUrl: null,
        transcript: null,
        sentiment: null,
        topics: [],
        summary: null,
        collectedData: {},
        cost: null,
      });
      expect(update.status).toBe(200);
      const expected = completionBody();
      expect(update.body).toMatchObject({
        recordingUrl: expected.recordingUrl,
        transcript: expected.transcript,
        sentiment: 'positive',
        topics: ['support', 'billing'],
        summary: expected.summary,
        collectedData: expected.collectedData,
        cost: 0.15,
        callerNumber: '+1234567890',
      });
    });

    it('a repeated identical PATCH gives identical records (updatedAt moves only on change)', async () => {
      const { body } = await inject('POST', '/api/call-history', callStartBody());
      const first = await inject('PATCH', `/api/call-history/${body.id}/status`, completionBody());
      for (let i = 0; i < 5; i++) {
        const again = await inject(
          'PATCH',
          `/api/call-history/${body.id}/status`,
          completionBody(),
        );
        expect(again.body).toEqual(first.body);
      }
    });

    it('collectedData merges per key, topics as an ordered set, scalars last-write-wins', async () => {
      const { body } = await inject('POST', '/api/call-history', callStartBody());
      const url = `/api/call-history/${body.id}/status`;
      await inject('PATCH', url, {
        status: 'completed',
        topics: ['sales', 'pricing'],
        collectedData: { name: 'Jane', budget: '$5000' },
        summary: 'first',
      });
      const second = await inject('PATCH', url, {
        status: 'completed',
        topics: ['pricing', 'support', 'sales', 'onboarding'],
        collectedData: { budget: '$7000', company: 'Acme Inc', nested: { a: 1 } },
        summary: 'second',
        cost: 0.12,
      });
      expect(second.body.topics).toEqual(['sales', 'pricing', 'support', 'onboarding']);
      expect(second.body.collectedData).toEqual({
        name: 'Jane',
        budget: '$7000',
        company: 'Acme Inc',
        nested: { a: 1 },
      });
      expect(second.body.summary).toBe('second');
      expect(second.body.cost).toBe(0.12);
    });

    it('100 concurrent PATCHes each adding a key and a topic lose none of them', async () => {
      const { body } = await inject(
        'POST',
        '/api/call-history',
        callStartBody({ topics: ['first'] }),
      );
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          inject('PATCH', `/api/call-history/${body.id}/status`, {
            status: 'completed',
            collectedData: { [`key${i}`]: i },
            topics: [`topic${i}`],
          }),
        ),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      const final = await inject('GET', `/api/call-history/${body.id}`);
      expect(Object.keys(final.body.collectedData)).toHaveLength(100);
      for (let i = 0; i < 100; i++) expect(final.body.collectedData[`key${i}`]).toBe(i);
      expect(final.body.topics).toHaveLength(101);
      expect(final.body.topics[0]).toBe('first');
      expect(new Set(final.body.topics).size).toBe(101);
      expect(final.body.callerNumber).toBe('+1234567890');
    });

    it('cost is exact to the micro-dollar', async () => {
      const { body } = await inject(
        'POST',
        '/api/call-history',
        callStartBody({ status: 'completed', cost: 0.1 + 0.2 }),
      );
      expect(body.cost).toBe(0.3);
    });
  });

  describe('5. identity is fixed', () => {
    it('another agent for a known callSid is a 409 naming agentId, and nothing changes', async () => {
      const start = callStartBody();
      const { body } = await inject('POST', '/api/call-history', start);
      for (const [url, payload] of [
        ['/api/call-history', { ...start, agentId: 'agent_other', callerName: 'Mallory' }],
        [
          '/api/webhooks/calls/started',
          { callSid: start.callSid, agentId: 'agent_other', callerName: 'Mallory' },
        ],
        [
          '/api/webhooks/calls/completed',
          { callSid: start.callSid, agentId: 'agent_other', callerName: 'Mallory' },
        ],
      ] as const) {
        const res = await inject('POST', url, payload);
        expect(res.status).toBe(409);
        expect(res.body.code).toBe('call_agent_mismatch');
        expect(res.body.errors).toEqual([{ field: 'agentId', message: expect.any(String) }]);
      }
      const after = await inject('GET', `/api/call-history/${body.id}`);
      expect(after.body).toEqual(body);
      expect(await events(body.id)).toHaveLength(1);
    });
  });

  describe('one-step create (the guide FAQ)', () => {
    it('a POST with a final status and every end-of-call field makes a complete record', async () => {
      const res = await inject('POST', '/api/call-history', {
        ...callStartBody({ startedAt: '2025-01-17T10:30:00Z' }),
        ...completionBody(),
      });
      expect(res.status).toBe(201);
      const { status: _s, ...rest } = completionBody();
      expect(res.body).toMatchObject({
        ...rest,
        status: 'completed',
        startedAt: '2025-01-17T10:30:00.000Z',
      });
      expect(res.body.endedAt).not.toBeNull();
    });
  });
});
