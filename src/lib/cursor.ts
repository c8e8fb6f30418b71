// Opaque keyset cursors: base64url JSON of the sort key of the last row on a page. A cursor
// that does not decode to the expected shape is the caller's mistake (400), never a 500.
import { ValidationError } from '../errors.js';

export interface CallCursor {
  readonly startedAt: string;
  readonly id: string;
}

const CURSOR_VERSION = 1;
const CURSOR_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

export function encodeCallCursor(cursor: CallCursor): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, cursor.startedAt, cursor.id])).toString(
    'base64url',
  );
}

export function decodeCallCursor(raw: string): CallCursor {
  const invalid = () =>
    new ValidationError([{ field: 'cursor', message: 'is not a cursor this server issued' }]);
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(raw)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    parsed[0] !== CURSOR_VERSION ||
    typeof parsed[1] !== 'string' ||
    typeof parsed[2] !== 'string' ||
    !CURSOR_ID.test(parsed[2]) ||
    Number.isNaN(Date.parse(parsed[1]))
  ) {
    throw invalid();
  }
  return { startedAt: parsed[1], id: parsed[2] };
}
