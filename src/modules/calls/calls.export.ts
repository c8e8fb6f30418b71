// The export's two formats, written a page at a time so memory stays flat however many calls
// there are: NDJSON (one call record per line, as the API returns it) and CSV (one row per call,
// cells as csvRow writes them), both built by the database (callJson and callCsv in
// calls.repository.ts) and only joined here.
import { csvRow } from '../../lib/csv.js';
import type { JsonText } from '../../lib/json-text.js';
import type { CallCsvRow, CallKey, PagePosition } from './calls.repository.js';
import type { Call } from './calls.schemas.js';

export type ExportFormat = 'csv' | 'ndjson';

/**
 * CSV columns, in order: each cell is csvCell of the call's value, but topics are joined with
 * "; ", an empty collectedData is an empty cell and any other is its JSON.
 */
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

export type CsvColumn = (typeof CSV_COLUMNS)[number];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** The header row, then one chunk per page of rows. */
export async function* csvChunks(
  pages: AsyncIterable<readonly CallCsvRow[]>,
): AsyncGenerator<string | Buffer> {
  yield csvRow(CSV_COLUMNS);
  for await (const page of pages) yield csvPage(page);
}

/**
 * A page of rows as one chunk: each row's text with its duration written in between (as
 * String(n), JavaScript's shortest exact form). Bytes when a SQLite reader thread sent them,
 * copied once and never decoded; else a string.
 */
function csvPage(rows: readonly CallCsvRow[]): string | Buffer {
  const durationOf = (row: CallCsvRow) => (row.duration === null ? '' : String(row.duration));
  if (rows.every((row) => typeof row.line === 'string' && typeof row.line_end === 'string')) {
    return rows
      .map((row) => `${row.line as string}${durationOf(row)}${row.line_end as string}`)
      .join('');
  }
  const bytes = (text: JsonText) => (typeof text === 'string' ? Buffer.from(text) : text);
  const chunks: Uint8Array[] = [];
  for (const row of rows) {
    chunks.push(bytes(row.line));
    if (row.duration !== null) chunks.push(Buffer.from(String(row.duration)));
    chunks.push(bytes(row.line_end));
  }
  return Buffer.concat(chunks);
}

/** How an export walks the calls (see exportWalk). */
export interface ExportWalkSizes {
  /** Calls per page read and written out: enough to stream fast, few enough to never stall. */
  readonly page: number;
  /** Keys read at once, a whole number of pages. */
  readonly keyBatch: number;
  /**
   * Pages being read at most at once, the one waited for included: while a page is written
   * out, one fewer are being read.
   */
  readonly readsAtOnce: number;
}

/**
 * The same on both dialects. Two pages at once: while one is written out the next is read, and
 * while the walk waits for that one the page after it is read too. On PostgreSQL each read is a
 * backend of its own; on SQLite a reader thread (SQLITE_READERS, 2 by default), so another
 * request's read may wait for a page's read (milliseconds) behind an export. Measured at 1M calls on PostgreSQL, three
 * runs each: this schedule gave 21.2–21.5k NDJSON rows/s; keeping two reads going while a page
 * is written out, 16.6–20.2k; three, 15.3–18.6k (the two cores are shared with the client).
 */
export const EXPORT_WALK: ExportWalkSizes = { page: 500, keyBatch: 4000, readsAtOnce: 2 };

/**
 * An export's pages, newest first: the matching calls' keys `keyBatch` at a time (a keyset
 * walk that reads no transcripts), and the calls behind them a page at a time, up to
 * `readsAtOnce` pages being read at once (see EXPORT_WALK). Reading the transcripts is most
 * of a page's time in the database (on PostgreSQL, from TOAST), and one page after another
 * left a core idle. The first keys and the first page are read before this returns, so a bad
 * query is a 400 and an unreachable database a 503, not a truncated file.
 *
 * A page is read by its calls' ids: a call deleted since its key was read is left out, and one
 * changed since comes with its new values, even if they no longer match the filter or moved
 * it in the order (as a call changed between two pages of any keyset walk).
 */
export async function exportWalk<Row>(
  listKeys: (after: PagePosition | undefined, limit: number) => Promise<CallKey[]>,
  read: (keys: CallKey[]) => Promise<Row[]>,
  sizes: ExportWalkSizes,
): Promise<AsyncIterable<Row[]>> {
  const { page: pageSize, keyBatch, readsAtOnce } = sizes;
  const firstKeys = await listKeys(undefined, keyBatch);
  const firstPage = read(firstKeys.slice(0, pageSize));
  await firstPage;
  return (async function* () {
    let batch = firstKeys;
    let scheduled = 0;
    let nextBatch: Promise<CallKey[]> | undefined;
    const reading: Array<Promise<Row[]>> = [];
    const schedule = () => {
      while (reading.length < readsAtOnce && scheduled < batch.length) {
        const page =
          batch === firstKeys && scheduled === 0
            ? firstPage
            : read(batch.slice(scheduled, scheduled + pageSize));
        // A consumer that stops early (a closed connection) leaves it unread: not an error.
        page.catch(() => {});
        reading.push(page);
        scheduled += pageSize;
      }
      // A short batch is not the end: a search plan may come up short when calls are deleted
      // under it. Only an empty one is.
      const last = batch.at(-1);
      if (scheduled >= batch.length && nextBatch === undefined && last !== undefined) {
        nextBatch = listKeys({ key: last.sort_key, id: last.id }, keyBatch);
        nextBatch.catch(() => {});
      }
    };
    for (;;) {
      schedule();
      const page = reading.shift();
      if (page !== undefined) {
        const rows = await page;
        // A page whose calls were all deleted since their keys were read has nothing to say.
        if (rows.length > 0) yield rows;
        continue;
      }
      if (nextBatch === undefined) return;
      batch = await nextBatch;
      nextBatch = undefined;
      scheduled = 0;
    }
  })();
}
