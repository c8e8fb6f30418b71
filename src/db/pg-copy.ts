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

/**
 * `value` as a PostgreSQL string literal, for statements that take no parameters (COPY). The
 * escape-string form (E'…') reads a backslash as an escape whatever standard_conforming_strings
 * is set to, so doubling backslashes and quotes keeps any text inside it. A NUL cannot be sent
 * in a statement at all: refused here rather than by the server.
 */
export function postgresLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('a PostgreSQL literal cannot hold a NUL character');
  return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** The file header's fixed start (PostgreSQL's documentation, COPY, "Binary Format"). */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The server's messages as pg's client hands them to the query running on its connection. */
class BinaryCopyOut implements pg.Submittable {
  private readonly reader = new BinaryCopyReader();
  private error: Error | undefined;
  private settled = false;

  constructor(
    private readonly text: string,
    private readonly settle: (error: Error | undefined, rows: CopiedRow[]) => void,
  ) {}

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyData(message: { chunk: Buffer }): void {
    if (this.error !== undefined) return;
    try {
      this.reader.push(message.chunk);
    } catch (error) {
      // Malformed: answered once the server is done (ReadyForQuery), the connection still usable.
      this.error = error as Error;
    }
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
      this.settle(undefined, this.reader.end());
    } catch (error) {
      this.settle(error as Error, []);
    }
  }
}

/**
 * The values are copied into blocks of this size as they arrive, a page's few megabytes in a few
 * allocations: a page read into one buffer that doubled as it grew allocated three times its
 * size. (Garbage collection is still about two fifths of the export's main-thread time, profiled:
 * the socket's reads and the page joined for the response allocate as much again.)
 */
const BLOCK_BYTES = 256 * 1024;

/** The header's bytes before its extension: the signature, the flags and the extension's length. */
const HEADER_BYTES = SIGNATURE.length + 8;

/**
 * Reads COPY's binary format as it arrives: the signature, flags and a header extension, then
 * each row as its column count and each column as a length (-1 for NULL) and that many bytes,
 * then -1. The server sends a row per message, but a row split across pushes is read too.
 */
export class BinaryCopyReader {
  private readonly rows: CopiedRow[] = [];
  /**
   * The bytes of an unfinished header or row, copied, waiting for the rest: `pendingLength` of
   * them at the start of `pending`, which doubles as it fills (a row split into many small
   * pushes is then read in linear time).
   */
  private pending = Buffer.alloc(0);
  private pendingLength = 0;
  private headerRead = false;
  private ended = false;
  private block = Buffer.alloc(0);
  private blockUsed = 0;

  /** Reads `chunk`, which its owner may overwrite afterwards: what is kept of it is copied. */
  push(chunk: Buffer): void {
    if (this.pendingLength === 0) {
      const done = this.read(chunk);
      if (done < chunk.length) this.appendPending(chunk.subarray(done));
      return;
    }
    this.appendPending(chunk);
    const done = this.read(this.pending.subarray(0, this.pendingLength));
    this.pending.copyWithin(0, done, this.pendingLength);
    this.pendingLength -= done;
  }

  /** Reads what it can of `data`; answers how many bytes it has done with. */
  private read(data: Buffer): number {
    if (this.ended) {
      if (data.length > 0) throw malformed('bytes after the end');
      return 0;
    }
    let at = 0;
    if (!this.headerRead) {
      const header = this.header(data);
      if (header === undefined) return 0;
      at = header;
      this.headerRead = true;
    }
    while (at + 2 <= data.length) {
      const columns = data.readInt16BE(at);
      if (columns === -1) {
        this.ended = true;
        if (at + 2 !== data.length) throw malformed('bytes after the end');
        return data.length;
      }
      const end = rowEnd(data, at, columns);
      if (end === undefined) break;
      this.rows.push(this.copyRow(data, at, columns));
      at = end;
    }
    return at;
  }

  private appendPending(bytes: Buffer): void {
    const needed = this.pendingLength + bytes.length;
    if (needed > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.pending.length * 2));
      this.pending.copy(grown, 0, 0, this.pendingLength);
      this.pending = grown;
    }
    bytes.copy(this.pending, this.pendingLength);
    this.pendingLength = needed;
  }

  /** The rows read; throws unless the data ended where a binary COPY ends. */
  end(): CopiedRow[] {
    if (!this.headerRead) throw malformed('no binary COPY header');
    if (!this.ended) throw malformed('ends before its end marker');
    return this.rows;
  }

  /** Where the rows start, or undefined while the header has not all arrived. */
  private header(data: Buffer): number | undefined {
    const signature = data.subarray(0, SIGNATURE.length);
    if (!SIGNATURE.subarray(0, signature.length).equals(signature)) {
      throw malformed('no binary COPY header');
    }
    if (data.length < HEADER_BYTES) return undefined;
    const flags = data.readUInt32BE(SIGNATURE.length);
    // Bit 16 says each row carries an OID first, which only WITH OIDS tables (gone since
    // PostgreSQL 12) wrote; the other high bits are ones a reader must refuse.
    if ((flags & 0xffff0000) !== 0) throw malformed(`unsupported header flags ${flags}`);
    const start = HEADER_BYTES + data.readUInt32BE(SIGNATURE.length + 4);
    return data.length < start ? undefined : start;
  }

  private copyRow(data: Buffer, start: number, columns: number): CopiedRow {
    const row = new Array<Buffer | null>(columns);
    let at = start + 2;
    for (let column = 0; column < columns; column++) {
      const size = data.readInt32BE(at);
      at += 4;
      if (size === -1) {
        row[column] = null;
        continue;
      }
      row[column] = this.keep(data.subarray(at, at + size));
      at += size;
    }
    return row;
  }

  /** A copy of `value` in the current block (a new one if it is full); a large value alone. */
  private keep(value: Buffer): Buffer {
    if (value.length > BLOCK_BYTES / 4) return Buffer.from(value);
    if (this.blockUsed + value.length > this.block.length) {
      this.block = Buffer.allocUnsafe(BLOCK_BYTES);
      this.blockUsed = 0;
    }
    const kept = this.block.subarray(this.blockUsed, this.blockUsed + value.length);
    value.copy(kept);
    this.blockUsed += value.length;
    return kept;
  }
}

/** Where the row at `start` ends, or undefined if its bytes have not all arrived. */
function rowEnd(data: Buffer, start: number, columns: number): number | undefined {
  if (columns < 0) throw malformed(`a row of ${columns} columns`);
  let at = start + 2;
  for (let column = 0; column < columns; column++) {
    if (at + 4 > data.length) return undefined;
    const size = data.readInt32BE(at);
    at += 4;
    if (size === -1) continue;
    if (size < 0) throw malformed(`a value of ${size} bytes`);
    if (at + size > data.length) return undefined;
    at += size;
  }
  return at;
}

function malformed(why: string): Error {
  return new Error(`Malformed COPY data: ${why}`);
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
