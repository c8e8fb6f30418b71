// JSON text as the database hands it over: a string (PostgreSQL; SQLite on the main thread), or
// its UTF-8 bytes (a SQLite reader thread, see src/db/sqlite-reader.ts, which sends a page's JSON
// as one transferred buffer instead of strings the main thread would copy, join and encode).

export type JsonText = string | Uint8Array;

/**
 * prefix, the parts joined by separator, then suffix: one Buffer when any part is bytes (copied
 * once, never decoded), else one string.
 */
export function joinJsonText(
  prefix: string,
  parts: readonly JsonText[],
  separator: string,
  suffix: string,
): string | Buffer {
  if (parts.every((part): part is string => typeof part === 'string')) {
    return `${prefix}${parts.join(separator)}${suffix}`;
  }
  const separatorBytes = Buffer.from(separator);
  const chunks: Uint8Array[] = [Buffer.from(prefix)];
  parts.forEach((part, index) => {
    if (index > 0) chunks.push(separatorBytes);
    chunks.push(typeof part === 'string' ? Buffer.from(part) : part);
  });
  chunks.push(Buffer.from(suffix));
  return Buffer.concat(chunks);
}

const decoder = new TextDecoder();

export function jsonTextToString(text: JsonText): string {
  return typeof text === 'string' ? text : decoder.decode(text);
}
