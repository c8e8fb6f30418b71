// Reads, lists, deletes and timelines of calls; agents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newAgentId, newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

describe.each(TEST_DIALECTS)('calls and agents API (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const inject = async (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
  ) => {
    const res = await t.app.inject({ method, url, ...(payload ? { payload } : {}) });
    return {
      status: res.statusCode,
      body: res.body === '' ? null : res.json(),
      headers: res.headers,
    };
  };

  it('GET by id and by callSid return the full record', async () => {
    const start = callStartBody();
    const { body } = await inject('POST', '/api/call-history', start);
    const byId = await inject('GET', `/api/call-history/${body.id}`);
    const bySid = await inject('GET', `/api/call-history/by-sid/${String(start.callSid)}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual(body);
    expect(bySid.body).toEqual(body);
    expect(Object.keys(body).sort()).toEqual(
      [
        'id',
        'callSid',
        'agentId',
        'userId',
        'orgId',
        'direction',
        'callerNumber',
        'callerName',
        'status',
        'startedAt',
        'endedAt',
        'duration',
        'recordingUrl',
        'transcript',
        'sentiment',
        'topics',
        'summary',
        'collectedData',
        'cost',
        'endReason',
        'createdAt',
        'updatedAt',
      ].sort(),
    );
    expect(byId.headers['cache-control']).toBe('no-store');
  });

  it('unknown ids and callSids are 404 problems', async () => {
    for (const url of [
      '/api/call-history/call_01ARZ3NDEKTSV4RRFFQ69G5FAV',
      '/api/call-history/by-sid/CA-never-seen',
      '/api/call-history/call_01ARZ3NDEKTSV4RRFFQ69G5FAV/events',
    ]) {
      const res = await inject('GET', url);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('call_not_found');
    }
  });

  it('DELETE answers 204, then the call and its timeline are gone (404)', async () => {
    const { body } = await inject('POST', '/api/call-history', callStartBody());
    await inject('PATCH', `/api/call-history/${body.id}/status`, completionBody());
    const deleted = await inject('DELETE', `/api/call-history/${body.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBeNull();
    expect((await inject('GET', `/api/call-history/${body.id}`)).status).toBe(404);
    expect((await inject('GET', `/api/call-history/${body.id}/events`)).status).toBe(404);
    expect((await inject('DELETE', `/api/call-history/${body.id}`)).status).toBe(404);
    const rows = await t.database.db
      .selectFrom('call_events')
      .select('id')
      .where('call_id', '=', body.id)
      .execute();
    expect(rows).toEqual([]);
  });

  it('the timeline records every accepted write with its status change', async () => {
    const start = callStartBody({ status: 'ringing' });
    const { body } = await inject('POST', '/api/call-history', start);
    await inject('POST', '/api/webhooks/calls/started', {
      callSid: start.callSid,
      agentId: start.agentId,
    });
    await inject('PATCH', `/api/call-history/${body.id}/status`, {
      status: 'completed',
      duration: 12,
    });
    await inject('PATCH', `/api/call-history/${body.id}/status`, { status: 'ringing' }); // refused: 409
    const { body: timeline } = await inject('GET', `/api/call-history/${body.id}/events`);
    expect(
      timeline.data.map((e: any) => [e.kind, e.outcome, e.statusBefore, e.statusAfter]),
    ).toEqual([
      ['create', 'created', null, 'ringing'],
      ['started', 'merged', 'ringing', 'in-progress'],
      ['status_update', 'merged', 'in-progress', 'completed'],
    ]);
    expect(timeline.data[2].payload).toEqual({ status: 'completed', duration: 12 });
    for (const event of timeline.data) expect(Date.parse(event.receivedAt)).not.toBeNaN();
  });

  it('the timeline pages with a cursor and records a transcript by its length only', async () => {
    const { body } = await inject('POST', '/api/call-history', callStartBody());
    for (let i = 0; i < 4; i++) {
      await inject('PATCH', `/api/call-history/${body.id}/status`, {
        transcript: `Agent: turn ${i}`,
      });
    }
    const first = await inject('GET', `/api/call-history/${body.id}/events?limit=2`);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await inject(
      'GET',
      `/api/call-history/${body.id}/events?limit=2&cursor=${first.body.nextCursor}`,
    );
    const third = await inject(
      'GET',
      `/api/call-history/${body.id}/events?limit=2&cursor=${second.body.nextCursor}`,
    );
    expect(third.body.nextCursor).toBeNull();
    const all = [...first.body.data, ...second.body.data, ...third.body.data];
    expect(all).toHaveLength(5);
    expect(new Set(all.map((e: any) => e.id)).size).toBe(5);
    expect(all[1].payload.transcript).toEqual({
      omitted: true,
      characters: 'Agent: turn 0'.length,
    });
    expect((await inject('GET', `/api/call-history/${body.id}/events?cursor=abc`)).status).toBe(
      400,
    );
  });

  describe('list', () => {
    const agentId = newAgentId();
    const ids: string[] = [];
    beforeAll(async () => {
      // 25 calls a minute apart, plus 5 sharing one startedAt (ties broken by id).
      for (let i = 0; i < 30; i++) {
        const startedAt = new Date(Date.UTC(2025, 0, 17, 10, i < 25 ? i : 30)).toISOString();
        const { body } = await inject(
          'POST',
          '/api/call-history',
          callStartBody({ agentId, startedAt, status: i % 3 === 0 ? 'completed' : 'in-progress' }),
        );
        ids.push(body.id);
      }
    });

    const walk = async (query: string) => {
      const seen: any[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await inject(
          'GET',
          `/api/call-history?agentId=${agentId}&${query}${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.data);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor !== null && pages < 100);
      return { seen, pages };
    };

    it('pages newest first by startedAt, ties by id, never skipping or repeating', async () => {
      const { seen, pages } = await walk('limit=7');
      expect(pages).toBe(5);
      expect(seen).toHaveLength(30);
      expect(new Set(seen.map((c) => c.id)).size).toBe(30);
      const keys = seen.map((c) => `${c.startedAt}|${c.id}`);
      expect(keys).toEqual([...keys].sort().reverse());
    });

    it('defaults to 50 a page and answers nextCursor null on the last page', async () => {
      const res = await inject('GET', `/api/call-history?agentId=${agentId}`);
      expect(res.body.data).toHaveLength(30);
      expect(res.body.nextCursor).toBeNull();
      const exact = await inject('GET', `/api/call-history?agentId=${agentId}&limit=30`);
      expect(exact.body.nextCursor).toBeNull();
    });

    it('filters by status', async () => {
      const { seen } = await walk('status=completed&limit=3');
      expect(seen).toHaveLength(10);
      expect(seen.every((c) => c.status === 'completed')).toBe(true);
    });

    it('a call that arrives mid-walk neither shifts nor repeats the rest', async () => {
      const first = await inject('GET', `/api/call-history?agentId=${agentId}&limit=10`);
      await inject('POST', '/api/call-history', callStartBody({ agentId })); // newest of all
      const second = await inject(
        'GET',
        `/api/call-history?agentId=${agentId}&limit=10&cursor=${first.body.nextCursor}`,
      );
      const firstIds = new Set(first.body.data.map((c: any) => c.id));
      expect(second.body.data.some((c: any) => firstIds.has(c.id))).toBe(false);
      expect(second.body.data[0].startedAt <= first.body.data.at(-1).startedAt).toBe(true);
    });
  });

  describe('agents', () => {
    it('POST /api/agents creates with a chosen or generated id; a taken id is a 409', async () => {
      const id = newAgentId();
      const created = await inject('POST', '/api/agents', { name: 'Support line', id });
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/api/agents/${id}`);
      expect(created.body).toMatchObject({ id, name: 'Support line' });
      const generated = await inject('POST', '/api/agents', { name: 'Sales' });
      expect(generated.body.id).toMatch(/^agent_[0-9A-Z]{26}$/);
      const taken = await inject('POST', '/api/agents', { name: 'Again', id });
      expect(taken.status).toBe(409);
      expect(taken.body.code).toBe('agent_exists');
      expect((await inject('GET', `/api/agents/${id}`)).body).toEqual(created.body);
      const list = await inject('GET', '/api/agents');
      expect(list.body.data.map((a: any) => a.id)).toEqual(
        expect.arrayContaining([id, generated.body.id]),
      );
    });

    it('rejects bad agent bodies', async () => {
      for (const body of [
        {},
        { name: '' },
        { name: 'x', id: 'has space' },
        { name: 'x', extra: 1 },
      ]) {
        expect((await inject('POST', '/api/agents', body)).status).toBe(400);
      }
      expect((await inject('GET', '/api/agents/agent_missing')).status).toBe(404);
    });

    it('dev mode registers an unknown agent on first use, once, even when 50 calls race', async () => {
      const agentId = newAgentId();
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          inject(
            'POST',
            '/api/call-history',
            callStartBody({ agentId, callSid: newCallSid(), userId: 'user_1' }),
          ),
        ),
      );
      expect(results.every((r) => r.status === 201)).toBe(true);
      const agent = await inject('GET', `/api/agents/${agentId}`);
      expect(agent.body).toMatchObject({ id: agentId, name: agentId, userId: 'user_1' });
      const all = await inject('GET', '/api/agents');
      expect(all.body.data.filter((a: any) => a.id === agentId)).toHaveLength(1);
    });
  });

  it('/healthz and /readyz answer', async () => {
    expect((await inject('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await inject('GET', '/readyz')).body).toEqual({ status: 'ready', database: dialect });
  });
});
