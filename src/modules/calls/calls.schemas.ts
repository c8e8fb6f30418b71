// The call record's API contract: request bodies, query strings and the response shape.
// The dashboard imports these types too.
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, Nullable, StringEnum } from '../../http/schema-helpers.js';
import {
  CALL_STATUSES,
  DIRECTIONS,
  END_REASONS,
  LIMITS,
  LIVE_STATUSES,
  SENTIMENTS,
  TERMINAL_STATUSES,
} from './call-values.js';

export * from './call-values.js';

const Id = (description: string) =>
  Type.String({ minLength: 1, maxLength: LIMITS.idLength, pattern: ID_PATTERN, description });
const Text = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, format: 'text', description });
const Timestamp = (description: string) =>
  Type.String({ format: 'date-time', maxLength: 64, description });

// Fields shared by every ingest body. All optional; null means "not known, keep what is stored".
const callerFields = {
  direction: Type.Optional(Nullable(StringEnum(DIRECTIONS, { description: 'Default inbound' }))),
  callerNumber: Type.Optional(
    Nullable(Text(LIMITS.callerNumberLength, 'The caller, e.g. +1234567890')),
  ),
  callerName: Type.Optional(Nullable(Text(LIMITS.callerNameLength, 'Caller ID name'))),
};

const outcomeFields = {
  startedAt: Type.Optional(Nullable(Timestamp('When the call started; default: when first seen'))),
  endedAt: Type.Optional(
    Nullable(Timestamp('When the call ended; default: when a final status first arrives')),
  ),
  duration: Type.Optional(
    Nullable(
      Type.Number({
        minimum: 0,
        maximum: LIMITS.durationSeconds,
        description: 'Seconds; computed from startedAt and endedAt when not given',
      }),
    ),
  ),
  recordingUrl: Type.Optional(
    Nullable(
      Type.String({
        format: 'http-url',
        maxLength: LIMITS.urlLength,
        description: 'http(s) URL of the audio recording',
      }),
    ),
  ),
  transcript: Type.Optional(
    Nullable(Text(LIMITS.transcriptLength, 'Full transcript, "Agent:" / "Caller:" lines')),
  ),
  sentiment: Type.Optional(Nullable(StringEnum(SENTIMENTS))),
  topics: Type.Optional(
    Nullable(
      Type.Array(Text(LIMITS.topicLength, 'A topic'), {
        maxItems: LIMITS.topics,
        description: 'Merged into the stored topics as an ordered set',
      }),
    ),
  ),
  summary: Type.Optional(Nullable(Text(LIMITS.summaryLength, 'Summary of the call'))),
  collectedData: Type.Optional(
    Nullable(
      Type.Record(Type.String(), Type.Unknown(), {
        maxProperties: LIMITS.collectedDataKeys,
        propertyNames: { minLength: 1, maxLength: LIMITS.collectedDataKeyLength },
        description: 'Data collected during the call; merged key by key into what is stored',
      }),
    ),
  ),
  cost: Type.Optional(
    Nullable(Type.Number({ minimum: 0, maximum: LIMITS.costUsd, description: 'USD' })),
  ),
  endReason: Type.Optional(
    Nullable(StringEnum(END_REASONS, { description: 'Why the call ended' })),
  ),
};

const ownerFields = {
  userId: Type.Optional(Nullable(Id('Must agree with the credential; never grants access'))),
  orgId: Type.Optional(Nullable(Id('Must agree with the credential; never grants access'))),
};

const strict = { additionalProperties: false } as const;

export const CreateCallBody = Type.Object(
  {
    agentId: Id('The agent that handled the call'),
    callSid: Id("The phone system's call id; the dedupe key"),
    ...ownerFields,
    ...callerFields,
    status: Type.Optional(
      Nullable(StringEnum(CALL_STATUSES, { description: 'Default in-progress' })),
    ),
    ...outcomeFields,
  },
  strict,
);
export type CreateCallBody = Static<typeof CreateCallBody>;

export const UpdateCallStatusBody = Type.Object(
  {
    status: Type.Optional(
      Nullable(
        StringEnum(CALL_STATUSES, {
          description:
            'Usually completed, missed or failed. A status never moves back from a final one.',
        }),
      ),
    ),
    callerName: callerFields.callerName,
    ...outcomeFields,
  },
  strict,
);
export type UpdateCallStatusBody = Static<typeof UpdateCallStatusBody>;

export const CallStartedWebhookBody = Type.Object(
  {
    callSid: Id("The phone system's call id"),
    agentId: Id('The agent that handled the call'),
    ...ownerFields,
    ...callerFields,
    status: Type.Optional(
      Nullable(StringEnum(LIVE_STATUSES, { description: 'Default in-progress' })),
    ),
    startedAt: outcomeFields.startedAt,
  },
  strict,
);
export type CallStartedWebhookBody = Static<typeof CallStartedWebhookBody>;

export const CallCompletedWebhookBody = Type.Object(
  {
    callSid: Id("The phone system's call id"),
    agentId: Type.Optional(Nullable(Id('May be omitted; the started webhook names it'))),
    ...ownerFields,
    ...callerFields,
    status: Type.Optional(
      Nullable(StringEnum(TERMINAL_STATUSES, { description: 'Default completed' })),
    ),
    ...outcomeFields,
  },
  strict,
);
export type CallCompletedWebhookBody = Static<typeof CallCompletedWebhookBody>;

export const Call = Type.Object({
  id: Type.String({ description: 'call_ + ULID' }),
  callSid: Type.String(),
  agentId: Type.String({ description: 'Empty only while a completed webhook waits for started' }),
  userId: Nullable(Type.String()),
  orgId: Nullable(Type.String()),
  direction: StringEnum(DIRECTIONS),
  callerNumber: Nullable(Type.String()),
  callerName: Nullable(Type.String()),
  status: StringEnum(CALL_STATUSES),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: Nullable(Type.String({ format: 'date-time' })),
  duration: Nullable(Type.Number()),
  recordingUrl: Nullable(Type.String()),
  transcript: Nullable(Type.String()),
  sentiment: Nullable(StringEnum(SENTIMENTS)),
  topics: Type.Array(Type.String()),
  summary: Nullable(Type.String()),
  collectedData: Type.Record(Type.String(), Type.Unknown()),
  cost: Nullable(Type.Number({ description: 'USD' })),
  endReason: Nullable(StringEnum(END_REASONS)),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Call = Static<typeof Call>;

export const CallEvent = Type.Object({
  id: Type.Integer(),
  kind: StringEnum(['create', 'started', 'completed', 'status_update', 'sweep'], {
    description: 'sweep: the stale-call sweeper ended the call',
  }),
  outcome: StringEnum(['created', 'merged']),
  statusBefore: Nullable(StringEnum(CALL_STATUSES)),
  statusAfter: StringEnum(CALL_STATUSES),
  receivedAt: Type.String({ format: 'date-time' }),
  payload: Type.Record(Type.String(), Type.Unknown()),
});
export type CallEvent = Static<typeof CallEvent>;

export const CallIdParams = Type.Object({ id: Id('The call id') });
export const CallSidParams = Type.Object({ callSid: Id("The phone system's call id") });

/** One value, several values repeated (`?status=a&status=b`) or comma-separated (`a,b`). */
const OneOrMany = (description: string) =>
  Type.Unsafe<string | string[]>({
    anyOf: [
      { type: 'string', maxLength: 2048 },
      { type: 'array', items: { type: 'string', maxLength: 2048 }, maxItems: 50 },
    ],
    description,
  });

/** The filters shared by the list, stats and export (parsed by call-query.ts). */
const callFilterProperties = {
  agentId: Type.Optional(OneOrMany('Only calls of these agents')),
  status: Type.Optional(OneOrMany(`Any of ${CALL_STATUSES.join(', ')}`)),
  direction: Type.Optional(OneOrMany(`Any of ${DIRECTIONS.join(', ')}`)),
  sentiment: Type.Optional(OneOrMany(`Any of ${SENTIMENTS.join(', ')}`)),
  endReason: Type.Optional(OneOrMany(`Any of ${END_REASONS.join(', ')}`)),
  topic: Type.Optional(OneOrMany('Calls with any of these topics (repeat for several)')),
  from: Type.Optional(Type.String({ maxLength: 64, description: 'startedAt ≥ from' })),
  to: Type.Optional(Type.String({ maxLength: 64, description: 'startedAt < to' })),
  minDuration: Type.Optional(Type.Number({ minimum: 0, description: 'Seconds, inclusive' })),
  maxDuration: Type.Optional(Type.Number({ minimum: 0, description: 'Seconds, inclusive' })),
  minCost: Type.Optional(Type.Number({ minimum: 0, description: 'USD, inclusive' })),
  maxCost: Type.Optional(Type.Number({ minimum: 0, description: 'USD, inclusive' })),
  callerNumber: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.callerNumberLength })),
  hasRecording: Type.Optional(Type.Boolean()),
  hasTranscript: Type.Optional(Type.Boolean()),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 500,
      description:
        'Full-text search over transcript, summary, callerName, topics and collectedData values',
    }),
  ),
};

/** `collectedData.KEY=VALUE`: the stored value's text (strings as is, numbers, true/false). */
const collectedDataFilter = {
  additionalProperties: false,
  patternProperties: {
    '^collectedData\\.': {
      anyOf: [
        { type: 'string', maxLength: 1024 },
        { type: 'array', items: { type: 'string', maxLength: 1024 }, maxItems: 50 },
      ],
    },
  },
} as const;

export const CallFilterQuery = Type.Object(callFilterProperties, collectedDataFilter);
export type CallFilterQuery = Static<typeof CallFilterQuery>;

export const ListCallsQuery = Type.Object(
  {
    ...callFilterProperties,
    sort: Type.Optional(
      StringEnum(['newest', 'oldest', 'longest', 'relevance'], {
        description: 'Default newest; relevance needs q',
      }),
    ),
    includeTotal: Type.Optional(Type.Boolean({ description: 'Add total: every matching call' })),
    include: Type.Optional(
      StringEnum(['transcript'], {
        description: 'transcript: each call with its transcript (left out by default)',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  collectedDataFilter,
);
export type ListCallsQuery = Static<typeof ListCallsQuery>;

export const SearchMatch = Type.Object({
  field: StringEnum(['callerName', 'topics', 'summary', 'collectedData', 'transcript']),
  text: Type.String(),
  highlights: Type.Array(Type.Object({ start: Type.Integer(), end: Type.Integer() })),
});

/**
 * A call in a list: every field, but the transcript only with `include=transcript`. At about
 * 3 kB a call the transcripts are most of a page's bytes, and a list seldom shows them; search
 * matches in a transcript still come as snippets.
 */
export const ListedCall = Type.Composite([
  Type.Omit(Call, ['transcript']),
  Type.Object({
    transcript: Type.Optional(Nullable(Type.String({ description: 'With include=transcript' }))),
    hasTranscript: Type.Boolean(),
    matches: Type.Optional(Type.Array(SearchMatch, { description: 'With q: where it matched' })),
  }),
]);
export type ListedCall = Static<typeof ListedCall>;

export const CallPage = Type.Object({
  data: Type.Array(ListedCall),
  nextCursor: Nullable(Type.String()),
  total: Type.Optional(Type.Integer({ description: 'With includeTotal=true' })),
});

export const ListCallEventsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
    cursor: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,18}$', description: 'nextCursor of the previous page' }),
    ),
  },
  strict,
);
export type ListCallEventsQuery = Static<typeof ListCallEventsQuery>;

export const CallEventList = Type.Object({
  data: Type.Array(CallEvent),
  nextCursor: Nullable(Type.String()),
});

export const CallStatsQuery = Type.Object(
  {
    ...callFilterProperties,
    bucket: Type.Optional(
      StringEnum(['hour', 'day', 'week'], { description: 'Series bucket; default day' }),
    ),
    tz: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'IANA time zone of the buckets, e.g. Europe/Lisbon; default UTC',
      }),
    ),
  },
  collectedDataFilter,
);
export type CallStatsQuery = Static<typeof CallStatsQuery>;

const countsBy = <T extends readonly string[]>(keys: T) =>
  Type.Object(
    Object.fromEntries(keys.map((key) => [key, Type.Integer()])) as Record<
      T[number],
      ReturnType<typeof Type.Integer>
    >,
  );

export const CallStats = Type.Object({
  total: Type.Integer(),
  byStatus: countsBy(CALL_STATUSES),
  bySentiment: countsBy([...SENTIMENTS, 'unknown'] as const),
  byDirection: countsBy(DIRECTIONS),
  byAgent: Type.Array(Type.Object({ agentId: Type.String(), total: Type.Integer() })),
  duration: Type.Object({
    calls: Type.Integer({ description: 'Calls with a duration' }),
    avg: Nullable(Type.Number()),
    p50: Nullable(Type.Number({ description: 'Nearest-rank median, seconds' })),
    p90: Nullable(Type.Number()),
    bins: Type.Array(
      Type.Object({
        min: Type.Number({ description: 'Seconds, inclusive' }),
        max: Nullable(Type.Number({ description: 'Seconds, exclusive; null: no upper bound' })),
        calls: Type.Integer(),
      }),
      {
        description:
          'How durations are spread: calls per bin, bins about 5 % wide (1 s below a minute), in order, empty ones left out',
      },
    ),
  }),
  cost: Type.Object({
    calls: Type.Integer({ description: 'Calls with a cost' }),
    total: Type.Number({ description: 'USD, summed exactly (integer micro-dollars)' }),
    avg: Nullable(Type.Number()),
  }),
  bucket: StringEnum(['hour', 'day', 'week']),
  tz: Type.String(),
  series: Type.Array(
    Type.Object({
      start: Type.String({ format: 'date-time', description: 'UTC instant the bucket starts' }),
      total: Type.Integer(),
      byStatus: countsBy(CALL_STATUSES),
      cost: Type.Number({ description: "USD, the bucket's calls summed exactly" }),
    }),
  ),
});
export type CallStats = Static<typeof CallStats>;

export const CallExportQuery = Type.Object(
  {
    ...callFilterProperties,
    format: Type.Optional(StringEnum(['csv', 'ndjson'], { description: 'Default csv' })),
  },
  collectedDataFilter,
);
export type CallExportQuery = Static<typeof CallExportQuery>;

export const EraseCallsBody = Type.Object(
  {
    callerNumber: Type.String({
      minLength: 1,
      maxLength: LIMITS.callerNumberLength,
      format: 'text',
      description: 'Every call from this number is deleted, with its timeline',
    }),
  },
  strict,
);
export type EraseCallsBody = Static<typeof EraseCallsBody>;

export const EraseCallsResult = Type.Object({ deleted: Type.Integer() });
