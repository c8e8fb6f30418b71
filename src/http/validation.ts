// Request validation. Bodies are validated strictly (no coercion, unknown fields rejected, all
// errors reported) because silently turning `"duration": true` into 1 stores a value nobody
// sent. Query strings and path parameters arrive as text, so they are coerced to their types.
import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../errors.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;

/** Text the database can store: PostgreSQL refuses NUL characters in text columns. */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000');
}

export function isHttpUrl(value: string): boolean {
  // No control characters or spaces: the URL is rendered as a link and an <audio> source.
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code <= 0x20 || code === 0x7f) return false;
  }
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function createAjv(options: Options): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, ...options });
  addFormats(ajv);
  // Rendered as a link and an <audio> source in the dashboard: only http(s) may be stored.
  ajv.addFormat('http-url', { type: 'string', validate: isHttpUrl });
  ajv.addFormat('text', { type: 'string', validate: isStorableText });
  return ajv;
}

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const bodyAjv = createAjv({ coerceTypes: false, removeAdditional: false, useDefaults: false });
  const textAjv = createAjv({ coerceTypes: true, removeAdditional: false, useDefaults: true });
  return ({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object) as ReturnType<
      FastifySchemaCompiler<unknown>
    >;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

function describeTypes(type: unknown): string {
  const list: unknown[] = Array.isArray(type) ? type : [type];
  const types = list.map((t) => TYPE_NAMES[String(t)] ?? String(t));
  return types.join(' or ');
}

const FORMAT_MESSAGES: Record<string, string> = {
  'date-time': 'must be an ISO-8601 date-time with a time zone, e.g. 2025-01-17T10:30:00Z',
  'http-url': 'must be an http:// or https:// URL',
  text: 'must not contain NUL characters (\\u0000)',
};

/** Turns ajv's errors into one FieldError per offending field, named by its dotted path. */
export function toFieldErrors(errors: readonly ErrorObject[]): FieldError[] {
  const seen = new Set<string>();
  const result: FieldError[] = [];
  for (const error of errors) {
    const path = error.instancePath
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    let message: string;
    const params = error.params as Record<string, string | number | undefined>;
    switch (error.keyword) {
      case 'required':
        path.push(String(params.missingProperty));
        message = 'is required';
        break;
      case 'additionalProperties':
        path.push(String(params.additionalProperty));
        message = 'is not a known field';
        break;
      case 'type':
        message = `must be ${describeTypes(params.type)}`;
        break;
      case 'enum':
        message = `must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues
          .filter((v): v is string => typeof v === 'string')
          .join(', ')}`;
        break;
      case 'format':
        message = FORMAT_MESSAGES[String(params.format)] ?? `must be a valid ${params.format}`;
        break;
      case 'minLength':
        message =
          params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters`;
        break;
      case 'maxLength':
        message = `must be at most ${params.limit} characters`;
        break;
      case 'minimum':
        message = `must be at least ${params.limit}`;
        break;
      case 'maximum':
        message = `must be at most ${params.limit}`;
        break;
      case 'maxItems':
        message = `must have at most ${params.limit} items`;
        break;
      case 'maxProperties':
        message = `must have at most ${params.limit} keys`;
        break;
      case 'propertyNames':
        message = 'has an empty key or a key longer than 128 characters';
        break;
      case 'pattern':
        message = 'may contain only letters, digits and _ . : @ -';
        break;
      default:
        message = error.message ?? 'is invalid';
    }
    // ajv also reports the failing key's own minLength/maxLength; propertyNames already says it.
    if (error.propertyName !== undefined) continue;
    const field = path.join('.') || 'body';
    // One message per field: an empty id fails minLength and pattern, the first says enough.
    if (!seen.has(field)) {
      seen.add(field);
      result.push({ field, message });
    }
  }
  return result;
}
