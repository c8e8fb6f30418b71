// A SELECT's rows as bytes, through PostgreSQL's COPY ... TO STDOUT (FORMAT binary): the export's
// pages, whose text the database writes (NDJSON lines, CSV rows) and the server only joins.
//
// Read as ordinary rows, each of a page's texts was decoded from UTF-8 into a string by pg, then
// joined and encoded again for the socket: for a page of 500 calls (2-3 MB) about 30 ms of the
// main thread, which made it the export's bottleneck on PostgreSQL. COPY's binary format hands
// each value over as its bytes, with its length in front; reading them is a copy and a walk over
// the lengths (3-4 times less main-thread time for the same page, measured in a standalone run).
//
// pg runs the COPY as any query object with a submit method (a "submittable"): it calls the
// handlers below as the server's messages arrive, one CopyData message per row.
import type pg from 'pg';

/** A row as COPY's binary format gives it: each column's bytes, or null for NULL. */
export type CopiedRow = ReadonlyArray<Buffer | null>;

/** Runs a SELECT (SQL text, no parameters: COPY takes none) and answers its rows as bytes. */
export type CopyRows = (selectSql: string) => Promise<CopiedRow[]>;

/** The file header's fixed start (PostgreSQL's documentation, COPY, "Binary Format"). */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The server's messages as pg's client hands them to the query running on its connection. */
class BinaryCopyOut implements pg.Submittable {
  private bytes = Buffer.allocUnsafe(64 * 1024);
  private length = 0;
  private error: Error | undefined;
  private settled = false;

  constructor(
    private readonly text: string,
    private readonly settle: (error: Error | undefined, rows: CopiedRow[]) => void,
  ) {}

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  // The chunk is a view of pg's read buffer, which it may reuse for later bytes: copied now.
  handleCopyData(message: { chunk: Buffer }): void {
    const needed = this.length + message.chunk.length;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    message.chunk.copy(this.bytes, this.length);
    this.length = needed;
  }

  handleError(error: Error): void {
    // A server error is followed by ReadyForQuery, a lost connection by nothing: answer now.
    this.error ??= error;
    this.finish();
  }

  handleReadyForQuery(): void {
    this.finish();
  }

  // Messages a COPY ... TO STDOUT does not send; pg would call them if the text were another
  // statement, which the caller's SQL never is.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(connection: pg.Connection): void {
    (connection as unknown as { sendCopyFail(message: string): void }).sendCopyFail(
      'not a COPY FROM',
    );
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.error !== undefined) {
      this.settle(this.error, []);
      return;
    }
    try {
      this.settle(undefined, parseBinaryCopy(this.bytes.subarray(0, this.length)));
    } catch (error) {
      this.settle(error as Error, []);
    }
  }
}

/**
 * COPY's binary format: the signature, flags and a header extension, then each row as its
 * column count and each column as a length (-1 for NULL) and that many bytes, then -1. The
 * values returned are views of `data`.
 */
export function parseBinaryCopy(data: Buffer): CopiedRow[] {
  const malformed = (why: string) => new Error(`Malformed COPY data: ${why}`);
  if (data.length < SIGNATURE.length + 8 || !data.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
    throw malformed('no binary COPY header');
  }
  let at = SIGNATURE.length;
  const flags = data.readUInt32BE(at);
  // Bit 16 says each row carries an OID first, which only WITH OIDS tables (gone since
  // PostgreSQL 12) wrote; the other high bits are ones a reader must refuse.
  if ((flags & 0xffff0000) !== 0) throw malformed(`unsupported header flags ${flags}`);
  const extension = data.readUInt32BE(at + 4);
  at += 8 + extension;
  const rows: CopiedRow[] = [];
  for (;;) {
    if (at + 2 > data.length) throw malformed('ends inside a row');
    const columns = data.readInt16BE(at);
    at += 2;
    if (columns === -1) break;
    const row: Array<Buffer | null> = new Array<Buffer | null>(columns);
    for (let column = 0; column < columns; column++) {
      if (at + 4 > data.length) throw malformed('ends inside a row');
      const size = data.readInt32BE(at);
      at += 4;
      if (size === -1) {
        row[column] = null;
        continue;
      }
      if (size < 0 || at + size > data.length) throw malformed('ends inside a value');
      row[column] = data.subarray(at, at + size);
      at += size;
    }
    rows.push(row);
  }
  if (at !== data.length) throw malformed('bytes after the end');
  return rows;
}

/**
 * Runs `COPY (selectSql) TO STDOUT (FORMAT binary)` on `client` and answers its rows. The
 * client must not be running anything else; a failure rejects with pg's error (a
 * DatabaseError for the server's).
 */
export function copyRowsOut(client: pg.ClientBase, selectSql: string): Promise<CopiedRow[]> {
  return new Promise((resolve, reject) => {
    client.query(
      new BinaryCopyOut(`COPY (${selectSql}) TO STDOUT (FORMAT binary)`, (error, rows) => {
        if (error === undefined) resolve(rows);
        else reject(error);
      }),
    );
  });
}
