// Opaque keyset cursors: base64url JSON of the sort and the sort key and id of the last row on a
// page; a relevance cursor also carries where its ranked window ends and whether the page ended
// past it (calls.repository.ts, listByRelevance). A cursor that does not decode to the expected
// shape, or that was issued for another sort, is the caller's mistake (400), never a 500.
import { ValidationError } from '../errors.js';

export type CursorSort = 'newest' | 'oldest' | 'longest' | 'relevance';

/** A position in recorded order: startedAt and id on PostgreSQL, the row number on SQLite. */
export interface RecencyPosition {
  readonly key: string | number;
  readonly id: string;
}

export interface CallCursor {
  readonly sort: CursorSort;
  /**
   * startedAt (ISO-8601) for newest and oldest; a number for longest and relevance; for
   * relevance past its window, the last row's recency key.
   */
  readonly key: string | number;
  readonly id: string;
  /** relevance: the oldest call of the ranked window; null or absent, every match is ranked. */
  readonly window?: RecencyPosition | null;
  /** relevance: the page ended past the window, among the older matches. */
  readonly tail?: boolean;
  /** relevance: when the page began to be read (a call changed since may have a new score). */
  readonly issuedAt?: string;
}

/** Version 1 cursors (before sorts existed) were always newest-first. */
const CURSOR_V1 = 1;
const CURSOR_VERSION = 2;
/** Relevance cursors with a window (version 2 relevance cursors ranked every match). */
const RELEVANCE_CURSOR_VERSION = 3;
const CURSOR_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
const NUMERIC_SORTS: ReadonlySet<string> = new Set(['longest', 'relevance']);
const SORTS: ReadonlySet<string> = new Set(['newest', 'oldest', 'longest', 'relevance']);

export function encodeCallCursor(cursor: CallCursor): string {
  const fields =
    cursor.sort === 'relevance'
      ? [
          RELEVANCE_CURSOR_VERSION,
          cursor.sort,
          cursor.key,
          cursor.id,
          cursor.window?.key ?? null,
          cursor.window?.id ?? null,
          cursor.tail === true ? 1 : 0,
          ...(cursor.issuedAt === undefined ? [] : [cursor.issuedAt]),
        ]
      : [CURSOR_VERSION, cursor.sort, cursor.key, cursor.id];
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

const isDate = (value: unknown) => typeof value === 'string' && !Number.isNaN(Date.parse(value));
const isFiniteNumber = (value: unknown) => typeof value === 'number' && Number.isFinite(value);

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
  if (fields[0] === RELEVANCE_CURSOR_VERSION) return parseRelevance(fields);
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
  const keyValid = NUMERIC_SORTS.has(sort) ? isFiniteNumber(key) : isDate(key);
  if (!keyValid) throw invalid();
  return { sort: sort as CursorSort, key: key as string | number, id };
}

function parseRelevance(fields: unknown[]): CallCursor {
  const [, sort, key, id, windowKey, windowId, tail, issuedAt] = fields;
  const isRecency = (value: unknown) => isDate(value) || isFiniteNumber(value);
  const windowed = windowKey !== null || windowId !== null;
  if (
    (fields.length !== 7 && fields.length !== 8) ||
    (fields.length === 8 && !isDate(issuedAt)) ||
    sort !== 'relevance' ||
    typeof id !== 'string' ||
    !CURSOR_ID.test(id) ||
    (tail !== 0 && tail !== 1) ||
    (windowed &&
      (!isRecency(windowKey) || typeof windowId !== 'string' || !CURSOR_ID.test(windowId))) ||
    (tail === 1 ? !windowed || !isRecency(key) : !isFiniteNumber(key))
  ) {
    throw invalid();
  }
  return {
    sort,
    key: key as string | number,
    id,
    window: windowed ? { key: windowKey as string | number, id: windowId as string } : null,
    tail: tail === 1,
    ...(issuedAt === undefined ? {} : { issuedAt: issuedAt as string }),
  };
}

/** Decodes a cursor and checks it continues a list in the same order. */
export function decodeCallCursor(raw: string, sort: CursorSort): CallCursor {
  const cursor = parse(raw);
  if (cursor.sort !== sort) {
    throw invalid(`was issued for sort=${cursor.sort}; ask again with that sort or no cursor`);
  }
  return cursor;
}
