// A typed client for the Callmind HTTP API (`import { createCallmindClient } from
// 'callmind/client'`): the integration guide's endpoints, the list followed page by page, stats,
// a streamed export, with retries that honour Retry-After. It needs only the global fetch
// (Node 20+, browsers, Deno, Bun); its types come from the server's schemas (types.ts).
import {
  CallmindApiError,
  CallmindError,
  CallmindNetworkError,
  CallmindTimeoutError,
  type FieldError,
} from './errors.js';
import { encodeQuery } from './query.js';
import {
  parseRetryAfter,
  RETRY_ALWAYS,
  RETRY_IF_IDEMPOTENT,
  retryDelay,
  retryPolicy,
  sleep as realSleep,
  type RetryOptions,
} from './retry.js';
import { ndjson, textChunks } from './stream.js';
import type {
  Agent,
  Call,
  CallCompletedWebhookBody,
  CallEventPage,
  CallExportQuery,
  CallPage,
  CallStartedWebhookBody,
  CallStats,
  CallStatsQuery,
  CreateAgentBody,
  CreateCallBody,
  EraseResult,
  IterateCallsQuery,
  ListCallEventsQuery,
  ListCallsQuery,
  ListedCall,
  RequestOptions,
  UpdateCallStatusBody,
} from './types.js';

export * from './errors.js';
export type * from './types.js';
export { DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryOptions } from './retry.js';

export interface CallmindClientOptions {
  /**
   * Where the server is: `https://callmind.example.com`. The guide's form with `/api` at the end
   * works too; a path before it (a proxy's prefix) is kept.
   */
  readonly baseUrl: string | URL;
  /**
   * The bearer credential: an API key, or a Clerk session token. A function is called before
   * every attempt, so short-lived tokens can be refreshed. None in dev mode.
   */
  readonly token?: string | (() => string | Promise<string>);
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch;
  /** A number of retries, or the whole policy (see retry.ts); 0 turns retrying off. */
  readonly retries?: number | RetryOptions;
  /**
   * How long one attempt may take, answer included; for an export, until the response starts
   * (the download itself may take as long as it takes). Default 30 s; 0: no limit.
   */
  readonly timeoutMs?: number;
  /** Default `callmind-client`. */
  readonly userAgent?: string;
  /** Sent with every request (e.g. X-Request-Id to trace a request through the logs). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Told of every retry before its wait (to log it, or count it). */
  readonly onRetry?: (event: RetryEvent) => void;
  /** The wait before a retry; tests record the delays instead of waiting. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The jitter's randomness, in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** The clock Retry-After dates are read against. Default Date.now. */
  readonly now?: () => number;
}

export interface RetryEvent {
  readonly method: string;
  readonly path: string;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: CallmindError;
}

export interface CallmindClient {
  readonly calls: {
    /**
     * POST /api/call-history. Creates the call, or merges into the one with the same callSid
     * (the API's dedupe key), so sending it twice is harmless.
     */
    create(body: CreateCallBody, options?: RequestOptions): Promise<Call>;
    get(id: string, options?: RequestOptions): Promise<Call>;
    /** A call by the phone system's id. */
    getBySid(callSid: string, options?: RequestOptions): Promise<Call>;
    /** PATCH /api/call-history/{id}/status: the outcome and data; repeatable. */
    updateStatus(id: string, body: UpdateCallStatusBody, options?: RequestOptions): Promise<Call>;
    delete(id: string, options?: RequestOptions): Promise<void>;
    /** One page; pass its `nextCursor` as `cursor` for the next. */
    list(query?: ListCallsQuery, options?: RequestOptions): Promise<CallPage>;
    /** Every page, fetched one at a time as the loop asks for it. */
    pages(query?: IterateCallsQuery, options?: RequestOptions): AsyncIterable<CallPage>;
    /** Every matching call, following the cursors lazily: `for await (const call of ...)`. */
    iterate(query?: IterateCallsQuery, options?: RequestOptions): AsyncIterable<ListedCall>;
    /** One page of a call's timeline, oldest first. */
    events(
      id: string,
      query?: ListCallEventsQuery,
      options?: RequestOptions,
    ): Promise<CallEventPage>;
    stats(query?: CallStatsQuery, options?: RequestOptions): Promise<CallStats>;
    /** NDJSON: the matching calls, parsed one line at a time as they stream in. */
    export(query: CallExportQuery<'ndjson'>, options?: RequestOptions): AsyncIterable<Call>;
    /** CSV: the file's text, chunk by chunk as it streams in. */
    export(query: CallExportQuery<'csv'>, options?: RequestOptions): AsyncIterable<string>;
    /** Deletes every call from this number, with its timeline. */
    erase(callerNumber: string, options?: RequestOptions): Promise<EraseResult>;
  };
  readonly webhooks: {
    /** The call started. Null: a redelivery for a call deleted since (the server's 204). */
    started(body: CallStartedWebhookBody, options?: RequestOptions): Promise<Call | null>;
    /** The call ended; may arrive before `started`. Null as for started. */
    completed(body: CallCompletedWebhookBody, options?: RequestOptions): Promise<Call | null>;
  };
  readonly agents: {
    create(body: CreateAgentBody, options?: RequestOptions): Promise<Agent>;
    list(options?: RequestOptions): Promise<Agent[]>;
    get(id: string, options?: RequestOptions): Promise<Agent>;
  };
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface RequestSpec {
  readonly method: Method;
  /** From /api on, path parameters encoded. */
  readonly path: string;
  readonly query?: object;
  readonly body?: unknown;
  readonly accept?: string;
  /**
   * Sending it twice leaves what sending it once does, so it may be sent again when no answer
   * came (it may have been carried out or not). True for every request but agents.create:
   * - GET: reads.
   * - PATCH status, DELETE: the same write again, or the same deletion.
   * - POST /api/call-history and the webhooks: the ingest rules make them idempotent by
   *   callSid. A repeat merges into the record the first made: the same scalars again, topics
   *   as a set, collectedData key by key; and a repeated start arriving after the call has moved
   *   on only fills gaps (status never moves back). At-least-once delivery is what they are for.
   * - POST erase: deleting a number's calls twice leaves none either way (`deleted` then counts
   *   only what the last attempt found).
   * Not agents.create: without an id a repeat makes a second agent; with one it answers 409.
   */
  readonly idempotent: boolean;
  /**
   * The answer that means "already done" when an earlier attempt may have been carried out:
   * a DELETE whose first attempt got no answer and whose retry finds nothing (404).
   */
  readonly doneIf?: (error: CallmindApiError) => boolean;
}

const JSON_TYPE = 'application/json';
const DEFAULT_TIMEOUT_MS = 30_000;
const EXPORT_TYPES = { ndjson: 'application/x-ndjson', csv: 'text/csv' } as const;

/** The path part after the origin, without a trailing slash or the guide's `/api`. */
function apiRoot(baseUrl: string | URL): string {
  const url = new URL(String(baseUrl));
  if (url.search !== '' || url.hash !== '') {
    throw new TypeError('baseUrl must not have a query string or a fragment');
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api$/, '');
  return `${url.origin}${path}`;
}

const segment = (value: string) => encodeURIComponent(value);

export function createCallmindClient(options: CallmindClientOptions): CallmindClient {
  const root = apiRoot(options.baseUrl);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const policy = retryPolicy(options.retries);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const wait = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const userAgent = options.userAgent ?? 'callmind-client';
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`timeoutMs must be a number ≥ 0 (got ${timeoutMs})`);
  }

  async function headersFor(spec: RequestSpec): Promise<Record<string, string>> {
    const token = typeof options.token === 'function' ? await options.token() : options.token;
    return {
      ...options.headers,
      accept: spec.accept ?? JSON_TYPE,
      'user-agent': userAgent,
      ...(spec.body === undefined ? {} : { 'content-type': JSON_TYPE }),
      ...(token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` }),
    };
  }

  /**
   * One attempt. `read` turns the successful response into the result; the timeout covers it
   * when `readInTime`, else only the wait for the response's headers (an export's download).
   */
  async function attempt<T>(
    spec: RequestSpec,
    read: (response: Response) => Promise<T>,
    readInTime: boolean,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    // Outside the try below: a token provider's failure, or a body JSON cannot hold, is the
    // caller's error as it is, not a network failure to retry.
    const headers = await headersFor(spec);
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const timeout = new AbortController();
    const timer =
      timeoutMs > 0
        ? setTimeout(
            () => timeout.abort(new DOMException('the request timed out', 'TimeoutError')),
            timeoutMs,
          )
        : undefined;
    const combined =
      signal === undefined ? timeout.signal : AbortSignal.any([timeout.signal, signal]);
    try {
      const response = await fetchImpl(`${root}${spec.path}${encodeQuery(spec.query)}`, {
        method: spec.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: combined,
      });
      if (!response.ok) throw await apiError(spec, response);
      if (!readInTime) clearTimeout(timer);
      return await read(response);
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      if (timeout.signal.aborted) {
        throw new CallmindTimeoutError(
          `${spec.method} ${spec.path}: no answer within ${timeoutMs} ms`,
          timeoutMs,
        );
      }
      if (error instanceof CallmindError) throw error;
      if (error instanceof SyntaxError) {
        throw new CallmindError(`${spec.method} ${spec.path}: the answer is not JSON`, {
          cause: error,
        });
      }
      throw new CallmindNetworkError(`${spec.method} ${spec.path}: ${describeNetwork(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async function apiError(spec: RequestSpec, response: Response): Promise<CallmindApiError> {
    const text = await response.text();
    let body: unknown = text;
    if (/json/i.test(response.headers.get('content-type') ?? '')) {
      try {
        body = JSON.parse(text);
      } catch {
        // Not the problem document it claims to be: kept as text.
      }
    }
    const problem = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    const str = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
    return new CallmindApiError({
      status: response.status,
      code: str(problem.code) ?? `http_${response.status}`,
      title: str(problem.title) ?? str(response.statusText) ?? `HTTP ${response.status}`,
      detail:
        str(problem.detail) ??
        str(problem.message) ??
        (text.trim().slice(0, 200) || `HTTP ${response.status}`),
      errors: Array.isArray(problem.errors) ? problem.errors.filter(isFieldError) : [],
      requestId: str(response.headers.get('x-request-id')) ?? str(problem.requestId),
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now()),
      method: spec.method,
      path: spec.path,
      body,
    });
  }

  /** Attempts until one succeeds, an error is not worth retrying, or the retries are spent. */
  async function exchange<T>(
    spec: RequestSpec,
    read: (response: Response) => Promise<T>,
    readInTime: boolean,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let uncertain = false;
    for (let retry = 0; ; retry += 1) {
      let failure: CallmindError;
      try {
        return await attempt(spec, read, readInTime, signal);
      } catch (error) {
        if (!(error instanceof CallmindError)) throw error;
        failure = error;
      }
      if (failure instanceof CallmindApiError && uncertain && spec.doneIf?.(failure) === true) {
        return undefined as T;
      }
      const retryAfterMs = failure instanceof CallmindApiError ? failure.retryAfterMs : undefined;
      if (
        !shouldRetry(failure, spec.idempotent) ||
        retry >= policy.retries ||
        (retryAfterMs !== undefined && retryAfterMs > policy.maxDelayMs)
      ) {
        throw failure;
      }
      uncertain ||= !(failure instanceof CallmindApiError && RETRY_ALWAYS.has(failure.status));
      const delayMs = retryDelay(policy, retry, retryAfterMs, random);
      options.onRetry?.({
        method: spec.method,
        path: spec.path,
        attempt: retry + 1,
        delayMs,
        error: failure,
      });
      await wait(delayMs, signal);
      if (signal?.aborted === true) throw signal.reason;
    }
  }

  const json = <T>(spec: RequestSpec, request?: RequestOptions): Promise<T> =>
    exchange(
      spec,
      async (response) => {
        if (response.status === 204) {
          await response.body?.cancel();
          return null as T;
        }
        return (await response.json()) as T;
      },
      true,
      request?.signal,
    );

  async function* pages(
    query: IterateCallsQuery = {},
    request?: RequestOptions,
  ): AsyncGenerator<CallPage> {
    let cursor: string | undefined;
    for (;;) {
      const page = await calls.list(
        { ...query, ...(cursor === undefined ? {} : { cursor }) },
        request,
      );
      yield page;
      if (page.nextCursor === null) return;
      if (page.nextCursor === cursor) {
        throw new CallmindError('the server answered the same cursor twice; stopping');
      }
      cursor = page.nextCursor;
    }
  }

  async function* iterate(
    query: IterateCallsQuery = {},
    request?: RequestOptions,
  ): AsyncGenerator<ListedCall> {
    for await (const page of pages(query, request)) yield* page.data;
  }

  function exportCalls(
    query: CallExportQuery<'ndjson'>,
    request?: RequestOptions,
  ): AsyncIterable<Call>;
  function exportCalls(
    query: CallExportQuery<'csv'>,
    request?: RequestOptions,
  ): AsyncIterable<string>;
  async function* exportCalls(
    query: CallExportQuery,
    request?: RequestOptions,
  ): AsyncIterable<Call | string> {
    const response = await exchange(
      {
        method: 'GET',
        path: '/api/call-history/export',
        query,
        accept: EXPORT_TYPES[query.format],
        idempotent: true,
      },
      async (r) => r,
      false,
      request?.signal,
    );
    if (response.body === null) return;
    // Retried until the download starts; a download cut off midway is an error to retry whole.
    if (query.format === 'ndjson') yield* ndjson<Call>(response.body, request?.signal);
    else yield* textChunks(response.body, request?.signal);
  }

  const calls: CallmindClient['calls'] = {
    create: (body, request) =>
      json({ method: 'POST', path: '/api/call-history', body, idempotent: true }, request),
    get: (id, request) =>
      json({ method: 'GET', path: `/api/call-history/${segment(id)}`, idempotent: true }, request),
    getBySid: (callSid, request) =>
      json(
        { method: 'GET', path: `/api/call-history/by-sid/${segment(callSid)}`, idempotent: true },
        request,
      ),
    updateStatus: (id, body, request) =>
      json(
        {
          method: 'PATCH',
          path: `/api/call-history/${segment(id)}/status`,
          body,
          idempotent: true,
        },
        request,
      ),
    delete: async (id, request) => {
      await json(
        {
          method: 'DELETE',
          path: `/api/call-history/${segment(id)}`,
          idempotent: true,
          doneIf: (error) => error.status === 404,
        },
        request,
      );
    },
    list: (query = {}, request) =>
      json({ method: 'GET', path: '/api/call-history', query, idempotent: true }, request),
    pages,
    iterate,
    events: (id, query = {}, request) =>
      json(
        {
          method: 'GET',
          path: `/api/call-history/${segment(id)}/events`,
          query,
          idempotent: true,
        },
        request,
      ),
    stats: (query = {}, request) =>
      json({ method: 'GET', path: '/api/call-history/stats', query, idempotent: true }, request),
    export: exportCalls,
    erase: (callerNumber, request) =>
      json(
        {
          method: 'POST',
          path: '/api/call-history/erase',
          body: { callerNumber },
          idempotent: true,
        },
        request,
      ),
  };

  return {
    calls,
    webhooks: {
      started: (body, request) =>
        json(
          { method: 'POST', path: '/api/webhooks/calls/started', body, idempotent: true },
          request,
        ),
      completed: (body, request) =>
        json(
          { method: 'POST', path: '/api/webhooks/calls/completed', body, idempotent: true },
          request,
        ),
    },
    agents: {
      create: (body, request) =>
        json({ method: 'POST', path: '/api/agents', body, idempotent: false }, request),
      list: async (request) =>
        (
          await json<{ data: Agent[] }>(
            { method: 'GET', path: '/api/agents', idempotent: true },
            request,
          )
        ).data,
      get: (id, request) =>
        json({ method: 'GET', path: `/api/agents/${segment(id)}`, idempotent: true }, request),
    },
  };
}

function shouldRetry(error: CallmindError, idempotent: boolean): boolean {
  if (error instanceof CallmindApiError) {
    return RETRY_ALWAYS.has(error.status) || (idempotent && RETRY_IF_IDEMPOTENT.has(error.status));
  }
  return (
    idempotent && (error instanceof CallmindNetworkError || error instanceof CallmindTimeoutError)
  );
}

function isFieldError(value: unknown): value is FieldError {
  const v = value as Partial<FieldError> | null;
  return typeof v?.field === 'string' && typeof v.message === 'string';
}

/** fetch's "fetch failed" says little; its cause says what happened (ECONNREFUSED, ...). */
function describeNetwork(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const detail = typeof cause?.code === 'string' ? cause.code : cause?.message;
  const message = error instanceof Error ? error.message : String(error);
  return typeof detail === 'string' && detail !== '' ? `${message} (${detail})` : message;
}
