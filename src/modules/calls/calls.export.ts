// The export's two formats, written a page at a time so memory stays flat however many calls
// there are: NDJSON (one call record per line, exactly as the API returns it) and CSV.
import { csvRow } from '../../lib/csv.js';
import type { Call } from './calls.schemas.js';

export type ExportFormat = 'csv' | 'ndjson';

/** CSV columns, in order; topics are joined with "; ", collectedData is JSON. */
export const CSV_COLUMNS = [
  'id',
  'callSid',
  'agentId',
  'userId',
  'orgId',
  'status',
  'direction',
  'callerNumber',
  'callerName',
  'startedAt',
  'endedAt',
  'duration',
  'sentiment',
  'endReason',
  'topics',
  'summary',
  'cost',
  'recordingUrl',
  'collectedData',
  'transcript',
  'createdAt',
  'updatedAt',
] as const satisfies ReadonlyArray<keyof Call>;

function csvValues(call: Call): Array<string | number | null> {
  return CSV_COLUMNS.map((column) => {
    switch (column) {
      case 'topics':
        return call.topics.join('; ');
      case 'collectedData':
        return Object.keys(call.collectedData).length === 0
          ? ''
          : JSON.stringify(call.collectedData);
      default:
        return call[column];
    }
  });
}

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** One text chunk per page of calls; CSV starts with its header row. */
export async function* exportChunks(
  pages: AsyncIterable<Call[]>,
  format: ExportFormat,
): AsyncGenerator<string> {
  if (format === 'csv') yield csvRow(CSV_COLUMNS);
  for await (const page of pages) {
    yield format === 'csv'
      ? page.map((call) => csvRow(csvValues(call))).join('')
      : page.map((call) => `${JSON.stringify(call)}\n`).join('');
  }
}
