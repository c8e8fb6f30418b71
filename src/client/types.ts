// The client's types, derived from the server's own TypeBox schemas so that the two cannot
// drift apart. Type imports only: they vanish from the compiled JavaScript, and the client loads
// none of the server's code (nor TypeBox) at run time (test/http/client.test.ts checks).
import type { Static } from '@sinclair/typebox';
import type { Agent, CreateAgentBody } from '../modules/agents/agents.schemas.js';
import type {
  Call,
  CallCompletedWebhookBody,
  CallEvent,
  CallEventList,
  CallFilterQuery,
  CallPage as CallPageSchema,
  CallStats,
  CallStartedWebhookBody,
  CallStatsQuery as ServerCallStatsQuery,
  CallStatus,
  CreateCallBody,
  Direction,
  EndReason,
  EraseCallsResult,
  ListCallEventsQuery,
  ListCallsQuery as ServerListCallsQuery,
  ListedCall,
  Sentiment,
  UpdateCallStatusBody,
} from '../modules/calls/calls.schemas.js';

export type {
  Agent,
  Call,
  CallCompletedWebhookBody,
  CallEvent,
  CallStats,
  CallStartedWebhookBody,
  CallStatus,
  CreateAgentBody,
  CreateCallBody,
  Direction,
  EndReason,
  ListCallEventsQuery,
  ListedCall,
  Sentiment,
  UpdateCallStatusBody,
};

export type CallPage = Static<typeof CallPageSchema>;
export type CallEventPage = Static<typeof CallEventList>;
export type EraseResult = Static<typeof EraseCallsResult>;

/** One value, or several (sent as `?status=a&status=b`: any of them matches). */
export type OneOrMany<T> = T | readonly T[];

type PluralFilters = 'agentId' | 'status' | 'direction' | 'sentiment' | 'endReason' | 'topic';

/**
 * The filters list, stats and export share: the server's, with the closed sets typed by their
 * values, dates also as Date, and `collectedData: { email: 'a@b.c' }` for the server's
 * `collectedData.email=a@b.c` (the stored value's text: strings as they are, numbers, booleans).
 */
export type CallFilters = Omit<CallFilterQuery, PluralFilters | 'from' | 'to'> & {
  readonly agentId?: OneOrMany<string>;
  readonly status?: OneOrMany<CallStatus>;
  readonly direction?: OneOrMany<Direction>;
  readonly sentiment?: OneOrMany<Sentiment>;
  readonly endReason?: OneOrMany<EndReason>;
  /** Topics may hold commas: several are sent as repeated parameters, never joined. */
  readonly topic?: OneOrMany<string>;
  /** startedAt ≥ from. */
  readonly from?: string | Date;
  /** startedAt < to. */
  readonly to?: string | Date;
  readonly collectedData?: Readonly<Record<string, string | number | boolean>>;
};

export type ListCallsQuery = CallFilters &
  Pick<ServerListCallsQuery, 'sort' | 'includeTotal' | 'include' | 'limit' | 'cursor'>;

/** For iterate() and pages(): the cursor is theirs to follow. */
export type IterateCallsQuery = Omit<ListCallsQuery, 'cursor'>;

export type CallStatsQuery = CallFilters & Pick<ServerCallStatsQuery, 'bucket' | 'tz'>;

export type ExportFormat = 'ndjson' | 'csv';
export type CallExportQuery<F extends ExportFormat = ExportFormat> = CallFilters & {
  readonly format: F;
};

/** Options every method takes last. */
export interface RequestOptions {
  /** Aborts the request (and any wait before a retry); the signal's reason is thrown. */
  readonly signal?: AbortSignal;
}
