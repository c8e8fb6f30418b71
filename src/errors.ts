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
