// Errors the service means to return. Each carries a stable code (the API's contract, also the
// last segment of the problem `type`) and an HTTP status; one handler turns them into
// application/problem+json (RFC 9457). Anything that is not an AppError is a bug: a 500 with
// its message hidden.

export interface FieldError {
  /** Dotted path of the offending input, e.g. `duration` or `collectedData.email`. */
  readonly field: string;
  readonly message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    message: string,
    readonly errors: readonly FieldError[] = [],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export class ValidationError extends AppError {
  constructor(errors: readonly FieldError[], message?: string) {
    super(
      400,
      'validation_failed',
      'Invalid request',
      message ?? errors.map((e) => `${e.field}: ${e.message}`).join('; '),
      errors,
    );
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string) {
    super(404, code, 'Not found', message);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string, errors: readonly FieldError[] = []) {
    super(409, code, 'Conflict', message, errors);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid credential is required') {
    super(401, 'unauthorized', 'Unauthorized', message, [], {
      'www-authenticate': 'Bearer realm="callmind"',
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, retryAfterSeconds = 2) {
    super(503, 'service_unavailable', 'Service unavailable', message, [], {
      'retry-after': String(retryAfterSeconds),
    });
  }
}

export class ForbiddenError extends AppError {
  constructor(code: string, message: string, errors: readonly FieldError[] = []) {
    super(403, code, 'Forbidden', message, errors);
  }
}

/**
 * An error as it crosses to another thread (SQLite's writer thread answers with these): the
 * structured clone keeps neither an AppError's class nor a driver error's `code`.
 */
export type TransferableError =
  | {
      readonly kind: 'app';
      readonly status: number;
      readonly code: string;
      readonly title: string;
      readonly message: string;
      readonly errors: readonly FieldError[];
      readonly headers: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'error';
      readonly name: string;
      readonly message: string;
      readonly code?: string;
    };

export function toTransferableError(error: unknown): TransferableError {
  if (error instanceof AppError) {
    const { status, code, title, message, errors, headers } = error;
    return { kind: 'app', status, code, title, message, errors, headers };
  }
  const { name, message, code } = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
  };
  return {
    kind: 'error',
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

/** The error again, as the class the API's handler and the services test for. */
export function fromTransferableError(transferred: TransferableError): Error {
  if (transferred.kind === 'app') {
    const { status, code, title, message, errors, headers } = transferred;
    if (status === 400 && code === 'validation_failed') return new ValidationError(errors, message);
    if (status === 404) return new NotFoundError(code, message);
    if (status === 409) return new ConflictError(code, message, errors);
    if (status === 403) return new ForbiddenError(code, message, errors);
    return new AppError(status, code, title, message, errors, headers);
  }
  const error = new Error(transferred.message) as Error & { code?: string };
  error.name = transferred.name;
  if (transferred.code !== undefined) error.code = transferred.code;
  return error;
}
