// Model-based test of the ingest rules (ARCHITECTURE.md, "Ingest rules"), on both dialects:
// random sequences of create, started, PATCH and completed for one call, with repeats (webhooks
// are at-least-once) and in any order (and unordered), each answered with the status code the
// model expects, and the stored record at the end equal to the model's. The model is written
// from the rules, not from the code: idempotent on callSid, status only forward (a final one may
// replace another), absent keeps, scalars last-write-wins, topics an ordered set, collectedData
// key by key, a stale start (lower than what is stored) only fills what is missing, identity
// fixed (another agent is a 409), a PATCH never moves a status back (409).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const RUNS = Number(process.env.MODEL_RUNS ?? 120);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

type Kind = 'create' | 'started' | 'patch' | 'completed';
type Fields = Record<string, unknown>;
type Command = { kind: Kind; fields: Fields } | { kind: 'repeat'; index: number };

const RANK: Record<string, number> = {
  ringing: 0,
  'in-progress': 1,
  completed: 2,
  missed: 2,
  failed: 2,
};
/** What a write says when it names no status (a create names none when it merges). */
const DEFAULT_STATUS: Partial<Record<Kind, string>> = {
  started: 'in-progress',
  completed: 'completed',
};

/** The record as the model keeps it: only what the rules decide, no clocks. */
interface ModelCall {
  agentId: string;
  status: string;
  direction: string;
  directionSent: boolean;
  callerNumber: string | null;
  callerName: string | null;
  recordingUrl: string | null;
  transcript: string | null;
  sentiment: string | null;
  summary: string | null;
  topics: string[];
  collectedData: Record<string, unknown>;
  cost: number | null;
  endReason: string | null;
}

const SCALARS = [
  'callerNumber',
  'callerName',
  'recordingUrl',
  'transcript',
  'sentiment',
  'summary',
  'cost',
  'endReason',
] as const;

/** Applies one write; returns the status code the API must answer with. */
function apply(model: ModelCall | null, kind: Kind, sent: Fields): [ModelCall | null, number] {
  const fields: Fields = Object.fromEntries(
    Object.entries(sent).filter(([, value]) => value !== null && value !== undefined),
  );
  const status = (fields.status as string | undefined) ?? DEFAULT_STATUS[kind];
  if (model === null) {
    if (kind === 'patch') return [null, 404];
    const created: ModelCall = {
      agentId: (fields.agentId as string | undefined) ?? '',
      status: status ?? 'in-progress',
      direction: (fields.direction as string | undefined) ?? 'inbound',
      directionSent: fields.direction !== undefined,
      callerNumber: null,
      callerName: null,
      recordingUrl: null,
      transcript: null,
      sentiment: null,
      summary: null,
      topics: [...new Set((fields.topics as string[] | undefined) ?? [])],
      collectedData: { ...((fields.collectedData as Fields | undefined) ?? {}) },
      cost: null,
      endReason: null,
    };
    for (const key of SCALARS) if (key in fields) created[key] = fields[key] as never;
    return [created, 201];
  }
  const agentId = fields.agentId as string | undefined;
  if (agentId !== undefined && model.agentId !== '' && model.agentId !== agentId) {
    return [model, 409];
  }
  if (kind === 'patch' && status !== undefined && RANK[status]! < RANK[model.status]!) {
    return [model, 409];
  }
  // A start arriving after the call moved on (late, redelivered) fills gaps, overwrites nothing.
  const stale = kind !== 'patch' && RANK[status ?? 'in-progress']! < RANK[model.status]!;
  const next: ModelCall = { ...model, topics: [...model.topics] };
  if (model.agentId === '' && agentId !== undefined) next.agentId = agentId;
  if (status !== undefined && RANK[status]! >= RANK[model.status]!) next.status = status;
  if (fields.direction !== undefined && !(stale && model.directionSent)) {
    next.direction = fields.direction as string;
    next.directionSent = true;
  }
  for (const key of SCALARS) {
    if (key in fields && !(stale && model[key] !== null)) next[key] = fields[key] as never;
  }
  for (const topic of (fields.topics as string[] | undefined) ?? []) {
    if (!next.topics.includes(topic)) next.topics.push(topic);
  }
  const data = (fields.collectedData as Fields | undefined) ?? {};
  next.collectedData = { ...model.collectedData };
  for (const [key, value] of Object.entries(data)) {
    if (!(stale && key in model.collectedData)) next.collectedData[key] = value;
  }
  return [next, 200];
}

// Small pools, so that writes overlap: the same topics, keys and values come back.
const maybeNull = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary }, { weight: 1, arbitrary: fc.constant(null) });
const callerFields = {
  direction: maybeNull(fc.constantFrom('inbound', 'outbound')),
  callerNumber: maybeNull(fc.constantFrom('+15550001', '+15550002')),
  callerName: maybeNull(fc.constantFrom('Ada', 'Grace', 'Linus')),
};
const outcomeFields = {
  recordingUrl: maybeNull(
    fc.constantFrom('https://rec.example/1.mp3', 'https://rec.example/2.mp3'),
  ),
  transcript: maybeNull(fc.constantFrom('Agent: Hello\nCaller: Hi', 'Agent: Bye')),
  sentiment: maybeNull(fc.constantFrom('positive', 'neutral', 'negative')),
  topics: maybeNull(fc.array(fc.constantFrom('billing', 'support', 'sales'), { maxLength: 3 })),
  summary: maybeNull(fc.constantFrom('Asked about a bill.', 'Wanted a refund.')),
  collectedData: maybeNull(
    fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.constantFrom(1, 'two', true, null, [3])),
  ),
  cost: maybeNull(fc.constantFrom(0, 0.25, 1.5, 12.34)),
  endReason: maybeNull(fc.constantFrom('caller_hangup', 'agent_hangup', 'voicemail')),
};
const options = { requiredKeys: [] as never[] };

function command(agentId: string): fc.Arbitrary<Command> {
  // Mostly the call's agent; sometimes another, which a call that has one refuses.
  const agent = fc.oneof(
    { weight: 6, arbitrary: fc.constant(agentId) },
    { weight: 1, arbitrary: fc.constant(`${agentId}_other`) },
  );
  const anyStatus = fc.constantFrom('ringing', 'in-progress', 'completed', 'missed', 'failed');
  return fc.oneof(
    fc
      .record(
        { agentId: agent, status: maybeNull(anyStatus), ...callerFields, ...outcomeFields },
        { requiredKeys: ['agentId'] as never[] },
      )
      .map((fields): Command => ({ kind: 'create', fields })),
    fc
      .record(
        {
          agentId: agent,
          status: maybeNull(fc.constantFrom('ringing', 'in-progress')),
          ...callerFields,
        },
        { requiredKeys: ['agentId'] as never[] },
      )
      .map((fields): Command => ({ kind: 'started', fields })),
    fc
      .record(
        { status: maybeNull(anyStatus), callerName: callerFields.callerName, ...outcomeFields },
        options,
      )
      .map((fields): Command => ({ kind: 'patch', fields })),
    fc
      .record(
        {
          agentId: maybeNull(agent),
          status: maybeNull(fc.constantFrom('completed', 'missed', 'failed')),
          ...callerFields,
          ...outcomeFields,
        },
        options,
      )
      .map((fields): Command => ({ kind: 'completed', fields })),
    fc.nat({ max: 20 }).map((index): Command => ({ kind: 'repeat', index })),
  );
}

describe.each(TEST_DIALECTS)('the ingest rules against a model (%s)', (dialect) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('any order of create, started, PATCH and completed, repeats included, ends as the model says', async () => {
    const agentId = uniqueId('agent_model');
    await fc.assert(
      fc.asyncProperty(
        fc.array(command(agentId), { minLength: 1, maxLength: 12 }),
        async (commands) => {
          const callSid = uniqueId('sid_model');
          let model: ModelCall | null = null;
          let id: string | undefined;
          const done: Array<{ kind: Kind; fields: Fields }> = [];
          for (const planned of commands) {
            const step =
              planned.kind === 'repeat' ? done[planned.index % Math.max(done.length, 1)] : planned;
            if (step === undefined) continue;
            done.push(step);
            const [next, expected] = apply(model, step.kind, step.fields);
            const res =
              step.kind === 'patch'
                ? await t.app.inject({
                    method: 'PATCH',
                    url: `/api/call-history/${id ?? 'call_00000000000000000000000000'}/status`,
                    payload: step.fields,
                  })
                : await t.app.inject({
                    method: 'POST',
                    url:
                      step.kind === 'create'
                        ? '/api/call-history'
                        : `/api/webhooks/calls/${step.kind}`,
                    payload: { callSid, ...step.fields },
                  });
            expect(res.statusCode, `${step.kind} ${JSON.stringify(step.fields)}: ${res.body}`).toBe(
              expected,
            );
            if (res.statusCode < 300) id = res.json<{ id: string }>().id;
            model = next;
          }
          if (model === null) return;
          const stored = (
            await t.app.inject({ method: 'GET', url: `/api/call-history/${id}` })
          ).json<Record<string, unknown>>();
          const { directionSent: _sent, ...expected } = model;
          expect(stored).toMatchObject(expected);
          // The clocks' fields: a final call has ended, and not before it started.
          const ended = stored.endedAt as string | null;
          expect(ended !== null, JSON.stringify(stored)).toBe(RANK[model.status] === 2);
          if (ended !== null) expect(ended >= (stored.startedAt as string)).toBe(true);
        },
      ),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
  }, 600_000);
});
