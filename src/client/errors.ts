// What a client call can fail with. Three kinds, because a caller handles them differently: the
// server answered with an error (CallmindApiError: look at `code`, maybe `errors[]`), the
// request never got an answer (CallmindNetworkError: the write may or may not have happened),
// or no answer came in time (CallmindTimeoutError: likewise).

/** One invalid field, as the server names it (`callerNumber`, `collectedData.email`, `status`). */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** The base class: `instanceof CallmindError` catches every failure of the client. */
export class CallmindError extends Error {
  override readonly name: string = 'CallmindError';
}

export interface ApiErrorDetails {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: readonly FieldError[];
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly method: string;
  /** The request's path, without its query (filters may name a caller). */
  readonly path: string;
  /** The problem document as sent (application/problem+json), or the text of another body. */
  readonly body: unknown;
}

/**
 * The server answered 4xx or 5xx. `code` is the server's stable code (`validation_failed`,
 * `call_not_found`, `rate_limited`, ...) or `http_<status>` when the answer was not a problem
 * document (a proxy's page, a server that is stopping).
 */
export class CallmindApiError extends CallmindError {
  override readonly name = 'CallmindApiError';
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: readonly FieldError[];
  /** The server's X-Request-Id: quote it when asking about a failed request. */
  readonly requestId: string | undefined;
  /** What the server's Retry-After asked for, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;
  readonly method: string;
  readonly path: string;
  readonly body: unknown;

  constructor(details: ApiErrorDetails) {
    const fields = details.errors.map((e) => `${e.field} ${e.message}`).join('; ');
    super(
      `${details.method} ${details.path}: ${details.status} ${details.code}: ${details.detail}` +
        (fields !== '' && !details.detail.includes(fields) ? ` (${fields})` : ''),
    );
    this.status = details.status;
    this.code = details.code;
    this.title = details.title;
    this.detail = details.detail;
    this.errors = details.errors;
    this.requestId = details.requestId;
    this.retryAfterMs = details.retryAfterMs;
    this.method = details.method;
    this.path = details.path;
    this.body = details.body;
  }
}

/** No answer: refused, reset or cut off (the cause is fetch's error). */
export class CallmindNetworkError extends CallmindError {
  override readonly name = 'CallmindNetworkError';
}

/** No answer within `timeoutMs` (for an export: no response headers within it). */
export class CallmindTimeoutError extends CallmindError {
  override readonly name = 'CallmindTimeoutError';
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number) {
    super(message);
    this.timeoutMs = timeoutMs;
  }
}
