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

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    ALTER TABLE call_search
      ALTER COLUMN call_id SET STORAGE MAIN,
      ALTER COLUMN tenant_id SET STORAGE MAIN,
      ALTER COLUMN started_at SET STORAGE MAIN,
      ALTER COLUMN document SET STORAGE MAIN`.execute(db);
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`
    ALTER TABLE call_search
      ALTER COLUMN call_id SET STORAGE EXTENDED,
      ALTER COLUMN tenant_id SET STORAGE EXTENDED,
      ALTER COLUMN started_at SET STORAGE EXTENDED,
      ALTER COLUMN document SET STORAGE EXTENDED`.execute(db);
}
