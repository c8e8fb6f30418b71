// Export and import of everything (agents, calls, their timelines) as NDJSON, to move house
// between SQLite and PostgreSQL. Lines hold stored rows, so nothing is lost in translation; a
// call travels with its events on one line, so a call and its timeline import together.
// Import is idempotent: what already exists (by id, or by tenant + callSid) is skipped.
import type { Transactor } from '../../db/transactor.js';
import type { AgentRow, CallEventRow, CallRow } from '../../db/types.js';
import { ValidationError } from '../../errors.js';
import type { CallChange } from '../calls/call-stream.js';
import { LIMITS } from '../calls/call-values.js';
import { dollarsToMicros } from '../../lib/money.js';
import { CALL_STATUSES, DIRECTIONS, END_REASONS, SENTIMENTS } from '../calls/calls.schemas.js';
import type { TransferRepository } from './transfer.repository.js';

export const EXPORT_FORMAT = 'callmind-export';
export const EXPORT_VERSION = 1;
const BATCH = 500;

type ExportedEvent = Omit<CallEventRow, 'id' | 'call_id' | 'tenant_id'>;

export type ExportLine =
  | { kind: typeof EXPORT_FORMAT; version: number; exportedAt: string }
  | { kind: 'agent'; row: AgentRow }
  | { kind: 'call'; row: CallRow; events: ExportedEvent[] };

export interface ImportCounts {
  agents: { imported: number; skipped: number };
  calls: { imported: number; skipped: number };
  events: number;
}

export interface TransferServiceDeps {
  readonly transfer: TransferRepository;
  readonly transactor: Transactor;
  /** Tells the live streams (of running servers too, on PostgreSQL) what was imported. */
  readonly publishChange: (change: CallChange) => void;
}

export type TransferService = ReturnType<typeof createTransferService>;

// pg returns bigint columns as strings; rows leave this module with numbers.
const numberOrNull = (value: unknown): number | null => (value === null ? null : Number(value));
const normaliseCall = (row: CallRow): CallRow => ({
  ...row,
  duration: numberOrNull(row.duration),
  cost_micros: numberOrNull(row.cost_micros),
});

export function createTransferService({
  transfer,
  transactor,
  publishChange,
}: TransferServiceDeps) {
  return {
    /** Yields the export, one line at a time, in constant memory. */
    async *exportLines(now: Date): AsyncGenerator<ExportLine> {
      yield { kind: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: now.toISOString() };
      let agentCursor: { tenantId: string; id: string } | undefined;
      for (;;) {
        const agents = await transfer.agentsAfter(agentCursor, BATCH);
        for (const row of agents) yield { kind: 'agent', row };
        const last = agents.at(-1);
        if (last === undefined || agents.length < BATCH) break;
        agentCursor = { tenantId: last.tenant_id, id: last.id };
      }
      let callCursor: string | undefined;
      for (;;) {
        const calls = await transfer.callsAfter(callCursor, BATCH);
        const events = await transfer.eventsOfCalls(calls.map((c) => c.id));
        const byCall = new Map<string, ExportedEvent[]>();
        for (const { id: _id, call_id, tenant_id: _tenant, ...event } of events) {
          const list = byCall.get(call_id) ?? [];
          list.push(event);
          byCall.set(call_id, list);
        }
        for (const row of calls) {
          yield { kind: 'call', row: normaliseCall(row), events: byCall.get(row.id) ?? [] };
        }
        const last = calls.at(-1);
        if (last === undefined || calls.length < BATCH) break;
        callCursor = last.id;
      }
    },

    /** Imports parsed lines in transactions of up to BATCH lines; safe to run again. */
    async importLines(
      lines: AsyncIterable<{ line: ExportLine; number: number }>,
    ): Promise<ImportCounts> {
      const counts: ImportCounts = {
        agents: { imported: 0, skipped: 0 },
        calls: { imported: 0, skipped: 0 },
        events: 0,
      };
      let batch: ExportLine[] = [];
      let sawHeader = false;
      const flush = async () => {
        const lines = batch;
        batch = [];
        const tenantsWithNewCalls = new Set<string>();
        await transactor.write(async (trx) => {
          const repo = transfer.inTransaction(trx);
          for (const line of lines) {
            if (line.kind === 'agent') {
              const inserted = await repo.insertAgent(line.row);
              counts.agents[inserted ? 'imported' : 'skipped'] += 1;
            } else if (line.kind === 'call') {
              const inserted = await repo.insertCall(line.row);
              counts.calls[inserted ? 'imported' : 'skipped'] += 1;
              if (!inserted) continue;
              tenantsWithNewCalls.add(line.row.tenant_id);
              const events = line.events.map((e) => ({
                ...e,
                call_id: line.row.id,
                tenant_id: line.row.tenant_id,
              }));
              for (let i = 0; i < events.length; i += BATCH) {
                await repo.insertEvents(events.slice(i, i + BATCH));
              }
              counts.events += events.length;
            }
          }
        });
        // After the commit: the tenants' open lists read themselves again.
        for (const tenantId of tenantsWithNewCalls) publishChange({ tenantId, kind: 'bulk' });
      };
      for await (const { line, number } of lines) {
        if (!sawHeader) {
          if (line.kind !== EXPORT_FORMAT || line.version !== EXPORT_VERSION) {
            throw new ValidationError([
              {
                field: `line ${number}`,
                message: `is not a ${EXPORT_FORMAT} v${EXPORT_VERSION} header`,
              },
            ]);
          }
          sawHeader = true;
          continue;
        }
        batch.push(line);
        if (batch.length >= BATCH) await flush();
      }
      if (batch.length > 0) await flush();
      return counts;
    },
  };
}

/** Parses one NDJSON line of an export; a line that is not one is the file's fault (400). */
export function parseExportLine(text: string, number: number): ExportLine {
  const fail = (message: string) => new ValidationError([{ field: `line ${number}`, message }]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw fail('is not JSON');
  }
  if (value === null || typeof value !== 'object') throw fail('is not an object');
  const line = value as Record<string, unknown>;
  const row = line.row as Record<string, unknown> | undefined;
  switch (line.kind) {
    case EXPORT_FORMAT:
      return value as ExportLine;
    case 'agent':
      if (typeof row?.tenant_id !== 'string' || typeof row.id !== 'string')
        throw fail('is not an agent row');
      return value as ExportLine;
    case 'call': {
      if (row === undefined || !Array.isArray(line.events)) {
        throw fail('is not a call row with its events');
      }
      const problem = callRowProblem(row);
      if (problem !== undefined) throw fail(`has a call row that ${problem}`);
      // Stored as every write stores them, as JSON.stringify writes them: the CSV export
      // writes them from the database as they are (callCsv in calls.repository.ts).
      row.topics = JSON.stringify(JSON.parse(row.topics as string));
      row.collected_data = JSON.stringify(JSON.parse(row.collected_data as string));
      return value as ExportLine;
    }
    default:
      throw fail(`has an unknown kind ${JSON.stringify(line.kind)}`);
  }
}

const isText = (value: unknown) => typeof value === 'string';
const isTextOrNull = (value: unknown) => value === null || typeof value === 'string';
const isIso = (value: unknown) => typeof value === 'string' && !Number.isNaN(Date.parse(value));
const isNumberOrNull = (value: unknown) =>
  value === null || (typeof value === 'number' && Number.isFinite(value) && value >= 0);

/** A cost as every write stores it: whole micro-dollars, within the API's limit. */
const isMicrosOrNull = (value: unknown) =>
  value === null ||
  (Number.isSafeInteger(value) &&
    (value as number) >= 0 &&
    (value as number) <= dollarsToMicros(LIMITS.costUsd));

function parsesAs(text: unknown, check: (value: unknown) => boolean): boolean {
  if (typeof text !== 'string') return false;
  try {
    return check(JSON.parse(text));
  } catch {
    return false;
  }
}

/**
 * What would make a call row unreadable once stored (every read parses its JSON columns and
 * trusts its enums): a hand-edited or foreign file is refused here, not at the next GET.
 */
function callRowProblem(row: Record<string, unknown>): string | undefined {
  for (const column of ['id', 'tenant_id', 'call_sid', 'agent_id', 'created_at', 'updated_at']) {
    if (!isText(row[column])) return `lacks ${column}`;
  }
  if (!(CALL_STATUSES as readonly unknown[]).includes(row.status)) return 'has an unknown status';
  if (!(DIRECTIONS as readonly unknown[]).includes(row.direction))
    return 'has an unknown direction';
  if (row.sentiment !== null && !(SENTIMENTS as readonly unknown[]).includes(row.sentiment)) {
    return 'has an unknown sentiment';
  }
  const endReason = row.end_reason ?? null;
  if (endReason !== null && !(END_REASONS as readonly unknown[]).includes(endReason)) {
    return 'has an unknown end_reason';
  }
  if (!isIso(row.started_at) || (row.ended_at !== null && !isIso(row.ended_at))) {
    return 'has an unreadable timestamp';
  }
  if (!isNumberOrNull(row.duration) || !isMicrosOrNull(row.cost_micros)) {
    return 'has a bad duration or cost';
  }
  for (const column of [
    'user_id',
    'org_id',
    'caller_number',
    'caller_name',
    'recording_url',
    'transcript',
    'summary',
  ]) {
    if (!isTextOrNull(row[column])) return `has a bad ${column}`;
  }
  if (!parsesAs(row.topics, (v) => Array.isArray(v) && v.every(isText))) return 'has bad topics';
  if (
    !parsesAs(row.collected_data, (v) => v !== null && typeof v === 'object' && !Array.isArray(v))
  ) {
    return 'has bad collected_data';
  }
  return undefined;
}
