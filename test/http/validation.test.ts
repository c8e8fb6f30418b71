// Strict input: every bad body is a 4xx problem naming the field, and nothing is written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

type Case = readonly [name: string, patch: Record<string, unknown>, field: string];

const long = (n: number) => 'x'.repeat(n);
const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { level: nested(depth - 1) });

/** Bad values for fields every ingest body shares; each must be refused naming `field`. */
const SHARED_CASES: Case[] = [
  ['unknown field', { colour: 'blue' }, 'colour'],
  ['duration as a string', { duration: '12' }, 'duration'],
  ['duration as a boolean', { duration: true }, 'duration'],
  ['duration as an array', { duration: [5] }, 'duration'],
  ['negative duration', { duration: -1 }, 'duration'],
  ['absurd duration', { duration: 1e12 }, 'duration'],
  ['negative cost', { cost: -0.01 }, 'cost'],
  ['cost as a string', { cost: '0.15' }, 'cost'],
  ['bad sentiment', { sentiment: 'happy' }, 'sentiment'],
  ['topics as a string', { topics: 'support' }, 'topics'],
  ['a non-string topic', { topics: ['ok', 3] }, 'topics.1'],
  ['an empty topic', { topics: [''] }, 'topics.0'],
  ['too many topics', { topics: Array.from({ length: 51 }, (_, i) => `t${i}`) }, 'topics'],
  ['collectedData as an array', { collectedData: ['a'] }, 'collectedData'],
  ['collectedData as a string', { collectedData: 'a' }, 'collectedData'],
  ['collectedData too deep', { collectedData: { a: nested(6) } }, 'collectedData'],
  [
    'collectedData with too many keys',
    { collectedData: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) },
    'collectedData',
  ],
  ['collectedData with an empty key', { collectedData: { '': 1 } }, 'collectedData'],
  [
    'collectedData with 200,000 array elements',
    { collectedData: { a: new Array(200_000).fill(0) } },
    'collectedData',
  ],
  ['a NUL in the transcript', { transcript: 'Agent: hi\u0000there' }, 'transcript'],
  ['a NUL in callerName', { callerName: 'Ada\u0000' }, 'callerName'],
  ['a NUL in recordingUrl', { recordingUrl: 'https://example.com/a\u0000.mp3' }, 'recordingUrl'],
  ['a space in recordingUrl', { recordingUrl: 'https://example.com/a b.mp3' }, 'recordingUrl'],
  ['a NUL in a topic', { topics: ['ok\u0000'] }, 'topics.0'],
  ['recordingUrl javascript:', { recordingUrl: 'javascript:alert(1)' }, 'recordingUrl'],
  ['recordingUrl data:', { recordingUrl: 'data:audio/mp3;base64,AAAA' }, 'recordingUrl'],
  ['recordingUrl file:', { recordingUrl: 'file:///etc/passwd' }, 'recordingUrl'],
  ['recordingUrl ftp:', { recordingUrl: 'ftp://example.com/a.mp3' }, 'recordingUrl'],
  ['recordingUrl not a URL', { recordingUrl: 'recording.mp3' }, 'recordingUrl'],
  ['empty transcript', { transcript: '' }, 'transcript'],
  ['over-long transcript', { transcript: long(1_000_001) }, 'transcript'],
  ['over-long summary', { summary: long(20_001) }, 'summary'],
  ['unparsable endedAt', { endedAt: 'yesterday' }, 'endedAt'],
  ['endedAt without a time zone', { endedAt: '2025-01-17T10:30:00' }, 'endedAt'],
  ['impossible endedAt', { endedAt: '2025-13-45T10:30:00Z' }, 'endedAt'],
  ['a date-only endedAt', { endedAt: '2025-01-17' }, 'endedAt'],
  [
    'endedAt before startedAt',
    { startedAt: '2025-01-17T10:30:00Z', endedAt: '2025-01-17T10:29:00Z' },
    'endedAt',
  ],
];

describe.each(TEST_DIALECTS)('strict input (%s)', (dialect) => {
  let t: TestApp;
  let existingId: string;
  let existing: Record<string, unknown>;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: callStartBody(),
    });
    existing = res.json();
    existingId = existing.id as string;
  });
  afterAll(() => t.close());

  const callCount = async () => {
    let count = 0;
    let cursor: string | null = null;
    do {
      const url: string = `/api/call-history?limit=100${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await t.app.inject({ method: 'GET', url });
      const page: { data: unknown[]; nextCursor: string | null } = res.json();
      count += page.data.length;
      cursor = page.nextCursor;
    } while (cursor);
    return count;
  };

  async function expectRefused(
    res: { statusCode: number; headers: Record<string, unknown>; json: () => any },
    status: number,
    field?: string,
  ) {
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
    expect(problem.detail).toEqual(expect.any(String));
    if (field !== undefined) {
      expect(problem.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(JSON.stringify(problem)).not.toMatch(/at .*\.ts:\d+|SQLITE|select |insert /i);
  }

  describe('POST /api/call-history', () => {
    it.each(SHARED_CASES)(
      '%s → 400 naming the field, nothing stored',
      async (_name, patch, field) => {
        const before = await callCount();
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/call-history',
          payload: callStartBody({ callSid: newCallSid(), ...patch }),
        });
        await expectRefused(res, 400, field);
        expect(await callCount()).toBe(before);
      },
    );

    it.each<Case>([
      ['missing callSid', { callSid: undefined }, 'callSid'],
      ['missing agentId', { agentId: undefined }, 'agentId'],
      ['empty callSid', { callSid: '' }, 'callSid'],
      ['over-long callSid', { callSid: long(129) }, 'callSid'],
      ['callSid with a slash', { callSid: 'CA/1' }, 'callSid'],
      ['bad status', { status: 'done' }, 'status'],
      ['bad direction', { direction: 'sideways' }, 'direction'],
      ['empty callerName', { callerName: '' }, 'callerName'],
      ['numeric callerNumber', { callerNumber: 1234567890 }, 'callerNumber'],
      ['unparsable startedAt', { startedAt: 'now' }, 'startedAt'],
    ])('%s → 400 naming the field', async (_name, patch, field) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        payload: JSON.parse(JSON.stringify(callStartBody(patch))),
      });
      await expectRefused(res, 400, field);
    });

    it('lists every bad field at once', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        payload: { agentId: '', callSid: 'CA-1', duration: -5, sentiment: 'meh', extra: 1 },
      });
      await expectRefused(res, 400);
      const fields = res
        .json()
        .errors.map((e: { field: string }) => e.field)
        .sort();
      expect(fields).toEqual(['agentId', 'duration', 'extra', 'sentiment']);
    });
  });

  describe('PATCH /api/call-history/{id}/status', () => {
    it.each<Case>([
      ...SHARED_CASES,
      ['changing callSid', { callSid: 'CA-other' }, 'callSid'],
      ['changing agentId', { agentId: 'agent_other' }, 'agentId'],
      ['setting orgId', { orgId: 'org_evil' }, 'orgId'],
      ['setting id', { id: 'call_x' }, 'id'],
      ['setting createdAt', { createdAt: '2020-01-01T00:00:00Z' }, 'createdAt'],
    ])('%s → 400, the call is unchanged', async (_name, patch, field) => {
      const res = await t.app.inject({
        method: 'PATCH',
        url: `/api/call-history/${existingId}/status`,
        payload: { status: 'completed', summary: 'must not land', ...patch },
      });
      await expectRefused(res, 400, field);
      const after = await t.app.inject({ method: 'GET', url: `/api/call-history/${existingId}` });
      expect(after.json()).toEqual(existing);
    });

    it('an unknown id is a 404', async () => {
      const res = await t.app.inject({
        method: 'PATCH',
        url: '/api/call-history/call_01ARZ3NDEKTSV4RRFFQ69G5FAV/status',
        payload: completionBody(),
      });
      await expectRefused(res, 404);
      expect(res.json().code).toBe('call_not_found');
    });
  });

  describe('webhooks', () => {
    it.each(SHARED_CASES.filter(([, patch]) => !('duration' in patch && 'startedAt' in patch)))(
      'completed: %s → 400',
      async (_name, patch, field) => {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/webhooks/calls/completed',
          payload: { callSid: newCallSid(), ...patch },
        });
        await expectRefused(res, 400, field);
      },
    );

    it('started needs an agentId and refuses a final status', async () => {
      const noAgent = await t.app.inject({
        method: 'POST',
        url: '/api/webhooks/calls/started',
        payload: { callSid: newCallSid() },
      });
      await expectRefused(noAgent, 400, 'agentId');
      const final = await t.app.inject({
        method: 'POST',
        url: '/api/webhooks/calls/started',
        payload: { callSid: newCallSid(), agentId: 'agent_1', status: 'completed' },
      });
      await expectRefused(final, 400, 'status');
    });

    it('completed refuses a live status', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/webhooks/calls/completed',
        payload: { callSid: newCallSid(), status: 'ringing' },
      });
      await expectRefused(res, 400, 'status');
    });
  });

  describe('the body itself', () => {
    const raw = (payload: string, contentType: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        headers: { 'content-type': contentType },
        payload,
      });

    it('malformed JSON → 400 malformed_json', async () => {
      const res = await raw('{"agentId": "a", "callSid": ', 'application/json');
      await expectRefused(res, 400, 'body');
      expect(res.json().code).toBe('malformed_json');
    });

    it('an empty JSON body → 400', async () => {
      await expectRefused(await raw('', 'application/json'), 400);
    });

    it('collectedData nested 20,000 levels → 400, not a stack overflow', async () => {
      const deep = '['.repeat(20_000) + ']'.repeat(20_000);
      const res = await raw(
        `{"agentId":"agent_deep","callSid":"CA-deep","collectedData":{"a":${deep}}}`,
        'application/json',
      );
      await expectRefused(res, 400, 'collectedData');
    });

    it('a JSON array instead of an object → 400', async () => {
      await expectRefused(await raw('[]', 'application/json'), 400);
    });

    it.each([
      'text/plain',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
    ])('%s → 415', async (contentType) => {
      const res = await raw('agentId=a&callSid=b', contentType);
      await expectRefused(res, 415);
      expect(res.json().code).toBe('unsupported_media_type');
    });

    it('application/json; charset=utf-8 is accepted', async () => {
      const res = await raw(JSON.stringify(callStartBody()), 'application/json; charset=utf-8');
      expect(res.statusCode).toBe(201);
    });

    it('a body over BODY_LIMIT → 413, nothing stored', async () => {
      const before = await callCount();
      const body = JSON.stringify(callStartBody({ transcript: long(t.config.bodyLimit) }));
      const res = await raw(body, 'application/json');
      await expectRefused(res, 413);
      expect(res.json().code).toBe('payload_too_large');
      expect(await callCount()).toBe(before);
    });

    it.each([
      ['__proto__ at the top', '{"__proto__": {"polluted": true}, "agentId": "a", "callSid": "b"}'],
      [
        '__proto__ inside collectedData',
        '{"agentId": "a", "callSid": "b", "collectedData": {"__proto__": {"polluted": true}}}',
      ],
      [
        'constructor.prototype',
        '{"agentId": "a", "callSid": "b", "collectedData": {"constructor": {"prototype": {"polluted": true}}}}',
      ],
    ])('%s → 400, Object.prototype untouched', async (_name, payload) => {
      const res = await raw(payload, 'application/json');
      await expectRefused(res, 400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('path parameters', () => {
    it.each([
      ['/api/call-history/%00', 'id'],
      ['/api/call-history/by-sid/%00', 'callSid'],
      ['/api/call-history/a%20b', 'id'],
      ['/api/agents/%00', 'id'],
    ])('GET %s → 400 naming %s', async (url, field) => {
      const res = await t.app.inject({ method: 'GET', url });
      await expectRefused(res, 400, field);
    });

    it('an agent name with a NUL → 400', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/agents',
        payload: { name: 'a\u0000' },
      });
      await expectRefused(res, 400, 'name');
    });
  });

  describe('query strings', () => {
    it.each([
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=ten', 'limit'],
      ['status=done', 'status'],
      ['cursor=not-a-cursor', 'cursor'],
      [`cursor=${Buffer.from('[1,"x","call_1"]').toString('base64url')}`, 'cursor'],
      [
        `cursor=${Buffer.from('[1,"2025-01-01T00:00:00.000Z","call_\\u0000"]').toString('base64url')}`,
        'cursor',
      ],
      ['agentID=typo', 'agentID'],
    ])('?%s → 400 naming %s', async (query, field) => {
      const res = await t.app.inject({ method: 'GET', url: `/api/call-history?${query}` });
      await expectRefused(res, 400, field);
    });
  });

  it('an unknown route is a 404 problem, never the SPA', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/nope' });
    await expectRefused(res, 404);
    expect(res.json().code).toBe('route_not_found');
  });
});
