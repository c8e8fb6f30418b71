// What a list, stats or export request asks for, parsed from its query string into a CallFilter
// the repository turns into SQL; and the search terms, turned into each engine's query language
// and into the snippets shown with each match. Pure functions, the same on both dialects.
import { ValidationError, type FieldError } from '../../errors.js';
import { dollarsToMicros } from '../../lib/money.js';
import { CALL_STATUSES, DIRECTIONS, END_REASONS, SENTIMENTS } from './call-values.js';
import type { Call, CallFilterQuery } from './calls.schemas.js';

export const SORTS = ['newest', 'oldest', 'longest', 'relevance'] as const;
export type CallSort = (typeof SORTS)[number];

/** One search term: a word, or words that must follow each other (a phrase). */
export interface SearchTerm {
  readonly words: readonly string[];
  /** The last word matches as a prefix (`refun*`). */
  readonly prefix: boolean;
}

export interface CollectedDataMatch {
  readonly key: string;
  readonly value: string;
}

/** Every condition is ANDed; the values of one plural filter are ORed. */
export interface CallFilter {
  readonly agentIds?: readonly string[];
  readonly statuses?: readonly string[];
  readonly directions?: readonly string[];
  readonly sentiments?: readonly string[];
  readonly endReasons?: readonly string[];
  readonly topics?: readonly string[];
  /** startedAt ≥ from (inclusive), ISO-8601 UTC. */
  readonly from?: string;
  /** startedAt < to (exclusive), ISO-8601 UTC. */
  readonly to?: string;
  readonly minDuration?: number;
  readonly maxDuration?: number;
  readonly minCostMicros?: number;
  readonly maxCostMicros?: number;
  readonly callerNumber?: string;
  readonly hasRecording?: boolean;
  readonly hasTranscript?: boolean;
  readonly collectedData?: readonly CollectedDataMatch[];
  readonly search?: readonly SearchTerm[];
}

const MAX_VALUES = 50;
const MAX_TERMS = 16;
const COLLECTED_DATA_PREFIX = 'collectedData.';
const COLLECTED_DATA_KEY = /^[A-Za-z0-9_-]{1,128}$/;
/** A word as both engines index it: letters and digits (see the search migration). */
const WORD = /[\p{L}\p{N}]+/gu;

/** `a,b` and `?x=a&x=b` both mean "a or b"; empty items are ignored. */
function listOf(value: string | readonly string[] | undefined, splitCommas: boolean): string[] {
  if (value === undefined) return [];
  const items = typeof value === 'string' ? [value] : [...value];
  const split = splitCommas ? items.flatMap((item) => item.split(',')) : items;
  return split.map((item) => item.trim()).filter((item) => item !== '');
}

function enumList(
  field: string,
  raw: string | readonly string[] | undefined,
  allowed: readonly string[],
  problems: FieldError[],
): string[] | undefined {
  const values = listOf(raw, true);
  if (values.length === 0) return undefined;
  const unknown = values.filter((value) => !allowed.includes(value));
  if (unknown.length > 0) {
    problems.push({
      field,
      message: `must be one or more of ${allowed.join(', ')} (got ${unknown.join(', ')})`,
    });
    return undefined;
  }
  return [...new Set(values)];
}

function boundedList(
  field: string,
  values: string[],
  problems: FieldError[],
  check?: { pattern: RegExp; message: string },
): string[] | undefined {
  if (values.length === 0) return undefined;
  if (values.length > MAX_VALUES) {
    problems.push({ field, message: `at most ${MAX_VALUES} values` });
    return undefined;
  }
  if (check !== undefined && values.some((value) => !check.pattern.test(value))) {
    problems.push({ field, message: check.message });
    return undefined;
  }
  return [...new Set(values)];
}

function timestamp(field: string, value: string | undefined, problems: FieldError[]) {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    problems.push({ field, message: 'must be an ISO-8601 date-time, e.g. 2025-01-17T00:00:00Z' });
    return undefined;
  }
  return new Date(time).toISOString();
}

/**
 * Parses the filter half of a query string (shared by list, stats and export). Throws a
 * ValidationError naming every bad field.
 */
export function parseCallFilter(query: CallFilterQuery & Record<string, unknown>): CallFilter {
  const problems: FieldError[] = [];
  const filter: {
    -readonly [K in keyof CallFilter]: CallFilter[K];
  } = {};

  filter.agentIds = boundedList('agentId', listOf(query.agentId, true), problems, {
    pattern: /^[A-Za-z0-9_.:@-]{1,128}$/,
    message: 'must be agent ids (letters, digits and _ . : @ -)',
  });
  filter.statuses = enumList('status', query.status, CALL_STATUSES, problems);
  filter.directions = enumList('direction', query.direction, DIRECTIONS, problems);
  filter.sentiments = enumList('sentiment', query.sentiment, SENTIMENTS, problems);
  filter.endReasons = enumList('endReason', query.endReason, END_REASONS, problems);
  // Topics are free text and may hold commas: only repetition gives several.
  filter.topics = boundedList('topic', listOf(query.topic, false), problems);

  filter.from = timestamp('from', query.from, problems);
  filter.to = timestamp('to', query.to, problems);
  if (filter.from !== undefined && filter.to !== undefined && filter.to <= filter.from) {
    problems.push({ field: 'to', message: 'must be after from' });
  }
  filter.minDuration = query.minDuration;
  filter.maxDuration = query.maxDuration;
  if (
    query.minDuration !== undefined &&
    query.maxDuration !== undefined &&
    query.maxDuration < query.minDuration
  ) {
    problems.push({ field: 'maxDuration', message: 'must not be less than minDuration' });
  }
  filter.minCostMicros = query.minCost === undefined ? undefined : dollarsToMicros(query.minCost);
  filter.maxCostMicros = query.maxCost === undefined ? undefined : dollarsToMicros(query.maxCost);
  if (query.minCost !== undefined && query.maxCost !== undefined && query.maxCost < query.minCost) {
    problems.push({ field: 'maxCost', message: 'must not be less than minCost' });
  }
  filter.callerNumber = query.callerNumber;
  filter.hasRecording = query.hasRecording;
  filter.hasTranscript = query.hasTranscript;

  const collected: CollectedDataMatch[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (!name.startsWith(COLLECTED_DATA_PREFIX)) continue;
    const key = name.slice(COLLECTED_DATA_PREFIX.length);
    if (!COLLECTED_DATA_KEY.test(key)) {
      problems.push({
        field: name,
        message: 'the key after collectedData. must be 1–128 letters, digits, _ or -',
      });
      continue;
    }
    if (typeof value !== 'string') {
      problems.push({ field: name, message: 'must be given once' });
      continue;
    }
    collected.push({ key, value });
  }
  if (collected.length > 0) filter.collectedData = collected;

  if (query.q !== undefined) {
    const terms = parseSearch(query.q);
    if (terms.length === 0) {
      problems.push({ field: 'q', message: 'must contain at least one letter or digit' });
    } else if (terms.length > MAX_TERMS) {
      problems.push({ field: 'q', message: `at most ${MAX_TERMS} words or phrases` });
    } else {
      filter.search = terms;
    }
  }

  if (problems.length > 0) throw new ValidationError(problems);
  return Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined));
}

/**
 * The search box's language: words must all match (AND), in any field; `"two words"` must match
 * as a phrase; a trailing `*` matches a prefix (`refun*`). Punctuation separates words, as in the
 * index, so `john@example.com` is the phrase "john example com".
 */
export function parseSearch(q: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  const chunks = q.match(/"[^"]*"?|[^\s"]+/g) ?? [];
  for (const chunk of chunks) {
    const quoted = chunk.startsWith('"');
    const body = quoted ? chunk.replace(/^"|"$/g, '') : chunk;
    const words = (body.match(WORD) ?? []).map((word) => word.toLowerCase());
    if (words.length === 0) continue;
    const prefix = !quoted && /[\p{L}\p{N}]\*$/u.test(body);
    terms.push({ words, prefix });
  }
  return terms;
}

/**
 * FTS5 MATCH expression; every word is quoted, so nothing a user types is FTS5 syntax. With a
 * tenant token, only that tenant's calls match.
 */
export function toFts5Query(terms: readonly SearchTerm[], tenantToken?: string): string {
  const expression = terms
    .map((term) => `"${term.words.join(' ')}"${term.prefix ? ' *' : ''}`)
    .join(' AND ');
  const content = `{caller_name topics summary collected transcript} : (${expression})`;
  return tenantToken === undefined ? content : `tenant : "${tenantToken}" AND ${content}`;
}

/** PostgreSQL tsquery text for to_tsquery('simple', …); words hold only letters and digits. */
export function toTsQuery(terms: readonly SearchTerm[]): string {
  return terms
    .map((term) => {
      const words = term.words.map((word, index) =>
        term.prefix && index === term.words.length - 1 ? `'${word}':*` : `'${word}'`,
      );
      return words.length === 1 ? words[0]! : `(${words.join(' <-> ')})`;
    })
    .join(' & ');
}

export interface SearchMatch {
  readonly field: 'callerName' | 'topics' | 'summary' | 'collectedData' | 'transcript';
  /** A short passage around the first match in the field. */
  readonly text: string;
  /** Where the matched words are in `text`: [start, end) in UTF-16 code units. */
  readonly highlights: Array<{ start: number; end: number }>;
}

const SNIPPET_BEFORE = 60;
const SNIPPET_LENGTH = 200;
/** The index covers this much of a transcript (see the search migration); so do snippets. */
const INDEXED_TRANSCRIPT_CHARS = 100_000;

function scalarValues(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number') out.push(String(value));
  else if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) scalarValues(child, out);
  }
}

/** The passages of a call that matched: one per field that holds a searched word. */
export function searchMatches(call: Call, terms: readonly SearchTerm[]): SearchMatch[] {
  const wanted = terms.flatMap((term) =>
    term.words.map((word, index) => ({
      word,
      prefix: term.prefix && index === term.words.length - 1,
    })),
  );
  const isWanted = (token: string) =>
    wanted.some(({ word, prefix }) => (prefix ? token.startsWith(word) : token === word));
  const collected: string[] = [];
  scalarValues(call.collectedData, collected);
  const fields: Array<[SearchMatch['field'], string | null]> = [
    ['callerName', call.callerName],
    ['topics', call.topics.join(', ')],
    ['summary', call.summary],
    ['collectedData', collected.join(', ')],
    ['transcript', call.transcript?.slice(0, INDEXED_TRANSCRIPT_CHARS) ?? null],
  ];
  const matches: SearchMatch[] = [];
  for (const [field, text] of fields) {
    if (text === null || text === '') continue;
    const hits: Array<{ start: number; end: number }> = [];
    for (const token of text.matchAll(WORD)) {
      if (isWanted(token[0].toLowerCase())) {
        hits.push({ start: token.index, end: token.index + token[0].length });
      }
    }
    const first = hits[0];
    if (first === undefined) continue;
    let start = Math.max(0, first.start - SNIPPET_BEFORE);
    // Start at a word boundary rather than mid-word.
    if (start > 0) {
      const space = text.indexOf(' ', start);
      if (space !== -1 && space < first.start) start = space + 1;
    }
    const end = Math.min(text.length, start + SNIPPET_LENGTH);
    const prefix = start > 0 ? '…' : '';
    const suffix = end < text.length ? '…' : '';
    const shift = prefix.length - start;
    matches.push({
      field,
      text: prefix + text.slice(start, end) + suffix,
      highlights: hits
        .filter((hit) => hit.end <= end)
        .map((hit) => ({ start: hit.start + shift, end: hit.end + shift })),
    });
  }
  return matches;
}
