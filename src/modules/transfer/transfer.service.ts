// Export and import of everything (agents, calls, their timelines) as NDJSON, to move house
// between SQLite and PostgreSQL. Lines hold stored rows, so nothing is lost in translation; a
// call travels with its events on one line, so a call and its timeline import together.
// Import is idempotent: what already exists (by id, or by tenant + callSid) is skipped.
import type { Transactor } from '../../db/transactor.js';
import type { AgentRow, CallEventRow, CallRow } from '../../db/types.js';
import { ValidationError } from '../../errors.js';
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
}

export type TransferService = ReturnType<typeof createTransferService>;

// pg returns bigint columns as strings; rows leave this module with numbers.
const numberOrNull = (value: unknown): number | null => (value === null ? null : Number(value));
const normaliseCall = (row: CallRow): CallRow => ({
  ...row,
  duration: numberOrNull(row.duration),
  cost_micros: numberOrNull(row.cost_micros),
});

export function createTransferService({ transfer, transactor }: TransferServiceDeps) {
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
    case 'call':
      if (
        typeof row?.id !== 'string' ||
        typeof row.tenant_id !== 'string' ||
        typeof row.call_sid !== 'string' ||
        !Array.isArray(line.events)
      ) {
        throw fail('is not a call row with its events');
      }
      return value as ExportLine;
    default:
      throw fail(`has an unknown kind ${JSON.stringify(line.kind)}`);
  }
}
