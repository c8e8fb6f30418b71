// A search answers with snippets: where each call matched, the words highlighted. On every sort,
// with and without include=transcript, each call's snippets are those searchMatches finds in the
// whole stored call (a page must never cut or lose them), whatever sits before the match
// (accents, emoji, the word inside a longer one) and wherever it falls; the last test checks the
// cut, the ellipses and the highlights against fixed expectations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearch, searchMatches } from '../../src/modules/calls/call-query.js';
import type { Call } from '../../src/modules/calls/calls.schemas.js';
import { newCallSid } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const filler = (length: number): string =>
  Array.from({ length: Math.ceil(length / 8) }, (_, i) => `word${i % 10} `)
    .join('')
    .slice(0, length);

/** Transcripts that put the searched words where a passage could go wrong. */
const TRANSCRIPTS: Record<string, string> = {
  atStart: 'xylophone lessons were booked for Monday.',
  farIn: `${filler(1_000)} Caller: the Xylophone arrived broken. ${filler(500)}`,
  atEnd: `${filler(700)} and then: xylophone`,
  insideLongerWordFirst: `axylophone ${filler(300)} xylophonea ${filler(400)} then xylophone for real ${filler(300)}`,
  prefixOnly: `${filler(150)} a xylograph and later a xylophone ${filler(600)}`,
  emojiBefore: `${'🎉 '.repeat(150)}the xylophone concert ${'🎶'.repeat(200)}`,
  accents: `${filler(200)} Émilie plays the XYLOPHONE in Zürich, été après été ${filler(200)}`,
  twoWords: `${filler(400)} quetzal first ${filler(300)} xylophone second ${filler(300)}`,
  phrase: `${filler(250)} a xylophone, concert grand; a xylophone concert at last ${filler(250)}`,
  manyHits: Array.from({ length: 40 }, () => 'xylophone').join(' '),
};

const QUERIES = ['xylophone', 'xylo*', '"xylophone concert"', 'été', 'quetzal xylophone', 'zürich'];

describe.each(TEST_DIALECTS)('search snippets (%s)', (dialect) => {
  let t: TestApp;
  const stored = new Map<string, Call>();
  beforeAll(async () => {
    t = await createTestApp(dialect);
    for (const [name, transcript] of Object.entries(TRANSCRIPTS)) {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/call-history',
        payload: {
          agentId: 'agent_snippets',
          callSid: newCallSid(),
          callerName: name,
          status: 'completed',
          transcript,
        },
      });
      expect(response.statusCode, response.body).toBe(201);
      const call = response.json<Call>();
      stored.set(call.id, call);
    }
    // Matched by its summary alone: no transcript snippet, though it has a transcript.
    const summaryOnly = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: {
        agentId: 'agent_snippets',
        callSid: newCallSid(),
        status: 'completed',
        summary: 'Asked about a xylophone',
        transcript: `${filler(900)} nothing to see here`,
      },
    });
    expect(summaryOnly.statusCode, summaryOnly.body).toBe(201);
    const call = summaryOnly.json<Call>();
    stored.set(call.id, call);
  });
  afterAll(() => t.close());

  type Listed = Call & { matches: ReturnType<typeof searchMatches> };
  const search = async (params: Record<string, string>): Promise<Listed[]> => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/api/call-history',
      query: { agentId: 'agent_snippets', limit: '100', ...params },
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ data: Listed[] }>().data;
  };

  for (const q of QUERIES) {
    it(`"${q}": every sort's snippets are the whole call's, with or without transcripts`, async () => {
      const terms = parseSearch(q);
      for (const sort of ['newest', 'oldest', 'longest', 'relevance']) {
        const withTranscripts = await search({ q, sort, include: 'transcript' });
        const without = await search({ q, sort });
        expect(without.map((call) => call.id)).toEqual(withTranscripts.map((call) => call.id));
        expect(without.length, `${q} finds calls`).toBeGreaterThan(0);
        for (const call of without) {
          const whole = stored.get(call.id)!;
          expect(call.matches, `${q}, ${sort}, ${whole.callerName}`).toEqual(
            searchMatches(whole, terms),
          );
          expect(call).not.toHaveProperty('transcript');
        }
        for (const call of withTranscripts) {
          expect(call.matches).toEqual(searchMatches(stored.get(call.id)!, terms));
        }
      }
    });
  }

  it('cuts a far match with ellipses and highlights the word as written', async () => {
    const [farIn] = (await search({ q: 'xylophone' })).filter((c) => c.callerName === 'farIn');
    const snippet = farIn!.matches.find((match) => match.field === 'transcript')!;
    expect(snippet.text.startsWith('…')).toBe(true);
    expect(snippet.text.endsWith('…')).toBe(true);
    expect(snippet.text.length).toBeLessThanOrEqual(202);
    expect(snippet.text).toContain('Caller: the Xylophone arrived broken.');
    expect(snippet.highlights.map(({ start, end }) => snippet.text.slice(start, end))).toEqual([
      'Xylophone',
    ]);

    const [atEnd] = (await search({ q: 'xylophone' })).filter((c) => c.callerName === 'atEnd');
    const last = atEnd!.matches.find((match) => match.field === 'transcript')!;
    expect(last.text.startsWith('…')).toBe(true);
    expect(last.text.endsWith('and then: xylophone')).toBe(true);

    // The word inside longer words is no match: the snippet is around the real one.
    const [inside] = (await search({ q: 'xylophone' })).filter(
      (c) => c.callerName === 'insideLongerWordFirst',
    );
    const real = inside!.matches.find((match) => match.field === 'transcript')!;
    expect(real.text).toContain('then xylophone for real');

    const summaryOnly = (await search({ q: 'xylophone' })).find((c) => c.callerName === null)!;
    expect(summaryOnly.matches.map((match) => match.field)).toEqual(['summary']);
  });
});
