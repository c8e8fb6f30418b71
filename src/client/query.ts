// Query strings as the server reads them (src/modules/calls/call-query.ts): several values of a
// filter as repeated parameters (the server also splits commas, except for topics, which may
// hold them), booleans as true/false, dates as ISO-8601, `collectedData.KEY=VALUE` per key.

type QueryValue = string | number | boolean | Date | readonly (string | number)[] | undefined;

const COLLECTED_DATA = 'collectedData';

export function encodeQuery(query: object | undefined): string {
  if (query === undefined) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query) as Array<[string, unknown]>) {
    if (name === COLLECTED_DATA && value !== undefined) {
      for (const [key, match] of Object.entries(value as Record<string, unknown>)) {
        if (match !== undefined) params.append(`${COLLECTED_DATA}.${key}`, scalar(match));
      }
      continue;
    }
    appendValue(params, name, value as QueryValue);
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function appendValue(params: URLSearchParams, name: string, value: QueryValue): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value as readonly unknown[]) params.append(name, scalar(item));
    return;
  }
  params.append(name, scalar(value));
}

function scalar(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TypeError(`a query value must be a string, number, boolean or Date`);
}
