// The dashboard's one way to the API: the credential on every request, problems (RFC 9457)
// turned into errors that say what went wrong, and the live stream read with fetch (so it can
// carry the Authorization header, which EventSource cannot).
import type { Call, CallEvent, ListedCall } from '../../src/modules/calls/calls.schemas';

export type { Call, CallEvent, ListedCall };

export interface CallPage {
  data: ListedCall[];
  nextCursor: string | null;
  total?: number;
}

/** Three of the server's 15 s heartbeats. */
const STREAM_SILENCE_MS = 45_000;

export interface Problem {
  status: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: Array<{ field: string; message: string }>;
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `request failed with ${problem.status}`);
  }
  get status(): number {
    return this.problem.status;
  }
}

/** Where the dashboard gets its credential: none in dev mode, else a bearer token. */
export type TokenSource = () => Promise<string | null>;

export interface Api {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  send<T>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** The response itself (downloads). */
  raw(path: string): Promise<Response>;
  /** Reads server-sent events until `signal` aborts; throws when the stream ends or fails. */
  stream(
    path: string,
    onEvent: (event: string, data: string) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

async function problemOf(response: Response): Promise<Problem> {
  try {
    const body = (await response.json()) as Problem;
    return { ...body, status: response.status };
  } catch {
    return { status: response.status, title: response.statusText };
  }
}

export function createApi(token: TokenSource, onUnauthorized: () => void): Api {
  async function request(path: string, init: RequestInit = {}): Promise<Response> {
    const bearer = await token();
    const headers = new Headers(init.headers);
    if (bearer !== null) headers.set('authorization', `Bearer ${bearer}`);
    let response: Response;
    try {
      response = await fetch(path, { ...init, headers });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ApiError({
        status: 0,
        title: 'The server could not be reached',
        detail: 'Check your connection; the page tries again when you reload or change a filter.',
      });
    }
    if (!response.ok) {
      const problem = await problemOf(response);
      if (response.status === 401) onUnauthorized();
      throw new ApiError(problem);
    }
    return response;
  }

  return {
    async get<T>(path: string, signal?: AbortSignal) {
      return (await (await request(path, signal ? { signal } : {})).json()) as T;
    },
    async send<T>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown) {
      const response = await request(path, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      return (response.status === 204 ? undefined : await response.json()) as T;
    },
    raw: (path) => request(path),
    async stream(path, onEvent, signal) {
      const response = await request(path, { signal, headers: { accept: 'text/event-stream' } });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      try {
        for (;;) {
          // The server sends a comment every 15 s: three missed means the connection is dead
          // even if nothing said so (a sleeping laptop, a proxy that dropped it).
          let silence: ReturnType<typeof setTimeout> | undefined;
          const silent = new Promise<never>((_, reject) => {
            silence = setTimeout(
              () => reject(new Error('the live stream went silent')),
              STREAM_SILENCE_MS,
            );
          });
          const { value, done } = await Promise.race([reader.read(), silent]).finally(() =>
            clearTimeout(silence),
          );
          if (done) throw new Error('the live stream ended');
          buffer += value.replace(/\r\n?/g, '\n');
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length > 0) onEvent(event, data.join('\n'));
          }
        }
      } finally {
        // However the reading ended (silence, a handler's error), the connection goes too.
        void reader.cancel().catch(() => {});
      }
    },
  };
}

/** A query string from a record, leaving out empty values. */
export function queryString(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(name, value);
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** What went wrong, in words for the page: the problem's detail and its fields. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.problem.errors?.map((e) => `${e.field} ${e.message}`).join('; ');
    return fields ? `${error.message} (${fields})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
