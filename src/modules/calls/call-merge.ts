// The ingest rules as pure functions over rows (ARCHITECTURE.md, "Ingest rules"): what a new
// record looks like, and how a write merges into a stored one. The service runs them inside a
// write transaction that holds the row (PostgreSQL FOR UPDATE) or the database (SQLite BEGIN
// IMMEDIATE), so concurrent merges cannot drop each other's keys.
import type {
  CallRow,
  CallRowUpdate,
  DurationSource,
  NewCallRow,
  StartedAtSource,
} from '../../db/types.js';
import { ValidationError } from '../../errors.js';
import {
  LIMITS,
  TERMINAL_STATUSES,
  type CallStatus,
  type Direction,
  type EndReason,
  type Sentiment,
} from './call-values.js';

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
  endReason?: EndReason;
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

export function statusRank(status: string): number {
  return STATUS_RANK[status as CallStatus] ?? 0;
}

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

const minusSeconds = (iso: string, seconds: number) =>
  new Date(Date.parse(iso) - seconds * 1000).toISOString();

export function buildNewCall(params: NewCallParams): NewCallRow {
  const { input, now } = params;
  const status = input.status ?? params.defaultStatus;
  const terminal = isTerminal(status);
  const endedAt = input.endedAt ?? (terminal ? now : null);
  // A call first seen when it ended started `duration` seconds before its end (or at it, if
  // nobody said how long it was); a live call first seen now started about now.
  let startedAt: string;
  let startedAtSource: StartedAtSource;
  if (input.startedAt !== undefined) {
    startedAt = input.startedAt;
    startedAtSource = 'sent';
  } else if (endedAt !== null) {
    startedAt = minusSeconds(endedAt, input.duration ?? 0);
    startedAtSource = 'end';
  } else {
    startedAt = now;
    startedAtSource = 'first_seen';
  }
  let duration: number | null = null;
  let durationSource: DurationSource | null = null;
  if (input.duration !== undefined) {
    duration = input.duration;
    durationSource = 'sent';
  } else if (terminal && endedAt !== null && startedAtSource !== 'end') {
    duration = secondsBetween(startedAt, endedAt);
    durationSource = duration === null ? null : 'computed';
  }
  const topics = mergeTopics([], input.topics ?? []);
  const collectedData = mergeCollectedData({}, input.collectedData ?? {});
  return {
    id: params.id,
    tenant_id: params.tenantId,
    call_sid: params.callSid,
    agent_id: input.agentId ?? '',
    user_id: params.owner.userId,
    org_id: params.owner.orgId,
    direction: input.direction ?? 'inbound',
    direction_source: input.direction !== undefined ? 'sent' : 'default',
    caller_number: input.callerNumber ?? null,
    caller_name: input.callerName ?? null,
    status,
    started_at: startedAt,
    started_at_source: startedAtSource,
    ended_at: endedAt,
    duration,
    duration_source: durationSource,
    recording_url: input.recordingUrl ?? null,
    transcript: input.transcript ?? null,
    sentiment: input.sentiment ?? null,
    summary: input.summary ?? null,
    topics: JSON.stringify(topics),
    collected_data: JSON.stringify(collectedData),
    cost_micros: input.costMicros ?? null,
    end_reason: input.endReason ?? null,
    created_at: now,
    updated_at: now,
  };
}

export interface MergeOptions {
  /**
   * The write is stale: a start (create or started webhook) arriving after the call has moved
   * past what it reports, e.g. a late or redelivered `started` after `completed`. It fills what
   * is missing or was only inferred, and overwrites nothing a sender stated.
   */
  readonly fillOnly: boolean;
}

export interface MergeResult {
  /** Columns whose value changes; empty when the write repeats what is stored. */
  readonly changes: CallRowUpdate;
  /** The status the sender asked for was lower than the stored one and was not applied. */
  readonly statusRefused: boolean;
}

/**
 * Merges one write into a stored call: absent keeps, scalars last-write-wins (fill-only for a
 * stale write), status only forward, inferred timestamps give way to stated ones. Throws a
 * ValidationError when the result would end before it started by the senders' own account.
 */
export function mergeIntoCall(
  stored: CallRow,
  input: CallInput,
  owner: Owner,
  now: string,
  { fillOnly }: MergeOptions = { fillOnly: false },
): MergeResult {
  const take = <T>(incoming: T | undefined, current: T | null): T | null =>
    incoming === undefined || (fillOnly && current !== null) ? current : incoming;

  const statusRefused = input.status !== undefined && !statusMayMove(stored.status, input.status);
  const status = input.status !== undefined && !statusRefused ? input.status : stored.status;
  const becameTerminal = !isTerminal(stored.status) && isTerminal(status);

  let startedAt = stored.started_at;
  let startedAtSource = stored.started_at_source;
  if (input.startedAt !== undefined && !(fillOnly && startedAtSource === 'sent')) {
    startedAt = input.startedAt;
    startedAtSource = 'sent';
  }
  let endedAt = stored.ended_at;
  let endedAtFromInput = false;
  if (input.endedAt !== undefined && !(fillOnly && endedAt !== null)) {
    endedAt = input.endedAt;
    endedAtFromInput = true;
  } else if (endedAt === null && becameTerminal) {
    endedAt = now;
  }

  let duration = stored.duration === null ? null : Number(stored.duration);
  let durationSource = stored.duration_source;
  if (input.duration !== undefined && !(fillOnly && durationSource === 'sent')) {
    duration = input.duration;
    durationSource = 'sent';
  }

  if (endedAt !== null && endedAt < startedAt) {
    if (startedAtSource !== 'sent') {
      startedAtSource = 'end'; // only inferred: the stated end wins
    } else if (endedAtFromInput) {
      throw new ValidationError([
        { field: 'endedAt', message: `must not be before the call's startedAt (${startedAt})` },
      ]);
    } else if (input.startedAt !== undefined) {
      throw new ValidationError([
        { field: 'startedAt', message: `must not be after the call's endedAt (${endedAt})` },
      ]);
    } else {
      endedAt = startedAt; // an end we inferred (now) before a start stated ahead of our clock
    }
  }
  if (startedAtSource === 'end' && endedAt !== null) {
    startedAt = minusSeconds(endedAt, durationSource === 'sent' ? (duration ?? 0) : 0);
  }
  if (
    durationSource !== 'sent' &&
    isTerminal(status) &&
    endedAt !== null &&
    startedAtSource !== 'end'
  ) {
    duration = secondsBetween(startedAt, endedAt);
    durationSource = duration === null ? null : 'computed';
  }

  const storedTopics = JSON.parse(stored.topics) as string[];
  const storedData = JSON.parse(stored.collected_data) as Record<string, unknown>;
  const mergedTopics = mergeTopics(storedTopics, input.topics ?? []);
  const incomingData = fillOnly
    ? Object.fromEntries(
        Object.entries(input.collectedData ?? {}).filter(([k]) => !(k in storedData)),
      )
    : (input.collectedData ?? {});
  const mergedData = mergeCollectedData(storedData, incomingData);
  checkMergedSizes(mergedTopics, mergedData);

  const directionStated =
    input.direction !== undefined && !(fillOnly && stored.direction_source === 'sent');
  const next: CallRowUpdate = {
    agent_id: stored.agent_id === '' ? (input.agentId ?? '') : stored.agent_id,
    user_id: stored.user_id ?? owner.userId,
    org_id: stored.org_id ?? owner.orgId,
    direction: directionStated ? input.direction : stored.direction,
    direction_source: directionStated ? 'sent' : stored.direction_source,
    caller_number: take(input.callerNumber, stored.caller_number),
    caller_name: take(input.callerName, stored.caller_name),
    status,
    started_at: startedAt,
    started_at_source: startedAtSource,
    ended_at: endedAt,
    duration,
    duration_source: durationSource,
    recording_url: take(input.recordingUrl, stored.recording_url),
    transcript: take(input.transcript, stored.transcript),
    sentiment: take(input.sentiment, stored.sentiment),
    summary: take(input.summary, stored.summary),
    topics: JSON.stringify(mergedTopics),
    collected_data: JSON.stringify(mergedData),
    cost_micros: take(
      input.costMicros,
      stored.cost_micros === null ? null : Number(stored.cost_micros),
    ),
    // A call the sweeper ended for want of a final event gets the real reason when that event
    // finally arrives (or none, rather than a reason that is no longer true).
    end_reason:
      stored.end_reason === 'missing_final_event' &&
      input.status !== undefined &&
      isTerminal(input.status) &&
      !fillOnly
        ? (input.endReason ?? null)
        : take(input.endReason, stored.end_reason),
  };
  const changes: CallRowUpdate = {};
  for (const [column, value] of Object.entries(next) as Array<[keyof CallRowUpdate, unknown]>) {
    const raw = stored[column];
    const before =
      (column === 'cost_micros' || column === 'duration') && raw !== null ? Number(raw) : raw;
    if (value !== before) (changes as Record<string, unknown>)[column] = value;
  }
  if (Object.keys(changes).length > 0) changes.updated_at = now;
  return { changes, statusRefused };
}

/** Per-request limits bound one write; these bound what many writes add up to on one call. */
function checkMergedSizes(topics: readonly string[], data: Record<string, unknown>): void {
  if (topics.length > LIMITS.mergedTopics) {
    throw new ValidationError([
      { field: 'topics', message: `a call holds at most ${LIMITS.mergedTopics} topics` },
    ]);
  }
  const keys = Object.keys(data).length;
  if (keys > LIMITS.mergedCollectedDataKeys) {
    throw new ValidationError([
      {
        field: 'collectedData',
        message: `a call holds at most ${LIMITS.mergedCollectedDataKeys} keys`,
      },
    ]);
  }
  if (Buffer.byteLength(JSON.stringify(data)) > LIMITS.mergedCollectedDataBytes) {
    throw new ValidationError([
      {
        field: 'collectedData',
        message: `a call holds at most ${LIMITS.mergedCollectedDataBytes} bytes of collectedData`,
      },
    ]);
  }
}
