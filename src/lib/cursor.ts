// Opaque keyset cursors: base64url JSON of the sort and the sort key and id of the last row on a
// page. A cursor that does not decode to the expected shape, or that was issued for another
// sort, is the caller's mistake (400), never a 500.
import { ValidationError } from '../errors.js';

export type CursorSort = 'newest' | 'oldest' | 'longest' | 'relevance';

export interface CallCursor {
  readonly sort: CursorSort;
  /** startedAt (ISO-8601) for newest and oldest; a number for longest and relevance. */
  readonly key: string | number;
  readonly id: string;
}

/** Version 1 cursors (before sorts existed) were always newest-first. */
const CURSOR_V1 = 1;
const CURSOR_VERSION = 2;
const CURSOR_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
const NUMERIC_SORTS: ReadonlySet<string> = new Set(['longest', 'relevance']);
const SORTS: ReadonlySet<string> = new Set(['newest', 'oldest', 'longest', 'relevance']);

export function encodeCallCursor(cursor: CallCursor): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, cursor.sort, cursor.key, cursor.id])).toString(
    'base64url',
  );
}

function invalid(message = 'is not a cursor this server issued'): ValidationError {
  return new ValidationError([{ field: 'cursor', message }]);
}

function parse(raw: string): CallCursor {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(raw)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed)) throw invalid();
  const fields: unknown[] = parsed;
  if (fields.length === 3 && fields[0] === CURSOR_V1) fields.splice(1, 0, 'newest');
  const [version, sort, key, id] = fields;
  if (
    fields.length !== 4 ||
    (version !== CURSOR_VERSION && version !== CURSOR_V1) ||
    typeof sort !== 'string' ||
    !SORTS.has(sort) ||
    typeof id !== 'string' ||
    !CURSOR_ID.test(id)
  ) {
    throw invalid();
  }
  const keyValid = NUMERIC_SORTS.has(sort)
    ? typeof key === 'number' && Number.isFinite(key)
    : typeof key === 'string' && !Number.isNaN(Date.parse(key));
  if (!keyValid) throw invalid();
  return { sort: sort as CursorSort, key: key as string | number, id };
}

/** Decodes a cursor and checks it continues a list in the same order. */
export function decodeCallCursor(raw: string, sort: CursorSort): CallCursor {
  const cursor = parse(raw);
  if (cursor.sort !== sort) {
    throw invalid(`was issued for sort=${cursor.sort}; ask again with that sort or no cursor`);
  }
  return cursor;
}
