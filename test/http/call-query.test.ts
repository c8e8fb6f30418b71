// The list's filters, search, sorts and cursors, checked against a model: a known data set is
// ingested through the API, and every answer is compared with the same answer computed here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../src/modules/calls/calls.schemas.js';
import { newCallSid, prng, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';
import { parseCsv } from '../setup/csv.js';
import { csvRow } from '../../src/lib/csv.js';
import { CSV_COLUMNS } from '../../src/modules/calls/calls.export.js';
import { expectStatsOf } from '../stats-model.js';

type Params = Record<string, string | string[]>;
type ListedPage = {
  data: Array<Record<string, unknown>>;
  nextCursor: string | null;
  total: number;
};

const AGENTS = ['agent_q1', 'agent_q2', 'agent_q3'];
const STATUSES = ['ringing', 'in-progress', 'completed', 'missed', 'failed'];
const SENTIMENTS = ['positive', 'negative', 'neutral'];
const END_REASONS = ['caller_hangup', 'agent_hangup', 'voicemail', 'error'];
const TOPICS = ['billing', 'support', 'refund request', 'sales, upsell', 'Onboarding'];
const CALLERS = ['+15550001', '+15550002', '+15550003', '+15550004'];
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Émilie du Châtelet'];
const WORDS = [
  'hello',
  'thanks',
  'account',
  'invoice',
  'refund',
  'refunded',
  'password',
  'shipping',
  'delay',
  'upgrade',
  'cancel',
  'zebra',
];

/** Builds one create body from the PRNG; some fields are left out on purpose. */
function randomCall(random: () => number, index: number): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const status = pick(STATUSES);
  const live = status === 'ringing' || status === 'in-progress';
  // Some calls share a start time to the millisecond: ties must break on the id.
  const startedAt = new Date(
    Date.UTC(2025, 0, 1) + Math.floor(random() * 40) * 3_600_000 * 13,
  ).toISOString();
  const body: Record<string, unknown> = {
    agentId: pick(AGENTS),
    callSid: newCallSid(),
    direction: random() < 0.6 ? 'inbound' : 'outbound',
    callerNumber: pick(CALLERS),
    callerName: random() < 0.8 ? pick(NAMES) : null,
    status,
    startedAt,
  };
  if (!live) {
    if (random() < 0.85) body.duration = Math.floor(random() * 900);
    if (random() < 0.7) body.cost = Math.round(random() * 500) / 100;
    if (random() < 0.6) body.recordingUrl = `https://recordings.example.com/${index}.mp3`;
    if (random() < 0.75) {
      const lines = Array.from(
        { length: 3 + Math.floor(random() * 5) },
        (_, line) =>
          `${line % 2 === 0 ? 'Agent' : 'Caller'}: ${Array.from({ length: 6 }, () => pick(WORDS)).join(' ')}.`,
      );
      body.transcript = lines.join('\n');
    }
    if (random() < 0.8) body.sentiment = pick(SENTIMENTS);
    if (random() < 0.7) body.endReason = pick(END_REASONS);
    if (random() < 0.6) body.summary = `Caller asked about ${pick(WORDS)} and ${pick(WORDS)}`;
  }
  if (random() < 0.7) {
    body.topics = [
      ...new Set(Array.from({ length: 1 + Math.floor(random() * 2) }, () => pick(TOPICS))),
    ];
  }
  if (random() < 0.7) {
    body.collectedData = {
      plan: random() < 0.5 ? 'pro' : 'basic',
      seats: Math.floor(random() * 5),
      vip: random() < 0.3,
      address: { city: pick(['Lisbon', 'Oslo', 'Quito']) },
    };
  }
  return body;
}

// ---- The model: what the answer should be, computed without the server ----

const WORD = /[\p{L}\p{N}]+/gu;
const tokens = (text: string | null | undefined): string[] =>
  (text ?? '').match(WORD)?.map((t) => t.toLowerCase()) ?? [];

function scalarValues(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number') return [String(value)];
  if (value !== null && typeof value === 'object')
    return Object.values(value).flatMap(scalarValues);
  return [];
}

/** Each searchable field's words, as the index holds them (phrases never cross fields). */
function searchFields(call: Call): string[][] {
  return [
    tokens(call.callerName),
    tokens(call.topics.join(' ')),
    tokens(call.summary),
    tokens(scalarValues(call.collectedData).join(' ')),
    tokens(call.transcript),
  ];
}

function matchesSearch(call: Call, q: string): boolean {
  const terms = (q.match(/"[^"]*"?|[^\s"]+/g) ?? []).map((chunk) => ({
    words: tokens(chunk),
    prefix: !chunk.startsWith('"') && chunk.endsWith('*'),
  }));
  const fields = searchFields(call);
  return terms.every(({ words, prefix }) =>
    fields.some((field) =>
      field.some((_, start) =>
        words.every((word, i) => {
          const token = field[start + i];
          if (token === undefined) return false;
          return prefix && i === words.length - 1 ? token.startsWith(word) : token === word;
        }),
      ),
    ),
  );
}

const list = (value: string | string[]): string[] =>
  (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(','));

function matchesFilter(call: Call, params: Params): boolean {
  for (const [name, raw] of Object.entries(params)) {
    const value = Array.isArray(raw) ? raw : String(raw);
    const one = String(raw);
    switch (name) {
      case 'agentId':
        if (!list(value).includes(call.agentId)) return false;
        break;
      case 'status':
        if (!list(value).includes(call.status)) return false;
        break;
      case 'direction':
        if (!list(value).includes(call.direction)) return false;
        break;
      case 'sentiment':
        if (call.sentiment === null || !list(value).includes(call.sentiment)) return false;
        break;
      case 'endReason':
        if (call.endReason === null || !list(value).includes(call.endReason)) return false;
        break;
      case 'topic': {
        const wanted = Array.isArray(raw) ? raw : [raw];
        if (!call.topics.some((topic) => wanted.includes(topic))) return false;
        break;
      }
      case 'from':
        if (call.startedAt < new Date(one).toISOString()) return false;
        break;
      case 'to':
        if (call.startedAt >= new Date(one).toISOString()) return false;
        break;
      case 'minDuration':
        if (call.duration === null || call.duration < Number(one)) return false;
        break;
      case 'maxDuration':
        if (call.duration === null || call.duration > Number(one)) return false;
        break;
      case 'minCost':
        if (call.cost === null || call.cost < Number(one)) return false;
        break;
      case 'maxCost':
        if (call.cost === null || call.cost > Number(one)) return false;
        break;
      case 'callerNumber':
        if (call.callerNumber !== one) return false;
        break;
      case 'hasRecording':
        if ((call.recordingUrl !== null) !== (one === 'true')) return false;
        break;
      case 'hasTranscript':
        if ((call.transcript !== null) !== (one === 'true')) return false;
        break;
      case 'q':
        if (!matchesSearch(call, one)) return false;
        break;
      default: {
        const key = name.replace(/^collectedData\./, '');
        const stored = call.collectedData[key];
        const text =
          typeof stored === 'string' || typeof stored === 'number' || typeof stored === 'boolean'
            ? String(stored)
            : undefined;
        if (text !== one) return false;
      }
    }
  }
  return true;
}

const byNewest = (a: Call, b: Call) =>
  a.startedAt === b.startedAt ? (a.id < b.id ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1;
const byOldest = (a: Call, b: Call) => -byNewest(a, b);
const byLongest = (a: Call, b: Call) => {
  const da = a.duration ?? -1;
  const db = b.duration ?? -1;
  return da === db ? (a.id < b.id ? 1 : -1) : db - da;
};
const SORTERS = { newest: byNewest, oldest: byOldest, longest: byLongest } as const;

describe.each(TEST_DIALECTS)('filters, search and cursors against a model (%s)', (dialect) => {
  let t: TestApp;
  const model: Call[] = [];

  const get = async (path: string, params: Params) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      for (const item of Array.isArray(value) ? value : [value]) search.append(name, item);
    }
    const res = await t.app.inject({ method: 'GET', url: `${path}?${search.toString()}` });
    return { status: res.statusCode, body: res.json() };
  };

  /** Every page of a list, walked by cursor. */
  async function walk(params: Params, limit = 7): Promise<Call[]> {
    const seen: Call[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const { status, body } = await get('/api/call-history', {
        ...params,
        limit: String(limit),
        ...(cursor === null ? {} : { cursor }),
      });
      expect(status, JSON.stringify(body)).toBe(200);
      seen.push(...(body.data as Call[]));
      cursor = body.nextCursor as string | null;
      if (cursor === null) return seen;
    }
    throw new Error('the cursor walk did not end');
  }

  async function ingest(body: Record<string, unknown>): Promise<Call> {
    const res = await t.app.inject({ method: 'POST', url: '/api/call-history', payload: body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<Call>();
  }

  /** Completed calls of `agentId` with these fields, a second apart from New Year of `year`. */
  async function ingestCompleted(
    agentId: string,
    year: number,
    calls: ReadonlyArray<Record<string, unknown>>,
    common: Record<string, unknown> = {},
  ): Promise<string[]> {
    const ids: string[] = [];
    for (const [index, fields] of calls.entries()) {
      const created = await ingest({
        agentId,
        callSid: newCallSid(),
        ...common,
        status: 'completed',
        startedAt: new Date(Date.UTC(year, 0, 1) + index * 1000).toISOString(),
        ...fields,
      });
      ids.push(created.id);
    }
    return ids;
  }

  beforeAll(async () => {
    t = await createTestApp(dialect);
    const random = prng(20251204);
    for (let i = 0; i < 90; i++) model.push(await ingest(randomCall(random, i)));
    // A rare word (in 3 of 93 calls): on SQLite the index drives such searches, while common
    // words walk the calls and ask the index; both plans must give the model's answer.
    for (const [i, extra] of [
      { transcript: 'Agent: the quasar plan.\nCaller: yes, quasar.' },
      { summary: 'Asked about quasar pricing', status: 'failed' },
      { transcript: 'Caller: quasars?', duration: 5 },
    ].entries()) {
      model.push(
        await ingest({
          agentId: AGENTS[i]!,
          callSid: newCallSid(),
          status: 'completed',
          startedAt: new Date(Date.UTC(2025, 0, 3 + i * 5)).toISOString(),
          ...extra,
        }),
      );
    }
  }, 60_000);
  afterAll(() => t.close());

  const CASES: Params[] = [
    {},
    { agentId: 'agent_q1' },
    { agentId: 'agent_q1,agent_q3' },
    { agentId: ['agent_q2', 'agent_q3'] },
    { status: 'completed' },
    { status: 'ringing,in-progress' },
    { direction: 'outbound' },
    { sentiment: ['negative', 'neutral'] },
    { endReason: 'voicemail' },
    { from: '2025-01-10T00:00:00Z' },
    { to: '2025-01-10T00:00:00Z' },
    { from: '2025-01-05T00:00:00Z', to: '2025-01-20T00:00:00Z' },
    { from: '2025-01-02T04:00:00+02:00' },
    { minDuration: '300' },
    { maxDuration: '300' },
    { minDuration: '100', maxDuration: '500' },
    { minCost: '1.5' },
    { maxCost: '2.25' },
    { callerNumber: '+15550002' },
    { topic: 'billing' },
    { topic: ['refund request', 'sales, upsell'] },
    { hasRecording: 'true' },
    { hasRecording: 'false' },
    { hasTranscript: 'true' },
    { hasTranscript: 'false' },
    { 'collectedData.plan': 'pro' },
    { 'collectedData.seats': '3' },
    { 'collectedData.vip': 'true' },
    { 'collectedData.plan': 'basic', 'collectedData.vip': 'false' },
    { 'collectedData.missing': 'x' },
    { q: 'refund' },
    { q: 'REFUND invoice' },
    { q: 'refund*' },
    { q: '"thanks account"' },
    { q: 'zebra' },
    { q: 'lovelace' },
    { q: 'onboarding' },
    { q: 'oslo' },
    { q: 'nothingmatchesthis' },
    { q: 'quasar' },
    { q: 'quasar*' },
    // Prefixes of the word PostgreSQL keeps for the tenant ("#tenant:…"): no call matches them
    // unless its own text does.
    { q: 't*' },
    { q: 'ten*' },
    { q: 'tenant*' },
    { q: 'quasar', status: 'completed' },
    { status: 'completed', direction: 'inbound', hasRecording: 'true' },
    { agentId: 'agent_q2', q: 'account', minDuration: '50' },
    { sentiment: 'positive,neutral', topic: ['support', 'billing'], 'collectedData.plan': 'pro' },
    { callerNumber: '+15550001', from: '2025-01-03T00:00:00Z', status: 'completed,failed' },
  ];

  it.each(CASES)('list %j: every sort, every page, equals the model', async (params) => {
    const expected = model.filter((call) => matchesFilter(call, params));
    // The data set is built so that every filter both keeps and drops some calls.
    const empty =
      ['nothingmatchesthis', 'ten*', 'tenant*'].includes(String(params.q)) ||
      'collectedData.missing' in params;
    if (!empty) expect(expected.length).toBeGreaterThan(0);
    if (Object.keys(params).length > 0) expect(expected.length).toBeLessThan(model.length);
    for (const [sort, sorter] of Object.entries(SORTERS)) {
      const got = await walk({ ...params, sort });
      expect(
        got.map((c) => c.id),
        `sort=${sort}`,
      ).toEqual([...expected].sort(sorter).map((c) => c.id));
    }
    const { body } = await get('/api/call-history', { ...params, includeTotal: 'true' });
    expect(body.total).toBe(expected.length);
  });

  it('a list leaves transcripts out unless include=transcript, and says which calls have one', async () => {
    const byId = new Map(model.map((call) => [call.id, call]));
    const light = await walk({}, 40);
    const heavy = await walk({ include: 'transcript' }, 40);
    expect(light.map((c) => c.id).sort()).toEqual(model.map((c) => c.id).sort());
    expect(heavy.map((c) => c.id)).toEqual(light.map((c) => c.id));
    for (const item of light) {
      const { transcript, ...rest } = byId.get(item.id)!;
      expect(item).toEqual({ ...rest, hasTranscript: transcript !== null });
    }
    for (const item of heavy) {
      const call = byId.get(item.id)!;
      expect(item).toEqual({ ...call, hasTranscript: call.transcript !== null });
    }
    // A search still finds words in transcripts and shows them as snippets.
    const { body } = await get('/api/call-history', { q: 'zebra', limit: '100' });
    expect(body.data.length).toBeGreaterThan(0);
    for (const item of body.data as Array<Call & { matches: Array<{ field: string }> }>) {
      expect(item).not.toHaveProperty('transcript');
      expect(item.matches.length).toBeGreaterThan(0);
    }
    expect(
      (body.data as Array<{ matches: Array<{ field: string }> }>).some((item) =>
        item.matches.some((match) => match.field === 'transcript'),
      ),
    ).toBe(true);
    const bad = await get('/api/call-history', { include: 'recording' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('include');
  });

  it('relevance returns the matching calls, best first, and pages without repeats', async () => {
    const relevanceCases: Params[] = [
      { q: 'refund' },
      { q: 'account invoice' },
      { q: 'refund*' },
      { q: 'lovelace' },
      { q: 'quasar*' },
      { q: 'refund', status: 'completed,failed' },
    ];
    for (const params of relevanceCases) {
      const expected = model.filter((call) => matchesFilter(call, params));
      const got = await walk({ ...params, sort: 'relevance' }, 4);
      expect(new Set(got.map((c) => c.id)).size).toBe(got.length);
      expect(got.map((c) => c.id).sort()).toEqual(expected.map((c) => c.id).sort());
    }
    // A match in the caller's name outranks one that only appears in a transcript.
    const named = await ingest({
      agentId: 'agent_q1',
      callSid: newCallSid(),
      callerName: 'Quokka Jones',
      status: 'completed',
    });
    const mentioned = await ingest({
      agentId: 'agent_q1',
      callSid: newCallSid(),
      status: 'completed',
      transcript: 'Agent: we talked about a quokka once.',
    });
    const { body } = await get('/api/call-history', { q: 'quokka', sort: 'relevance' });
    expect(body.data.map((c: Call) => c.id)).toEqual([named.id, mentioned.id]);
    await t.app.inject({ method: 'DELETE', url: `/api/call-history/${named.id}` });
    await t.app.inject({ method: 'DELETE', url: `/api/call-history/${mentioned.id}` });
  });

  it('search answers say where each call matched, with the words highlighted', async () => {
    const { body } = await get('/api/call-history', { q: 'zebra' });
    expect(body.data.length).toBeGreaterThan(0);
    for (const call of body.data as Array<Call & { matches: any[] }>) {
      expect(call.matches.length).toBeGreaterThan(0);
      for (const match of call.matches) {
        expect(match.highlights.length).toBeGreaterThan(0);
        for (const { start, end } of match.highlights) {
          expect(match.text.slice(start, end).toLowerCase()).toBe('zebra');
        }
      }
    }
    const plain = await get('/api/call-history', {});
    expect(plain.body.data[0].matches).toBeUndefined();
  });

  it('a cursor walk never skips or repeats a call while new calls arrive', async () => {
    const before = model.filter((call) => matchesFilter(call, { status: 'completed' }));
    for (const sort of ['newest', 'oldest', 'longest'] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      const arrivals: string[] = [];
      do {
        const { body } = await get('/api/call-history', {
          status: 'completed',
          sort,
          limit: '5',
          ...(cursor === null ? {} : { cursor }),
        });
        seen.push(...body.data.map((c: Call) => c.id));
        cursor = body.nextCursor;
        // Between pages, calls arrive: some newer, some older, some longer than anything.
        const arrival = await ingest({
          agentId: 'agent_q1',
          callSid: newCallSid(),
          status: 'completed',
          startedAt: arrivals.length % 2 === 0 ? '2030-01-01T00:00:00Z' : '2020-01-01T00:00:00Z',
          duration: arrivals.length % 3 === 0 ? 99_999 : 1,
        });
        arrivals.push(arrival.id);
      } while (cursor !== null);
      for (const id of arrivals) {
        await t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` });
      }
      expect(new Set(seen).size, `sort=${sort}: no repeats`).toBe(seen.length);
      for (const call of before) expect(seen, `sort=${sort}: ${call.id} seen`).toContain(call.id);
    }
  });

  it('a relevance walk never skips or repeats a call while matching calls arrive', async () => {
    const before = model.filter((call) => matchesFilter(call, { q: 'refund' }));
    const seen: string[] = [];
    const arrivals: string[] = [];
    let cursor: string | null = null;
    do {
      const { body } = await get('/api/call-history', {
        q: 'refund',
        sort: 'relevance',
        limit: '3',
        ...(cursor === null ? {} : { cursor }),
      });
      seen.push(...body.data.map((c: Call) => c.id));
      cursor = body.nextCursor;
      // Some arrivals match better than anything (the word in the caller's name), some worse.
      const arrival = await ingest({
        agentId: 'agent_q1',
        callSid: newCallSid(),
        status: 'completed',
        ...(arrivals.length % 2 === 0
          ? { callerName: 'Refund Refundson' }
          : { transcript: 'Caller: a refund, I suppose.' }),
      });
      arrivals.push(arrival.id);
    } while (cursor !== null);
    for (const id of arrivals) {
      await t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` });
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const call of before) expect(seen).toContain(call.id);
  });

  const STATS_CASES: Array<[Params, string, string]> = [
    [{}, 'day', 'UTC'],
    [{ status: 'completed,failed' }, 'week', 'Europe/Lisbon'],
    [{ q: 'refund' }, 'day', 'America/New_York'],
    [
      { agentId: 'agent_q2', from: '2025-01-04T00:00:00Z', to: '2025-01-15T00:00:00Z' },
      'hour',
      'Asia/Kathmandu',
    ],
    [{ 'collectedData.plan': 'pro', hasRecording: 'true' }, 'day', 'Asia/Kolkata'],
  ];

  it.each(STATS_CASES)('stats %j by %s in %s equal the model', async (params, bucket, tz) => {
    const calls = model.filter((call) => matchesFilter(call, params));
    const { status, body } = await get('/api/call-history/stats', { ...params, bucket, tz });
    expect(status, JSON.stringify(body)).toBe(200);
    expectStatsOf(body, calls, { agents: AGENTS, tz, bucket });
  });

  it('stats refuse an unknown time zone and an endless series', async () => {
    const badZone = await get('/api/call-history/stats', { tz: 'Mars/Olympus_Mons' });
    expect(badZone.status).toBe(400);
    expect(badZone.body.errors[0].field).toBe('tz');
    const tooMany = await get('/api/call-history/stats', {
      bucket: 'hour',
      from: '2000-01-01T00:00:00Z',
      to: '2025-01-01T00:00:00Z',
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].field).toBe('bucket');
  });

  const exportOf = async (params: Params) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      for (const item of Array.isArray(value) ? value : [value]) search.append(name, item);
    }
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/call-history/export?${search.toString()}`,
    });
    return { status: res.statusCode, headers: res.headers, text: res.body };
  };

  const EXPORT_CASES: Params[] = [
    {},
    { status: 'completed', hasTranscript: 'true' },
    { q: 'refund' },
    { topic: 'sales, upsell' },
  ];
  it.each(EXPORT_CASES)(
    'export %j as CSV and NDJSON holds exactly the matching calls, newest first',
    async (params) => {
      const expected = model.filter((call) => matchesFilter(call, params)).sort(byNewest);
      const csv = await exportOf({ ...params, format: 'csv' });
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="calls-.+\.csv"$/);
      const [header, ...rows] = parseCsv(csv.text);
      expect(header!.slice(0, 4)).toEqual(['id', 'callSid', 'agentId', 'userId']);
      const column = (name: string) => header!.indexOf(name);
      expect(rows.map((r) => r[column('id')])).toEqual(expected.map((c) => c.id));
      for (const [i, call] of expected.entries()) {
        const row = rows[i]!;
        expect(row[column('transcript')]).toBe(call.transcript ?? '');
        expect(row[column('topics')]).toBe(call.topics.join('; '));
        expect(row[column('cost')]).toBe(call.cost === null ? '' : String(call.cost));
        // Phone numbers start with "+": a spreadsheet would read them as formulas.
        expect(row[column('callerNumber')]).toBe(
          call.callerNumber === null ? '' : `'${call.callerNumber}`,
        );
      }
      const ndjson = await exportOf({ ...params, format: 'ndjson' });
      expect(ndjson.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      const lines = ndjson.text.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((line) => JSON.parse(line))).toEqual(expected);
    },
  );

  it('each NDJSON line is the call exactly as GET returns it, whatever its values', async () => {
    // The database writes these lines (calls.repository.ts, callJson): numbers it could
    // round, strings it must escape, JSON it embeds, and nulls.
    const odd = [
      {
        callerName: 'Zoë "Q" \\ O\'Brien \u0001\u001f\u2028\u2029 😀 </script>',
        duration: 12.345678901234567,
        cost: 0.000001,
        summary: 'tab\there\r\nnew line',
        topics: [],
        collectedData: {
          nested: { list: [1, 2.5, -0.1, true, null, 'x'], empty: {} },
          big: 123456789012,
          tiny: 1e-7,
          text: 'ünïcödé',
        },
      },
      { duration: 0.1, cost: 2, topics: ['a', 'b, c'], collectedData: {} },
      { duration: 0, cost: 1234.567891, transcript: 'Agent: "hi"\nno NUL, but a \\ back' },
      { duration: 86_399.999, cost: 0 },
    ];
    const ids = await ingestCompleted('agent_json', 2031, odd);
    // One null at least in every nullable field.
    const bare = await ingest({ agentId: 'agent_json', callSid: newCallSid() });
    ids.push(bare.id);
    const ndjson = await exportOf({ agentId: 'agent_json', format: 'ndjson' });
    expect(ndjson.status).toBe(200);
    const lines = ndjson.text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(ids.length);
    for (const line of lines) {
      const exported = JSON.parse(line) as Call;
      const got = await t.app.inject({ method: 'GET', url: `/api/call-history/${exported.id}` });
      expect(exported).toEqual(got.json());
      // The same keys in the same order as GET's answer.
      expect(Object.keys(exported)).toEqual(Object.keys(got.json()));
    }
    expect(lines.map((line) => (JSON.parse(line) as Call).id).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      await t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` });
    }
  });

  it('each CSV row is csvRow of the call as GET returns it, whatever its values', async () => {
    // The database writes these rows (calls.repository.ts, callCsv): cells it must quote,
    // neutralise or leave alone, numbers it must write as JavaScript does, JSON it embeds.
    const agentId = 'agent_csv';
    const odd = [
      {
        callerName: '=HYPERLINK("http://evil","x")',
        duration: 0.1 + 0.2,
        cost: 0.000001,
        summary: '-2+3, then "quoted"\r\nand a new line',
        topics: ['+topic', 'b, "c"', 'ünïcödé 😀'],
        collectedData: {
          nested: { list: [1, 2.5, -0.1, true, null, 'x'], empty: {} },
          big: 123456789012,
          tiny: 1e-7,
          text: 'a "quote", a comma',
        },
        transcript: '@agent: hi\nCaller: "hello"',
      },
      { duration: 1e-7, cost: 999_999.999999, topics: [], collectedData: {}, summary: '\tcmd' },
      { duration: 86_399.999, cost: 2, callerName: '\rcarriage', summary: 'plain' },
      { duration: 0, cost: 0, transcript: ' ', summary: '"' },
      { duration: 12.345678901234567, cost: 1234.56789, topics: ['@one'], summary: 'a,b' },
    ];
    const ids = await ingestCompleted(agentId, 2033, odd, { callerNumber: '+14155550100' });
    // One null at least in every nullable field; it starts now, before the calls above.
    const bare = await ingest({ agentId, callSid: newCallSid() });
    const csv = await exportOf({ agentId, format: 'csv' });
    expect(csv.status).toBe(200);
    const expected = [csvRow(CSV_COLUMNS)];
    for (const id of [...[...ids].reverse(), bare.id]) {
      const call = (
        await t.app.inject({ method: 'GET', url: `/api/call-history/${id}` })
      ).json<Call>();
      expected.push(
        csvRow(
          CSV_COLUMNS.map((column) =>
            column === 'topics'
              ? call.topics.join('; ')
              : column === 'collectedData'
                ? Object.keys(call.collectedData).length === 0
                  ? ''
                  : JSON.stringify(call.collectedData)
                : call[column],
          ),
        ),
      );
    }
    expect(csv.text).toBe(expected.join(''));
    for (const id of [...ids, bare.id])
      await t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` });
  });

  it('each listed call is the call as GET returns it, whatever its values and the plan', async () => {
    // Pages without a search are written by the database too (repository listJson): the same
    // hostile values, through the plain plan, the facet plan, every sort and both shapes.
    const agentId = 'agent_list_json';
    const odd = [
      {
        callerName: 'Zoë "Q" \\ O\'Brien \u0001\u001f\u2028\u2029 😀 </script>',
        duration: 12.345678901234567,
        cost: 0.000001,
        summary: 'tab\there\r\nnew line',
        topics: ['odd', 'b, "c"'],
        collectedData: {
          nested: { list: [1, 2.5, -0.1, true, null, 'x'], empty: {} },
          big: 123456789012,
          tiny: 1e-7,
          text: 'ünïcödé',
        },
      },
      { duration: 0.1, cost: 2, topics: ['odd'], collectedData: { plan: 'odd' } },
      { duration: 0, cost: 1234.567891, transcript: 'Agent: "hi"\n\u2028 a \\ back' },
      { duration: 86_399.999, cost: 0, transcript: ' ' },
    ];
    const ids = await ingestCompleted(agentId, 2032, odd);
    ids.push((await ingest({ agentId, callSid: newCallSid() })).id);
    const calls = new Map<string, Record<string, unknown>>();
    for (const id of ids) {
      const got = await t.app.inject({ method: 'GET', url: `/api/call-history/${id}` });
      calls.set(id, got.json<Record<string, unknown>>());
    }
    /** The call as the list shows it: GET's record, the transcript only when asked for. */
    const listed = (call: Record<string, unknown>, withTranscript: boolean) => {
      const { transcript, ...rest } = call;
      return {
        ...rest,
        ...(withTranscript ? { transcript } : {}),
        hasTranscript: transcript !== null,
      };
    };
    const plans: Params[] = [
      { agentId },
      { agentId, topic: 'odd' },
      { 'collectedData.plan': 'odd' },
    ];
    for (const params of plans) {
      for (const sort of ['newest', 'oldest', 'longest']) {
        for (const include of [undefined, 'transcript']) {
          const query = { ...params, sort, includeTotal: 'true', limit: '2' };
          if (include !== undefined) Object.assign(query, { include });
          const pages: Array<Record<string, unknown>> = [];
          const totals: number[] = [];
          let cursor: string | null = null;
          do {
            const url: string = `/api/call-history?${new URLSearchParams({
              ...query,
              ...(cursor === null ? {} : { cursor }),
            } as Record<string, string>).toString()}`;
            const res: Awaited<ReturnType<TestApp['app']['inject']>> = await t.app.inject({
              method: 'GET',
              url,
            });
            expect(res.statusCode, res.body).toBe(200);
            expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
            const body = res.json<ListedPage>();
            expect(Object.keys(body)).toEqual(['data', 'nextCursor', 'total']);
            totals.push(body.total);
            pages.push(...body.data);
            cursor = body.nextCursor;
          } while (cursor !== null);
          const expected = pages.map((call) => listed(calls.get(call.id as string)!, !!include));
          expect(pages, JSON.stringify({ params, sort, include })).toEqual(expected);
          for (const [index, call] of pages.entries()) {
            expect(Object.keys(call)).toEqual(Object.keys(expected[index]!));
          }
          const wanted = 'topic' in params ? 2 : 'collectedData.plan' in params ? 1 : ids.length;
          expect(pages).toHaveLength(wanted);
          expect(new Set(totals)).toEqual(new Set([wanted]));
        }
      }
    }
    for (const id of ids) {
      await t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` });
    }
  });

  it('export pages through many calls; erasure removes a caller everywhere, and only them', async () => {
    const caller = '+15559999';
    const marker = uniqueId('erasable').replace(/-/g, '');
    for (let i = 0; i < 520; i++) {
      await ingest({
        agentId: 'agent_q3',
        callSid: newCallSid(),
        callerNumber: caller,
        callerName: i === 0 ? '=HYPERLINK("http://evil.example","click")' : 'Repeat Caller',
        status: 'completed',
        startedAt: new Date(Date.UTC(2025, 1, 1) + i * 60_000).toISOString(),
        summary: `mentions ${marker}`,
      });
    }
    const csv = await exportOf({ callerNumber: caller });
    const [header, ...rows] = parseCsv(csv.text);
    expect(rows).toHaveLength(520);
    expect(new Set(rows.map((r) => r[0])).size).toBe(520);
    const names = rows.map((r) => r[header!.indexOf('callerName')]);
    expect(names).toContain(`'=HYPERLINK("http://evil.example","click")`);
    // NDJSON pages the same way: every call once, newest first, across the page boundary.
    const lines = (await exportOf({ callerNumber: caller, format: 'ndjson' })).text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Call);
    expect(lines.map((call) => call.id)).toEqual(rows.map((r) => r[0]));

    const victim = rows[0]![0]!;
    const before = (await get('/api/call-history', { includeTotal: 'true' })).body.total;
    const erase = await t.app.inject({
      method: 'POST',
      url: '/api/call-history/erase',
      payload: { callerNumber: caller },
    });
    expect(erase.statusCode).toBe(200);
    expect(erase.json()).toEqual({ deleted: 520 });
    expect((await get('/api/call-history', { includeTotal: 'true' })).body.total).toBe(
      before - 520,
    );
    expect((await get('/api/call-history', { q: marker })).body.data).toEqual([]);
    expect((await get('/api/call-history', { callerNumber: caller })).body.data).toEqual([]);
    expect(
      (await t.app.inject({ method: 'GET', url: `/api/call-history/${victim}/events` })).statusCode,
    ).toBe(404);
    expect(parseCsv((await exportOf({ callerNumber: caller })).text)).toHaveLength(1);
    // Everyone else's calls are all still there.
    expect((await walk({}, 100)).map((c) => c.id).sort()).toEqual(model.map((c) => c.id).sort());
    // Erasing again finds nothing; a bad body names its field.
    const again = await t.app.inject({
      method: 'POST',
      url: '/api/call-history/erase',
      payload: { callerNumber: caller },
    });
    expect(again.json()).toEqual({ deleted: 0 });
    const bad = await t.app.inject({ method: 'POST', url: '/api/call-history/erase', payload: {} });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('callerNumber');
  }, 60_000);

  it('export refuses a bad filter or format before sending anything', async () => {
    const bad = await exportOf({ format: 'xlsx' });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    const badFilter = await exportOf({ status: 'bogus' });
    expect(badFilter.status).toBe(400);
  });

  it('refuses what it cannot answer, naming the field', async () => {
    const bad: Array<[Params, string]> = [
      [{ status: 'bogus' }, 'status'],
      [{ direction: 'sideways' }, 'direction'],
      [{ sentiment: 'angry,positive' }, 'sentiment'],
      [{ endReason: 'bored' }, 'endReason'],
      [{ from: 'yesterday' }, 'from'],
      [{ from: '2025-02-01T00:00:00Z', to: '2025-01-01T00:00:00Z' }, 'to'],
      [{ minDuration: '-1' }, 'minDuration'],
      [{ minDuration: '10', maxDuration: '5' }, 'maxDuration'],
      [{ minCost: 'cheap' }, 'minCost'],
      [{ hasRecording: 'maybe' }, 'hasRecording'],
      [{ sort: 'relevance' }, 'sort'],
      [{ sort: 'loudest' }, 'sort'],
      [{ q: '!!! ???' }, 'q'],
      [{ 'collectedData.bad key': 'x' }, 'collectedData.bad key'],
      [{ 'collectedData.plan': ['a', 'b'] }, 'collectedData.plan'],
      [{ agentId: 'has space' }, 'agentId'],
      [{ cursor: 'garbage!' }, 'cursor'],
      [{ unknownFilter: '1' }, 'unknownFilter'],
    ];
    for (const [params, field] of bad) {
      const { status, body } = await get('/api/call-history', params);
      expect(status, JSON.stringify(params)).toBe(400);
      expect(
        body.errors.map((e: { field: string }) => e.field),
        JSON.stringify(params),
      ).toContain(field);
    }
    // Relevance cursors that this server could not have issued.
    const relevanceCursor = (fields: unknown[]) =>
      Buffer.from(JSON.stringify([3, 'relevance', ...fields])).toString('base64url');
    for (const fields of [
      ['2025-01-01T00:00:00.000Z', 'call_1', null, null, 0], // a ranked position that is a date
      [0.5, 'call_1', null, null, 1], // past a window it does not have
      [0.5, 'call_1', 'yesterday', 'call_2', 0], // a window that ends nowhere
      [0.5, 'call_1', 12, 'call_2', 2],
      [0.5, 'call_1', 12],
      [0.5, 'call_1', null, null, 0, 'not a time'], // when the page was answered
    ]) {
      const { status, body } = await get('/api/call-history', {
        q: 'refund',
        sort: 'relevance',
        cursor: relevanceCursor(fields),
      });
      expect(status, JSON.stringify(fields)).toBe(400);
      expect(body.errors[0].field).toBe('cursor');
    }
    // A cursor only continues the sort it came from.
    const { body } = await get('/api/call-history', { sort: 'oldest', limit: '1' });
    const wrongSort = await get('/api/call-history', { sort: 'newest', cursor: body.nextCursor });
    expect(wrongSort.status).toBe(400);
    expect(wrongSort.body.errors[0].field).toBe('cursor');
  });

  it('endReason is accepted on ingest and kept like any other field', async () => {
    const call = await ingest({
      agentId: 'agent_q1',
      callSid: newCallSid(),
      status: 'in-progress',
    });
    expect(call.endReason).toBeNull();
    const done = await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${call.id}/status`,
      payload: { status: 'completed', endReason: 'transferred' },
    });
    expect(done.json().endReason).toBe('transferred');
    const again = await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${call.id}/status`,
      payload: { summary: 'later', endReason: null },
    });
    expect(again.json().endReason).toBe('transferred');
    const refused = await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${call.id}/status`,
      payload: { endReason: 'hung_up_angrily' },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors[0].field).toBe('endReason');
    const completed = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/completed',
      payload: { callSid: uniqueId('CA-'), agentId: 'agent_q1', endReason: 'voicemail' },
    });
    expect(completed.json().endReason).toBe('voicemail');
    for (const id of [call.id, completed.json().id]) {
      await t.app.inject({ method: 'DELETE', url: `/api/call-history/${id}` });
    }
  });
});
