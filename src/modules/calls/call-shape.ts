// A stored call row as the API's record.
import type { CallRow } from '../../db/types.js';
import { microsToDollars } from '../../lib/money.js';
import type { Call } from './calls.schemas.js';

export function toCall(row: CallRow): Call {
  return {
    id: row.id,
    callSid: row.call_sid,
    agentId: row.agent_id,
    userId: row.user_id,
    orgId: row.org_id,
    direction: row.direction as Call['direction'],
    callerNumber: row.caller_number,
    callerName: row.caller_name,
    status: row.status as Call['status'],
    startedAt: row.started_at,
    endedAt: row.ended_at,
    duration: row.duration === null ? null : Number(row.duration),
    recordingUrl: row.recording_url,
    transcript: row.transcript,
    sentiment: row.sentiment as Call['sentiment'],
    topics: JSON.parse(row.topics) as string[],
    summary: row.summary,
    collectedData: JSON.parse(row.collected_data) as Record<string, unknown>,
    cost: row.cost_micros === null ? null : microsToDollars(Number(row.cost_micros)),
    endReason: row.end_reason as Call['endReason'],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
