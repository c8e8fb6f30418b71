// The ingest rules as pure functions over rows (ARCHITECTURE.md, "Ingest rules"): what a new
// record looks like, and how a write merges into a stored one. The service runs them inside a
// write transaction that holds the row (PostgreSQL FOR UPDATE) or the database (SQLite BEGIN
// IMMEDIATE), so concurrent merges cannot drop each other's keys.
import type { CallRow, CallRowUpdate, NewCallRow } from '../../db/types.js';
import {
  TERMINAL_STATUSES,
  type CallStatus,
  type Direction,
  type Sentiment,
} from './calls.schemas.js';

/** One write, normalised: only what the sender actually said (absent and null both dropped). */
export interface CallInput {
  agentId?: string;
  direction?: Direction;
  callerNumber?: string;
  callerName?: string;
  status?: CallStatus;
  startedAt?: string;
  endedAt?: string;
  duration?: number;
  recordingUrl?: string;
  transcript?: string;
  sentiment?: Sentiment;
  topics?: string[];
  summary?: string;
  collectedData?: Record<string, unknown>;
  costMicros?: number;
}

export interface Owner {
  readonly userId: string | null;
  readonly orgId: string | null;
}

const STATUS_RANK: Record<CallStatus, number> = {
  ringing: 0,
  'in-progress': 1,
  completed: 2,
  missed: 2,
  failed: 2,
};

export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** ringing < in-progress < final; a final status may replace another final one. */
export function statusMayMove(from: string, to: CallStatus): boolean {
  return STATUS_RANK[to] >= (STATUS_RANK[from as CallStatus] ?? 0);
}

function secondsBetween(startIso: string, endIso: string): number | null {
  const seconds = (Date.parse(endIso) - Date.parse(startIso)) / 1000;
  return seconds >= 0 ? Math.round(seconds) : null;
}

/** Topics merge as an ordered set: what was stored, then what is new, each once. */
export function mergeTopics(stored: readonly string[], incoming: readonly string[]): string[] {
  const seen = new Set(stored);
  const merged = [...stored];
  for (const topic of incoming) {
    if (!seen.has(topic)) {
      seen.add(topic);
      merged.push(topic);
    }
  }
  return merged;
}

/**
 * collectedData merges key by key, last write wins per key. Built with Object.fromEntries,
 * which defines own properties, so a key such as "__proto__" can never reach a prototype.
 */
export function mergeCollectedData(
  stored: Readonly<Record<string, unknown>>,
  incoming: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const merged = new Map<string, unknown>(Object.entries(stored));
  for (const [key, value] of Object.entries(incoming)) merged.set(key, value);
  return Object.fromEntries(merged);
}

export interface NewCallParams {
  readonly id: string;
  readonly tenantId: string;
  readonly callSid: string;
  readonly owner: Owner;
  readonly input: CallInput;
  readonly defaultStatus: CallStatus;
  readonly now: string;
}

export function buildNewCall(params: NewCallParams): NewCallRow {
  const { input, now } = params;
  const status = input.status ?? params.defaultStatus;
  const terminal = isTerminal(status);
  const endedAt = input.endedAt ?? (terminal ? now : null);
  // A call first seen when it ended started `duration` seconds before its end, if we know that.
  const inferredStart =
    input.startedAt === undefined && endedAt !== null && input.duration !== undefined
      ? new Date(Date.parse(endedAt) - input.duration * 1000).toISOString()
      : undefined;
  const startedAt = input.startedAt ?? inferredStart ?? now;
  const duration =
    input.duration ??
    (terminal && input.startedAt !== undefined && endedAt !== null
      ? secondsBetween(startedAt, endedAt)
      : null);
  return {
    id: params.id,
    tenant_id: params.tenantId,
    call_sid: params.callSid,
    agent_id: input.agentId ?? '',
    user_id: params.owner.userId,
    org_id: params.owner.orgId,
    direction: input.direction ?? 'inbound',
    caller_number: input.callerNumber ?? null,
    caller_name: input.callerName ?? null,
    status,
    started_at: startedAt,
    ended_at: endedAt,
    duration,
    recording_url: input.recordingUrl ?? null,
    transcript: input.transcript ?? null,
    sentiment: input.sentiment ?? null,
    summary: input.summary ?? null,
    topics: JSON.stringify(mergeTopics([], input.topics ?? [])),
    collected_data: JSON.stringify(mergeCollectedData({}, input.collectedData ?? {})),
    cost_micros: input.costMicros ?? null,
    created_at: now,
    updated_at: now,
  };
}

export interface MergeResult {
  /** Columns whose value changes; empty when the write repeats what is stored. */
  readonly changes: CallRowUpdate;
  /** The status the sender asked for was lower than the stored one and was not applied. */
  readonly statusRefused: boolean;
}

/** Merges one write into a stored call: absent keeps, scalars last-write-wins, status forward. */
export function mergeIntoCall(
  stored: CallRow,
  input: CallInput,
  owner: Owner,
  now: string,
): MergeResult {
  const statusRefused = input.status !== undefined && !statusMayMove(stored.status, input.status);
  const status = input.status !== undefined && !statusRefused ? input.status : stored.status;
  const becameTerminal = !isTerminal(stored.status) && isTerminal(status);
  const startedAt = input.startedAt ?? stored.started_at;
  const endedAt = input.endedAt ?? stored.ended_at ?? (becameTerminal ? now : null);
  const duration =
    input.duration ??
    stored.duration ??
    (becameTerminal && endedAt !== null ? secondsBetween(startedAt, endedAt) : null);
  const storedTopics = JSON.parse(stored.topics) as string[];
  const storedData = JSON.parse(stored.collected_data) as Record<string, unknown>;
  const topics = JSON.stringify(mergeTopics(storedTopics, input.topics ?? []));
  const collectedData = JSON.stringify(mergeCollectedData(storedData, input.collectedData ?? {}));

  const next: CallRowUpdate = {
    agent_id: stored.agent_id === '' ? (input.agentId ?? '') : stored.agent_id,
    user_id: stored.user_id ?? owner.userId,
    org_id: stored.org_id ?? owner.orgId,
    direction: input.direction ?? stored.direction,
    caller_number: input.callerNumber ?? stored.caller_number,
    caller_name: input.callerName ?? stored.caller_name,
    status,
    started_at: startedAt,
    ended_at: endedAt,
    duration,
    recording_url: input.recordingUrl ?? stored.recording_url,
    transcript: input.transcript ?? stored.transcript,
    sentiment: input.sentiment ?? stored.sentiment,
    summary: input.summary ?? stored.summary,
    topics,
    collected_data: collectedData,
    cost_micros:
      input.costMicros ?? (stored.cost_micros === null ? null : Number(stored.cost_micros)),
  };
  const changes: CallRowUpdate = {};
  for (const [column, value] of Object.entries(next) as Array<[keyof CallRowUpdate, unknown]>) {
    const before =
      column === 'cost_micros' && stored.cost_micros !== null
        ? Number(stored.cost_micros)
        : stored[column];
    if (value !== before) (changes as Record<string, unknown>)[column] = value;
  }
  if (Object.keys(changes).length > 0) changes.updated_at = now;
  return { changes, statusRefused };
}
