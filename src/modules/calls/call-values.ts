// The call record's closed sets of values, in a module of their own with no imports, so that
// the dashboard can use them without bundling the schema library (calls.schemas.ts re-exports
// them).

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
