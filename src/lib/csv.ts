// CSV as RFC 4180 writes it (CRLF rows, quotes doubled, quoted when needed), safe to open in a
// spreadsheet: a text cell that starts like a formula is prefixed with an apostrophe (OWASP's
// advice against CSV injection), so `=HYPERLINK(…)` from a caller's name stays text.

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') return String(value);
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvRow(
  values: ReadonlyArray<string | number | boolean | null | undefined>,
): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}
