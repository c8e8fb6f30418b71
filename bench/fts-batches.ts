// What an FTS5 insert costs by the size of the transaction it commits in. FTS5 keeps new terms
// in memory and writes them out as a new segment at every commit, so the same document costs
// far more in a transaction of its own than in a batch. Documents of 500 words (about the
// bench's 3,000-character transcripts) from a skewed 20,000-word vocabulary, into a contentless
// table shaped like calls_search, after 20,000 warm-up documents; a plain table is the baseline.
// Then FTS5's `automerge` (how many segments a level holds before they are merged): the same
// documents in commits of 250, as the server's indexer writes them, into an index of 100,000,
// and a newest-first search's time afterwards.
//   npm run bench:fts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

const BATCHES = [1, 5, 10, 25, 50, 200];
const DOCUMENTS = 3000;
const WARM_UP = 20_000;
const MERGE_INDEX_SIZE = 100_000;
const MERGE_MEASURED = 20_000;

const vocabulary = Array.from({ length: 20_000 }, (_, i) => `w${i.toString(36)}`);
let seed = 1;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const documentOf = () =>
  Array.from({ length: 500 }, () => vocabulary[Math.floor(20_000 * random() ** 3)]).join(' ');
const documents = Array.from({ length: 2000 }, documentOf);

function microsPerDocument(batch: number, fts: boolean): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-fts-'));
  const db = new BetterSqlite3(path.join(dir, 'fts.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(
      fts
        ? `CREATE VIRTUAL TABLE docs USING fts5(tenant, transcript, content='',
             contentless_delete=1, tokenize='unicode61 remove_diacritics 0')`
        : 'CREATE TABLE docs (rowid INTEGER PRIMARY KEY, tenant TEXT, transcript TEXT)',
    );
    const insert = db.prepare('INSERT INTO docs (rowid, tenant, transcript) VALUES (?, ?, ?)');
    let id = 1;
    const write = db.transaction((count: number) => {
      for (let i = 0; i < count; i++) insert.run(id, 'tenant', documents[id++ % documents.length]);
    });
    write(WARM_UP);
    const started = process.hrtime.bigint();
    for (let done = 0; done < DOCUMENTS; done += batch) write(batch);
    return Number(process.hrtime.bigint() - started) / 1000 / DOCUMENTS;
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** µs a document in commits of 250 with `automerge` at `merge`, then a search's p50 / p99 ms. */
function withAutomerge(merge: number): { micros: number; search: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-fts-'));
  const db = new BetterSqlite3(path.join(dir, 'fts.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE VIRTUAL TABLE docs USING fts5(tenant, transcript, content='',
               contentless_delete=1, tokenize='unicode61 remove_diacritics 0')`);
    db.exec(`INSERT INTO docs (docs, rank) VALUES ('deletemerge', 50)`);
    db.exec(`INSERT INTO docs (docs, rank) VALUES ('automerge', ${merge})`);
    const insert = db.prepare('INSERT INTO docs (rowid, tenant, transcript) VALUES (?, ?, ?)');
    let id = 1;
    const write = db.transaction((count: number) => {
      for (let i = 0; i < count; i++) insert.run(id, 'tenant', documents[id++ % documents.length]);
    });
    while (id <= MERGE_INDEX_SIZE) write(250);
    const started = process.hrtime.bigint();
    for (let done = 0; done < MERGE_MEASURED; done += 250) write(250);
    const micros = Number(process.hrtime.bigint() - started) / 1000 / MERGE_MEASURED;
    const search = db.prepare(
      'SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rowid DESC LIMIT 50',
    );
    const times: number[] = [];
    // A common, a mid and a rare word of the vocabulary, in turn.
    for (let i = 0; i < 90; i++) {
      const before = process.hrtime.bigint();
      search.all(vocabulary[[0, 3000, 19_990][i % 3]!]);
      times.push(Number(process.hrtime.bigint() - before) / 1e6);
    }
    times.sort((a, b) => a - b);
    return { micros, search: `${times[44]!.toFixed(2)} / ${times[88]!.toFixed(2)}` };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

console.log('documents per commit | FTS5 µs/document | plain table µs/document | FTS5 − plain');
for (const batch of BATCHES) {
  const fts = microsPerDocument(batch, true);
  const plain = microsPerDocument(batch, false);
  console.log(
    `${String(batch).padStart(20)} | ${fts.toFixed(0).padStart(16)} | ${plain
      .toFixed(0)
      .padStart(23)} | ${(fts - plain).toFixed(0).padStart(12)}`,
  );
}

console.log(
  `\nautomerge | FTS5 µs/document (commits of 250, index of ${MERGE_INDEX_SIZE}) | search p50 / p99 ms`,
);
for (const merge of [8, 16]) {
  const { micros, search } = withAutomerge(merge);
  console.log(`${String(merge).padStart(9)} | ${micros.toFixed(0).padStart(54)} | ${search}`);
}
