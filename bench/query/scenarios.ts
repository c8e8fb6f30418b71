// What the query benchmark asks: the list's filter mixes, the searches, the stats window, and
// the ingest bodies of its write scenarios. All relative to a fixture's anchor.
import { CallGenerator, SEARCH_TERMS, type SearchTermKind } from './generator.js';
import type { AutocannonRequest } from './http.js';
import { headerValue } from './http.js';

const DAY_MS = 24 * 3600 * 1000;

/** A list query: the same values in-process (typed) and over HTTP (as a query string). */
export interface ListMix {
  readonly key: string;
  readonly query: Readonly<Record<string, string | number>>;
}

export function listMixes(anchor: Date, callerNumber: string): ListMix[] {
  const ninetyDaysBack = new Date(anchor.getTime() - 90 * DAY_MS).toISOString();
  return [
    { key: 'newest, no filter', query: { limit: 50 } },
    {
      key: 'status+direction+from',
      query: { status: 'completed', direction: 'inbound', from: ninetyDaysBack, limit: 50 },
    },
    {
      key: 'agentId+sentiment',
      query: { agentId: 'agent_sales', sentiment: 'negative', limit: 50 },
    },
    { key: 'minDuration=600', query: { minDuration: 600, limit: 50 } },
    { key: 'topic=cancellation', query: { topic: 'cancellation', limit: 50 } },
    { key: 'collectedData.plan=pro', query: { 'collectedData.plan': 'pro', limit: 50 } },
    { key: 'callerNumber', query: { callerNumber, limit: 50 } },
  ];
}

export const queryString = (query: Readonly<Record<string, string | number>>): string =>
  new URLSearchParams(
    Object.entries(query).map(([name, value]): [string, string] => [name, String(value)]),
  ).toString();

export interface SearchCase {
  readonly key: string;
  readonly kind: SearchTermKind;
  readonly word: string;
  readonly sort: 'newest' | 'relevance';
  /** Filters besides the search (the list's query parameters). */
  readonly filter?: Readonly<Record<string, string>>;
}

export const searchCases = (): SearchCase[] => [
  ...(['rare', 'mid', 'common'] as const).flatMap((kind) =>
    (['newest', 'relevance'] as const).map((sort) => ({
      key: `${kind} "${SEARCH_TERMS[kind].word}", ${sort}`,
      kind,
      word: SEARCH_TERMS[kind].word,
      sort,
    })),
  ),
  // A search narrowed by another filter: its words are tested call by call, not from the index.
  ...(['mid', 'common'] as const).map((kind) => ({
    key: `${kind} "${SEARCH_TERMS[kind].word}" + status=completed, newest`,
    kind,
    word: SEARCH_TERMS[kind].word,
    sort: 'newest' as const,
    filter: { status: 'completed' },
  })),
];

/** One year up to the anchor: the stats a yearly dashboard asks for. */
export function statsYear(anchor: Date): { from: string; to: string } {
  return {
    from: new Date(anchor.getTime() - 365 * DAY_MS).toISOString(),
    to: anchor.toISOString(),
  };
}

// --- Ingest bodies -------------------------------------------------------------------------------

const runTag = Date.now().toString(36);
let callCounter = 0;
const nextCallSid = () => {
  callCounter += 1;
  return `CA-qbench-${runTag}-${callCounter}`;
};

/** A call start as a voice platform sends it (about 230 bytes), a new callSid each time. */
export function createBody(callSid: string): string {
  return JSON.stringify({
    agentId: 'agent_bench_ingest',
    userId: 'user_bench',
    callSid,
    direction: 'inbound',
    callerNumber: '+14155550123',
    callerName: 'Jordan Example',
    status: 'in-progress',
    startedAt: '2026-11-25T10:00:00.000Z',
  });
}

/**
 * Completions as a finished call carries them (about 3.6 KB), each with its own 3,000-character
 * transcript from the fixture's vocabulary: the search index sees new words as it would in
 * production, not the same few lines again and again.
 */
export function completionBodies(count: number): string[] {
  const generator = new CallGenerator({ calls: 1, anchor: new Date('2026-12-01T00:00:00Z') });
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      status: 'completed',
      endedAt: '2026-11-25T10:04:05.000Z',
      duration: 245,
      recordingUrl: 'https://recordings.example.com/2026/11/25/call-recording.mp3',
      transcript: generator.transcript(3000).slice(0, 3000),
      sentiment: 'positive',
      topics: ['billing', 'refund request', 'renewal'],
      summary: `Caller asked about billing. ${generator.phrase(30)}.`,
      collectedData: {
        plan: 'pro',
        seats: 12,
        city: 'Lisbon',
        orderId: `ORD-${100000 + i}`,
        refund: { amount: 29, currency: 'USD', approved: true },
      },
      cost: 0.15,
    }),
  );
}

/** POST /api/call-history with a fresh callSid per request; ids of 201s go to `ids`. */
export function createRequest(ids: string[]): AutocannonRequest {
  return {
    method: 'POST',
    path: '/api/call-history',
    setupRequest: (request) => ({ ...request, body: createBody(nextCallSid()) }),
    onResponse: (status, _body, _context, headers) => {
      if (status !== 201) return;
      const id = callIdOf(headers);
      if (id !== undefined) ids.push(id);
    },
  };
}

function callIdOf(headers: Record<string, string | string[]>): string | undefined {
  const location = headerValue(headers, 'location');
  return location?.slice(location.lastIndexOf('/') + 1) || undefined;
}

/** Ids the ceiling completes: it creates nothing, so any id of the right shape does. */
export const CEILING_CALL_IDS = Array.from(
  { length: 1000 },
  (_, i) => `call_01CEILING${String(i).padStart(17, '0')}`,
);

/** PATCH /api/call-history/{id}/status, each id of the pool once, then round again. */
export function completeRequest(
  ids: readonly string[],
  bodies: readonly string[],
  counter: { sent: number },
): AutocannonRequest {
  return {
    method: 'PATCH',
    setupRequest: (request) => {
      const index = counter.sent;
      counter.sent += 1;
      return {
        ...request,
        path: `/api/call-history/${ids[index % ids.length]!}/status`,
        body: bodies[index % bodies.length]!,
      };
    },
  };
}

/**
 * A call's life on one connection: its start, then its completion once the start was answered
 * (the ceiling answers no Location: its completions go to a made-up id).
 */
export function lifecycleRequests(bodies: readonly string[]): AutocannonRequest[] {
  let completions = 0;
  return [
    {
      method: 'POST',
      path: '/api/call-history',
      setupRequest: (request) => ({ ...request, body: createBody(nextCallSid()) }),
      onResponse: (_status, _body, context, headers) => {
        context.callId = callIdOf(headers) ?? CEILING_CALL_IDS[0];
      },
    },
    {
      method: 'PATCH',
      setupRequest: (request, context) => {
        completions += 1;
        return {
          ...request,
          path: `/api/call-history/${String(context.callId)}/status`,
          body: bodies[completions % bodies.length]!,
        };
      },
    },
  ];
}

/** Where a webhook body's callSid goes: bodies are made once and split around it. */
const SID_SLOT = '@@callSid@@';

/**
 * A call's life as webhooks on one connection: `started` with a new callSid, then `completed`
 * for the same callSid with a finished call's outcome (about 3.6 KB, as completionBodies).
 * The bodies are made once, so the load generator only joins strings.
 */
export function webhookPairRequests(bodies: readonly string[]): AutocannonRequest[] {
  const completed = bodies.map((body) =>
    JSON.stringify({ callSid: SID_SLOT, ...(JSON.parse(body) as object) }).split(SID_SLOT),
  );
  const started = JSON.stringify({
    callSid: SID_SLOT,
    agentId: 'agent_bench_ingest',
    direction: 'inbound',
    callerNumber: '+14155550123',
  }).split(SID_SLOT);
  let completions = 0;
  return [
    {
      method: 'POST',
      path: '/api/webhooks/calls/started',
      setupRequest: (request, context) => {
        const callSid = nextCallSid();
        context.callSid = callSid;
        return { ...request, body: started.join(callSid) };
      },
    },
    {
      method: 'POST',
      path: '/api/webhooks/calls/completed',
      setupRequest: (request, context) => {
        completions += 1;
        return {
          ...request,
          body: completed[completions % completed.length]!.join(String(context.callSid)),
        };
      },
    },
  ];
}
