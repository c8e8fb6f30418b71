// The one place errors become HTTP answers: application/problem+json (RFC 9457) with a stable
// `code`. Unknown errors are 500s whose message is hidden; the cause is logged with the request id.
import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldError } from '../errors.js';
import { isTransientDatabaseError } from '../db/errors.js';
import { toFieldErrors } from './validation.js';

export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
  readonly headers?: Readonly<Record<string, string>>;
}

/** Fastify's own request errors, mapped to our codes. */
const FASTIFY_ERRORS: Record<string, { status: number; code: string; title: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    title: 'Unsupported media type',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    title: 'Payload too large',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'malformed_json', title: 'Invalid request' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'malformed_json', title: 'Invalid request' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'malformed_request',
    title: 'Invalid request',
  },
};

const PART_NAMES: Record<string, string> = {
  body: 'field',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

export function toProblem(error: unknown): Problem {
  if (error instanceof AppError) {
    return {
      status: error.status,
      code: error.code,
      title: error.title,
      detail: error.message,
      ...(error.errors.length > 0 ? { errors: error.errors } : {}),
      headers: error.headers,
    };
  }
  const fastifyError = error as Partial<FastifyError> & {
    validation?: ErrorObject[];
    validationContext?: string;
  };
  if (Array.isArray(fastifyError.validation)) {
    const context = fastifyError.validationContext;
    const errors = toFieldErrors(fastifyError.validation);
    return {
      status: 400,
      code: 'validation_failed',
      title: 'Invalid request',
      detail: `invalid ${PART_NAMES[context ?? 'body'] ?? 'input'}: ${errors
        .map((e) => `${e.field} ${e.message}`)
        .join('; ')}`,
      errors,
    };
  }
  const known = fastifyError.code ? FASTIFY_ERRORS[fastifyError.code] : undefined;
  if (known) {
    return {
      ...known,
      detail: detailFor(known.code, fastifyError),
      ...(known.code === 'malformed_json'
        ? { errors: [{ field: 'body', message: 'is not valid JSON' }] }
        : {}),
    };
  }
  // secure-json-parse refuses prototype-poisoning keys anywhere in the body.
  if (fastifyError.statusCode === 400 && /forbidden prototype/i.test(fastifyError.message ?? '')) {
    return {
      status: 400,
      code: 'forbidden_key',
      title: 'Invalid request',
      detail: 'the body uses a forbidden key (__proto__ or constructor.prototype)',
      errors: [{ field: 'body', message: 'must not contain __proto__ or constructor.prototype' }],
    };
  }
  // JSON.parse errors surface as 400s without a Fastify code.
  if (fastifyError.statusCode === 400 && error instanceof SyntaxError) {
    return {
      status: 400,
      code: 'malformed_json',
      title: 'Invalid request',
      detail: 'the body is not valid JSON',
      errors: [{ field: 'body', message: 'is not valid JSON' }],
    };
  }
  // PostgreSQL refuses a NUL character (22021) or an unencodable one (22P05) in text; the
  // schemas refuse them first, this is the backstop that keeps it a 400 and not a 500.
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === '22021' || code === '22P05') {
    return {
      status: 400,
      code: 'invalid_text',
      title: 'Invalid request',
      detail: 'the request holds a character the database cannot store (such as NUL)',
    };
  }
  if (isTransientDatabaseError(error)) {
    return {
      status: 503,
      code: 'service_unavailable',
      title: 'Service unavailable',
      detail: 'the database is busy or unavailable; nothing was written, retry later',
      headers: { 'retry-after': '2' },
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return {
      status,
      code: 'bad_request',
      title: 'Bad request',
      detail: fastifyError.message ?? 'the request could not be processed',
    };
  }
  return {
    status: 500,
    code: 'internal_error',
    title: 'Internal server error',
    detail: 'something went wrong on our side; the request id helps us find it',
  };
}

function detailFor(code: string, error: Partial<FastifyError>): string {
  switch (code) {
    case 'unsupported_media_type':
      return 'send the body as JSON with Content-Type: application/json';
    case 'payload_too_large':
      return 'the body is larger than this server accepts (BODY_LIMIT)';
    case 'malformed_json':
      return error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'the body is empty; send a JSON object'
        : 'the body is not valid JSON';
    default:
      return 'the request could not be read';
  }
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): void {
  const body = {
    type: `/problems/${problem.code}`,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    instance: request.url.split('?')[0],
    requestId: request.id,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
  void reply
    .code(problem.status)
    .headers(problem.headers ?? {})
    .type('application/problem+json; charset=utf-8')
    .send(JSON.stringify(body));
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const problem = toProblem(error);
  if (problem.status >= 500) {
    // Log the error's name, code and stack, never values that could carry caller data.
    const err = error as Error & { code?: unknown };
    request.log.error(
      { err: { type: err?.name, code: err?.code, message: err?.message, stack: err?.stack } },
      'request failed',
    );
  }
  sendProblem(request, reply, problem);
}
