// The export walks keys a batch at a time and reads the calls behind them a page at a time
// (calls.export.ts). Here both are tiny, so a few dozen calls cross many batches, through each
// plan the list uses to find them: a plain walk, the facet index (one topic), the search index
// (a rare and a common word, with and without another filter). The export must hold exactly
// the calls the list finds, newest first, in both formats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../src/modules/calls/calls.schemas.js';
import { newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const CALLS = 45;

describe.each(TEST_DIALECTS)('the export across key batches (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect, { exportWalkSizes: { page: 3, keyBatch: 6, readsAtOnce: 2 } });
    for (let i = 0; i < CALLS; i += 1) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        payload: {
          agentId: i % 2 === 0 ? 'agent_even' : 'agent_odd',
          callSid: newCallSid(),
          status: i % 3 === 0 ? 'completed' : 'failed',
          // Some calls share a start to the millisecond: the order breaks ties on the id.
          startedAt: new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 2) * 60_000).toISOString(),
          topics: i % 4 === 0 ? ['billing'] : ['support'],
          transcript: `Agent: hello. Caller: ${i % 5 === 0 ? 'refund please' : 'just checking'}.`,
        },
      });
      expect(response.statusCode, response.body).toBe(201);
    }
  });
  afterAll(() => t.close());

  type Page = { data: Call[]; nextCursor: string | null };

  /** Every call the list finds for `query`, newest first, walked with its cursors. */
  async function listed(query: Record<string, string>): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Record<string, string> = { ...query, limit: '100' };
      if (cursor !== null) page.cursor = cursor;
      const response = await t.app.inject({ method: 'GET', url: '/api/call-history', query: page });
      expect(response.statusCode, response.body).toBe(200);
      const body: Page = response.json();
      ids.push(...body.data.map((call) => call.id));
      cursor = body.nextCursor;
    } while (cursor !== null);
    return ids;
  }

  const QUERIES: Array<Record<string, string>> = [
    {},
    { status: 'completed' },
    { topic: 'billing' },
    { q: 'refund' },
    { q: 'hello' },
    { q: 'hello', agentId: 'agent_odd' },
  ];
  it.each(QUERIES)('%j: the export holds what the list finds, in order', async (query) => {
    const expected = await listed(query);
    expect(expected.length).toBeGreaterThan(0);
    const ndjson = await t.app.inject({
      method: 'GET',
      url: '/api/call-history/export',
      query: { ...query, format: 'ndjson' },
    });
    expect(ndjson.statusCode).toBe(200);
    const lines = ndjson.body.trimEnd().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as Call).id)).toEqual(expected);
    const csv = await t.app.inject({
      method: 'GET',
      url: '/api/call-history/export',
      query: { ...query, format: 'csv' },
    });
    expect(csv.statusCode).toBe(200);
    // Ids hold no quotes or commas: the first cell of each record line is the id.
    const ids = csv.body
      .split('\r\n')
      .slice(1)
      .filter((line) => /^call_/.test(line))
      .map((line) => line.slice(0, line.indexOf(',')));
    expect(ids).toEqual(expected);
  });
});
