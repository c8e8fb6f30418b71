// Frozen in time: never edit a migration that has shipped; add a new one.
// A call's search document (call_search.document, T1500) is about 3 KB once compressed: over
// the 2 KB at which PostgreSQL moves a value out of its row into the table's TOAST table. So
// call_search itself held only the keys (120 MB at a million calls, against 3.4 GB of TOAST),
// and the planner, which prices a scan by the table's own pages, saw a table of a few dozen
// pages in a young database and scanned it whole for every search, fetching and decompressing
// each document from TOAST. STORAGE MAIN keeps the compressed document in the row unless the
// row would not fit in a page at all (documents are at most a few KB compressed), so the table's
// size is what reading it costs. The row's three short columns get MAIN too: a row still over
// 2 KB with its document in it would otherwise have them moved to TOAST instead, 24 bytes at a
// time (seen: a call's started_at as a TOAST chunk of its own).
//
// Documents written before this stay where they are (a rewrite of the whole table is not worth
// blocking a start for); every call written or changed from now on is stored in its row.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

/** Every column of call_search: the document, and the short ones that would go instead. */
const COLUMNS = ['call_id', 'tenant_id', 'started_at', 'document'] as const;

function setStorage(db: Kysely<any>, storage: 'MAIN' | 'EXTENDED'): Promise<unknown> {
  const changes = COLUMNS.map((column) => `ALTER COLUMN ${column} SET STORAGE ${storage}`);
  return sql`ALTER TABLE call_search ${sql.raw(changes.join(', '))}`.execute(db);
}

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await setStorage(db, 'MAIN');
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await setStorage(db, 'EXTENDED');
}
