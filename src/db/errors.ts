// Which database errors mean "not now" (retry later: 503) rather than "never".
// SQLite busy/locked past the busy timeout, disk full, read-only: the sender should retry.
const TRANSIENT_DB_CODES = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_READONLY',
  'SQLITE_CANTOPEN',
  // A reader thread (sqlite-reader.ts) that died; the next read gets a new one.
  'SQLITE_READER_EXITED',
  // The writer thread (sqlite-writer.ts) that died; the next write gets a new one.
  'SQLITE_WRITER_EXITED',
  // The live stream's LISTEN connection (change-channel.ts) could not open in time.
  'CHANGE_CHANNEL_UNAVAILABLE',
]);

// PostgreSQL SQLSTATE classes and codes that mean "not now" rather than "never": connection
// exceptions (08), insufficient resources (53), operator intervention (57: shutdown, statement
// timeout), serialization failure and deadlock (40001, 40P01), lock timeout (55P03); and node's
// socket errors while the server is away.
const TRANSIENT_PG_CODE = /^(08|53|57|40001|40P01|55P03)/;
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);
// pg's pool and client report these without a code; "Query read timeout" is a connection that
// went silent (src/db/query-deadlines.ts; query_timeout on the change channel's connection).
const TRANSIENT_PG_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|Query read timeout|Client was closed/i;

interface MaybeDbError {
  code?: unknown;
  message?: unknown;
}

export function isTransientDatabaseError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as MaybeDbError;
  if (typeof code === 'string') {
    if ([...TRANSIENT_DB_CODES].some((c) => code.startsWith(c))) return true;
    if (TRANSIENT_SOCKET_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_PG_CODE.test(code)) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isTransientDatabaseError);
  return typeof message === 'string' && TRANSIENT_PG_MESSAGES.test(message);
}
