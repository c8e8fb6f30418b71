// The call record's closed sets of values and its limits, in a module of their own with no
// imports, so that the dashboard and SQLite's writer thread can use them without loading the
// schema library (calls.schemas.ts re-exports them).

export const CALL_STATUSES = ['ringing', 'in-progress', 'completed', 'missed', 'failed'] as const;
export const TERMINAL_STATUSES = ['completed', 'missed', 'failed'] as const;
export const LIVE_STATUSES = ['ringing', 'in-progress'] as const;
export const DIRECTIONS = ['inbound', 'outbound'] as const;
export const SENTIMENTS = ['positive', 'negative', 'neutral'] as const;
/**
 * Why a call ended, a small canonical set every provider's reasons map onto. The stale-call
 * sweeper ends calls whose final event never came with `missing_final_event`.
 */
export const END_REASONS = [
  'caller_hangup',
  'agent_hangup',
  'transferred',
  'voicemail',
  'no_answer',
  'busy',
  'max_duration',
  'error',
  'missing_final_event',
] as const;

export type CallStatus = (typeof CALL_STATUSES)[number];
export type Direction = (typeof DIRECTIONS)[number];
export type Sentiment = (typeof SENTIMENTS)[number];
export type EndReason = (typeof END_REASONS)[number];

/** Limits on what one request may carry (OWASP API4): generous for real calls, bounded. */
export const LIMITS = {
  idLength: 128,
  callerNumberLength: 64,
  callerNameLength: 256,
  urlLength: 2048,
  transcriptLength: 1_000_000,
  summaryLength: 20_000,
  topics: 50,
  topicLength: 100,
  collectedDataKeys: 100,
  collectedDataKeyLength: 128,
  collectedDataDepth: 5,
  collectedDataBytes: 64 * 1024,
  /** What all the writes to one call may add up to. */
  mergedTopics: 200,
  mergedCollectedDataKeys: 500,
  mergedCollectedDataBytes: 256 * 1024,
  /** 30 days: longer than any phone call, far below absurd values like 1e12. */
  durationSeconds: 30 * 24 * 3600,
  costUsd: 1_000_000,
} as const;
