// Stats read from the rollups (a filter of nothing but from/to), checked against a model of the
// calls and against the same stats read from the calls, while the calls change under them: status
// changes by PATCH, starts that move when the real one arrives, deletes, erasure, the stale-call
// and retention sweeps; each time before and after the rollups are compacted. Ranges that are not
// whole hours or days, zones a quarter of an hour off UTC, every bucket.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call, CallStats } from '../../src/modules/calls/calls.schemas.js';
import { newCallSid, prng } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';
import { expectStatsOf } from '../stats-model.js';

type Params = Record<string, string>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2025-03-01T12:00:00.000Z');
const AGENTS = ['agent_s1', 'agent_s2', 'agent_s3'];
const STATUSES = ['ringing', 'in-progress', 'completed', 'missed', 'failed'] as const;
const CALLERS = ['+15551000', '+15551001', '+15551002', '+15551003', '+15551004'];

/** Ranges that are not whole slots, hours or days, in zones on and off the hour. */
const CASES: Array<[Params, string, string]> = [
  [{ from: '2025-02-03T05:07:11.123Z', to: '2025-02-26T19:52:00.000Z' }, 'day', 'UTC'],
  [{ from: '2025-02-03T05:07:11.123Z', to: '2025-02-26T19:52:00.000Z' }, 'day', 'Asia/Kathmandu'],
  [{ from: '2025-02-10T18:20:00.000Z', to: '2025-02-12T01:05:00.000Z' }, 'hour', 'Asia/Kathmandu'],
  [{ from: '2025-01-20T00:00:00.000Z', to: '2025-03-01T00:00:00.000Z' }, 'week', 'Asia/Kathmandu'],
  [{ from: '2025-01-29T23:59:59.999Z' }, 'day', 'America/New_York'],
  [{ to: '2025-02-20T08:44:00.000Z' }, 'week', 'Europe/Lisbon'],
  [{}, 'day', 'Asia/Kolkata'],
  [{ from: '2025-02-14T09:31:00.000Z', to: '2025-02-14T09:44:00.000Z' }, 'hour', 'UTC'],
];

/** The model's answer for a case, compared field by field with the server's. */
function expectModel(
  body: CallStats,
  model: readonly Call[],
  params: Params,
  tz: string,
  bucket: string,
) {
  const calls = model.filter(
    (call) =>
      (params.from === undefined || call.startedAt >= new Date(params.from).toISOString()) &&
      (params.to === undefined || call.startedAt < new Date(params.to).toISOString()),
  );
  expectStatsOf(body, calls, { agents: AGENTS, tz, bucket, from: params.from });
}

describe.each(TEST_DIALECTS)('stats from the rollups (%s)', (dialect) => {
  let t: TestApp;
  let now = NOW;
  /** Every stored call, as the API last returned it. */
  const model = new Map<string, Call>();
  const random = prng(4242);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

  const inject = async (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: Record<string, unknown>,
  ) => {
    const res = await t.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
    return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
  };

  const stats = async (params: Params) => {
    const { status, body } = await inject(
      'GET',
      `/api/call-history/stats?${new URLSearchParams(params).toString()}`,
    );
    expect(status, JSON.stringify(body)).toBe(200);
    return body as CallStats;
  };

  /** Every case against the model, and against the same stats read from the calls. */
  async function checkAll(label: string) {
    const calls = [...model.values()];
    expect(
      calls.every((call) => AGENTS.includes(call.agentId)),
      label,
    ).toBe(true);
    for (const [params, bucket, tz] of CASES) {
      const body = await stats({ ...params, bucket, tz });
      expectModel(body, calls, params, tz, bucket);
      // Naming every agent matches the same calls, but the stats then come from the calls.
      const fromCalls = await stats({ ...params, bucket, tz, agentId: AGENTS.join(',') });
      expect(body, `${label}: ${JSON.stringify([params, bucket, tz])}`).toEqual(fromCalls);
    }
  }

  /** Checks with the rollups as the writes left them, then compacted. */
  async function checkBothWays(label: string) {
    if (dialect === 'postgres') {
      const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM call_rollup_slots
        WHERE pending`.execute(t.database.db);
      expect(Number(rows[0]!.n), `${label}: deltas wait for the compactor`).toBeGreaterThan(0);
    }
    await checkAll(`${label}, not compacted`);
    await t.services.maintenance.compactRollups();
    await checkAll(`${label}, compacted`);
  }

  /** Re-reads every modelled call (gone ones leave the model). */
  async function refresh() {
    for (const id of [...model.keys()]) {
      const { status, body } = await inject('GET', `/api/call-history/${id}`);
      if (status === 404) model.delete(id);
      else model.set(id, body as Call);
    }
  }

  beforeAll(async () => {
    t = await createTestApp(dialect, {
      clock: () => new Date(now),
      env: { RETENTION_DAYS: '35', STALE_CALL_AFTER_MINUTES: '240' },
    });
    for (let i = 0; i < 110; i++) {
      const status = pick(STATUSES);
      const live = status === 'ringing' || status === 'in-progress';
      // Mostly the last five weeks; some older than the retention; some live ones stale.
      const startedAt = new Date(
        i < 8
          ? NOW - 36 * DAY - Math.floor(random() * 5 * DAY)
          : NOW - Math.floor(random() * 34 * DAY),
      ).toISOString();
      const body: Record<string, unknown> = {
        agentId: pick(AGENTS),
        callSid: newCallSid(),
        direction: random() < 0.6 ? 'inbound' : 'outbound',
        callerNumber: pick(CALLERS),
        status,
        startedAt,
      };
      if (!live) {
        if (random() < 0.85)
          body.duration = pick([0, 0.5, 59.999, 60, 3600]) + Math.floor(random() * 900);
        if (random() < 0.7) body.cost = Math.round(random() * 50_000) / 10_000;
        if (random() < 0.8) body.sentiment = pick(['positive', 'negative', 'neutral']);
      }
      const { status: code, body: call } = await inject('POST', '/api/call-history', body);
      expect(code).toBe(201);
      model.set((call as Call).id, call as Call);
    }
    // Calls seen first at their end (no agent, start inferred), then their start: the call moves
    // to its real start, and to its agent.
    for (let i = 0; i < 6; i++) {
      const callSid = newCallSid();
      const ended = NOW - Math.floor(random() * 20 * DAY);
      const completed = await inject('POST', '/api/webhooks/calls/completed', {
        callSid,
        duration: 30 + i,
        endedAt: new Date(ended).toISOString(),
      });
      expect(completed.status).toBe(201);
      const started = await inject('POST', '/api/webhooks/calls/started', {
        callSid,
        agentId: pick(AGENTS),
        startedAt: new Date(ended - (2 + i) * HOUR).toISOString(),
      });
      expect(started.status).toBe(200);
      model.set((started.body as Call).id, started.body as Call);
    }
  }, 60_000);
  afterAll(() => t.close());

  it('as ingested', async () => {
    await checkBothWays('ingested');
  }, 60_000);

  it('after status changes by PATCH', async () => {
    const live = [...model.values()].filter(
      (c) => c.status === 'ringing' || c.status === 'in-progress',
    );
    const ended = [...model.values()].filter(
      (c) => c.status !== 'ringing' && c.status !== 'in-progress',
    );
    for (const call of [...live.slice(0, 12), ...ended.slice(0, 8)]) {
      const { status, body } = await inject('PATCH', `/api/call-history/${call.id}/status`, {
        status: pick(['completed', 'missed', 'failed']),
        duration: Math.floor(random() * 1200) + (random() < 0.3 ? 0.25 : 0),
        sentiment: pick(['positive', 'negative', 'neutral']),
        cost: Math.round(random() * 30_000) / 10_000,
      });
      expect(status, JSON.stringify(body)).toBe(200);
      model.set(call.id, body as Call);
    }
    await checkBothWays('patched');
  }, 60_000);

  it('after deletes and an erasure', async () => {
    for (const call of [...model.values()].filter((_, i) => i % 9 === 0)) {
      expect((await inject('DELETE', `/api/call-history/${call.id}`)).status).toBe(204);
    }
    const erased = await inject('POST', '/api/call-history/erase', { callerNumber: CALLERS[2] });
    expect((erased.body as { deleted: number }).deleted).toBeGreaterThan(0);
    await refresh();
    expect([...model.values()].some((c) => c.callerNumber === CALLERS[2])).toBe(false);
    await checkAll('deleted and erased, not compacted');
  }, 60_000);

  it('after the stale-call and retention sweeps (which compact), and writes after them', async () => {
    const staleBefore = [...model.values()].filter(
      (c) =>
        (c.status === 'ringing' || c.status === 'in-progress') &&
        Date.parse(c.startedAt) < now - 4 * HOUR,
    ).length;
    expect(staleBefore).toBeGreaterThan(0);
    const swept = await t.services.maintenance.sweep();
    expect(swept.ended).toBe(staleBefore);
    expect(swept.deleted).toBeGreaterThan(0);
    await refresh();
    await checkAll('swept');

    // A day later, new calls and changes land on the compacted rollups, uncompacted.
    now += DAY;
    for (let i = 0; i < 10; i++) {
      const { body } = await inject('POST', '/api/call-history', {
        agentId: pick(AGENTS),
        callSid: newCallSid(),
        status: 'completed',
        startedAt: new Date(NOW - Math.floor(random() * 30 * DAY)).toISOString(),
        duration: 100 + i,
      });
      model.set((body as Call).id, body as Call);
    }
    const some = [...model.values()].filter((c) => c.status === 'missed').slice(0, 3);
    for (const call of some) {
      const { body } = await inject('PATCH', `/api/call-history/${call.id}/status`, {
        status: 'completed',
        duration: 77,
      });
      model.set(call.id, body as Call);
    }
    await checkBothWays('after the sweep');
  }, 60_000);
});
