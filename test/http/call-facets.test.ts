// topic= and collectedData.KEY= pages read their matches from call_facets, which triggers keep
// in step with the calls. Checked against a model through every kind of write (create, merge,
// PATCH, the completed webhook, delete, erasure, the stale-call sweep), and the table itself
// against the facets computed from the stored calls, on both dialects.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../src/modules/calls/calls.schemas.js';
import { newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const TOPICS = ['billing', 'support', 'refund request', 'sales, upsell'];
const PLANS = ['pro', 'basic', 'team'];

/**
 * What call_facets should hold for a call: topics and scalar collectedData values (strings as
 * stored, numbers/booleans as JSON text) of at most 200 characters.
 */
function expectedFacets(call: Call): string[] {
  const facets = call.topics
    .filter((topic) => topic.length <= 200)
    .map((topic) => `topic=${topic}`);
  for (const [key, value] of Object.entries(call.collectedData)) {
    if (['string', 'number', 'boolean'].includes(typeof value) && String(value).length <= 200) {
      facets.push(`data.${key}=${String(value)}`);
    }
  }
  return facets.map((facet) => `${call.id}|${call.startedAt}|${facet}`);
}

describe.each(TEST_DIALECTS)(
  'topic and collectedData pages from the facet index (%s)',
  (dialect) => {
    let t: TestApp;
    const calls = new Map<string, Call>();

    beforeAll(async () => {
      t = await createTestApp(dialect);
    });
    afterAll(async () => {
      await t?.close();
    });

    async function send(method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
      const res = await t.app.inject({ method, url, ...(payload ? { payload } : {}) });
      expect(res.statusCode, res.body).toBeLessThan(300);
      return res;
    }

    async function refresh(id: string): Promise<void> {
      const res = await t.app.inject({ method: 'GET', url: `/api/call-history/${id}` });
      if (res.statusCode === 404) calls.delete(id);
      else calls.set(id, res.json<Call>());
    }

    async function walk(query: string, sort: string): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/api/call-history?${query}&sort=${sort}&limit=3${
          cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`
        }`;
        const res = await t.app.inject({ method: 'GET', url });
        expect(res.statusCode, res.body).toBe(200);
        const body = res.json<{ data: Call[]; nextCursor: string | null }>();
        ids.push(...body.data.map((call) => call.id));
        cursor = body.nextCursor;
      } while (cursor !== null);
      return ids;
    }

    async function expectPagesMatchModel(): Promise<void> {
      const model = [...calls.values()];
      const byNewest = (a: Call, b: Call) =>
        a.startedAt === b.startedAt ? (a.id < b.id ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1;
      const cases: Array<[string, (call: Call) => boolean]> = [
        ...TOPICS.map((topic): [string, (call: Call) => boolean] => [
          `topic=${encodeURIComponent(topic)}`,
          (call) => call.topics.includes(topic),
        ]),
        ...PLANS.map((plan): [string, (call: Call) => boolean] => [
          `collectedData.plan=${plan}`,
          (call) => call.collectedData.plan === plan,
        ]),
        ['collectedData.seats=3', (call) => call.collectedData.seats === 3],
        ['collectedData.vip=true', (call) => call.collectedData.vip === true],
        // Longer than the facets keep: the page walks the calls instead, with the same answer.
        [
          `collectedData.long=${'x'.repeat(250)}`,
          (call) => call.collectedData.long === 'x'.repeat(250),
        ],
        // Objects are not values a filter matches, on either plan.
        ['collectedData.nested=%7B%22plan%22%3A%22pro%22%7D', () => false],
        // Two collectedData conditions: one read from the facets, the other checked on the call.
        ['collectedData.nested=%7B%22plan%22%3A%22pro%22%7D&collectedData.plan=pro', () => false],
        [
          'collectedData.plan=pro&collectedData.vip=true',
          (call) => call.collectedData.plan === 'pro' && call.collectedData.vip === true,
        ],
        [
          'topic=billing&collectedData.plan=pro&status=completed',
          (call) =>
            call.topics.includes('billing') &&
            call.collectedData.plan === 'pro' &&
            call.status === 'completed',
        ],
        ['topic=nobody-has-this', () => false],
      ];
      for (const [query, matches] of cases) {
        const expected = model.filter(matches).sort(byNewest);
        expect(await walk(query, 'newest'), query).toEqual(expected.map((call) => call.id));
        expect(await walk(query, 'oldest'), query).toEqual(
          expected.map((call) => call.id).reverse(),
        );
        const total = await t.app.inject({
          method: 'GET',
          url: `/api/call-history?${query}&includeTotal=true&limit=1`,
        });
        expect(total.json().total, query).toBe(expected.length);
      }

      const rows = await sql<{
        call_id: string;
        started_at: string;
        facet: string;
        value: string;
      }>`SELECT call_id, started_at, facet, value FROM call_facets`.execute(t.database.db);
      expect(
        rows.rows.map((row) => `${row.call_id}|${row.started_at}|${row.facet}=${row.value}`).sort(),
      ).toEqual(model.flatMap(expectedFacets).sort());
    }

    it.runIf(dialect === 'sqlite')(
      'the triggers find the rows of a call they remove by the whole primary key',
      async () => {
        // Not a timing: the plan. Seeking by the tenant alone would read every facet of the tenant
        // on every write.
        const triggers = await sql<{ sql: string }>`SELECT sql FROM sqlite_master
        WHERE type = 'trigger' AND name IN ('calls_facets_update', 'calls_facets_delete')`.execute(
          t.database.db,
        );
        expect(triggers.rows).toHaveLength(2);
        for (const { sql: trigger } of triggers.rows) {
          const remove = /DELETE FROM call_facets[\s\S]*?;/
            .exec(trigger)![0]
            .replace(/;$/, '')
            .replaceAll('old.tenant_id', "'t'")
            .replaceAll('old.started_at', "'s'")
            .replaceAll('old.id', "'c'")
            .replaceAll('old.topics', `'["a"]'`)
            .replaceAll('old.collected_data', `'{"k":1}'`);
          const plan = await sql<{ detail: string }>`${sql.raw(
            `EXPLAIN QUERY PLAN ${remove}`,
          )}`.execute(t.database.db);
          expect(plan.rows.map((row) => row.detail)).toContain(
            'SEARCH call_facets USING PRIMARY KEY (tenant_id=? AND facet=? AND value=? AND started_at=? AND call_id=?)',
          );
        }
      },
    );

    it('stay equal to the model through every kind of write', async () => {
      const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!;
      // Creates, some sharing a start time to the millisecond (ties break on the id).
      for (let i = 0; i < 24; i++) {
        const res = await send('POST', '/api/call-history', {
          agentId: 'agent_facets',
          callSid: newCallSid(),
          callerNumber: i % 5 === 0 ? '+15550009' : `+1555010${i % 4}`,
          status: i % 3 === 0 ? 'in-progress' : 'completed',
          startedAt: new Date(Date.UTC(2025, 4, 1, 8, (i * 7) % 40)).toISOString(),
          topics: i % 4 === 0 ? [] : [pick(TOPICS, i), pick(TOPICS, i + 1)],
          collectedData: {
            plan: pick(PLANS, i),
            seats: i % 5,
            vip: i % 2 === 0,
            nested: { plan: 'pro' },
            long: 'x'.repeat(250),
          },
        });
        calls.set(res.json<Call>().id, res.json<Call>());
      }
      await expectPagesMatchModel();

      const ids = [...calls.keys()];
      // Merges: topics added (an ordered set), collectedData keys replaced, a start time moved.
      for (const id of ids.slice(0, 6)) {
        await send('PATCH', `/api/call-history/${id}/status`, {
          status: 'completed',
          topics: ['billing', 'retention'],
          collectedData: { plan: 'team', seats: 3 },
        });
        await refresh(id);
      }
      const live = [...calls.values()].find((call) => call.status === 'in-progress')!;
      await send('POST', '/api/webhooks/calls/completed', {
        callSid: live.callSid,
        topics: ['support'],
        collectedData: { vip: true },
      });
      await refresh(live.id);
      const moved = [...calls.values()][8]!;
      await send('POST', '/api/call-history', {
        agentId: 'agent_facets',
        callSid: moved.callSid,
        startedAt: '2025-04-30T23:59:00.000Z',
      });
      await refresh(moved.id);
      await expectPagesMatchModel();

      // Deletes: one call, a caller's every call, and the sweeper ending the stale live calls.
      await send('DELETE', `/api/call-history/${ids[10]!}`);
      const erased = await send('POST', '/api/call-history/erase', { callerNumber: '+15550009' });
      expect(erased.json().deleted).toBeGreaterThan(0);
      await t.services.maintenance.sweep();
      for (const id of ids) await refresh(id);
      await expectPagesMatchModel();
    }, 60_000);
  },
);
