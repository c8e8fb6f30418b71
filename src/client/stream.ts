// Reading a streamed body a piece at a time, so an export of a million calls takes the memory of
// one line (NDJSON) or one network chunk (CSV), never of the whole file.
import { CallmindNetworkError } from './errors.js';

const NEWLINE = '\n';

/** The body's text, chunk by chunk, as it arrives. */
export async function* textChunks(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await read(reader, signal);
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text !== '') yield text;
    }
    finished = true;
    const rest = decoder.decode();
    if (rest !== '') yield rest;
  } finally {
    // The consumer stopped early (break, an exception): stop the download too.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * The body's lines, without their newline; blank lines skipped. A body that ends in the middle
 * of a line was cut off (the server ends every line, the last one included): that is an error,
 * not a last record.
 */
export async function* lines(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of textChunks(body, signal)) {
    const text = pending + chunk;
    let start = 0;
    for (let end = text.indexOf(NEWLINE); end !== -1; end = text.indexOf(NEWLINE, start)) {
      const line = text.slice(start, end);
      start = end + 1;
      if (line.trim() !== '') yield line;
    }
    pending = text.slice(start);
  }
  if (pending.trim() !== '') {
    throw new CallmindNetworkError('the export ended in the middle of a line: it was cut off');
  }
}

/** Parsed NDJSON records, one per line. */
export async function* ndjson<T>(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<T> {
  let number = 0;
  for await (const line of lines(body, signal)) {
    number += 1;
    let record: T;
    try {
      record = JSON.parse(line) as T;
    } catch (error) {
      throw new CallmindNetworkError(`line ${number} of the export is not JSON`, { cause: error });
    }
    yield record;
  }
}

async function read(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  signal: AbortSignal | undefined,
): ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> {
  try {
    return await reader.read();
  } catch (error) {
    // The caller's abort is theirs to see as it is; anything else cut the download off.
    if (signal?.aborted === true) throw signal.reason;
    throw new CallmindNetworkError('the download was cut off', { cause: error });
  }
}
