// The API description: an OpenAPI 3.1 document generated from the route schemas (each route
// declares its body, query, params and a response for every status) at GET /api/openapi.json,
// and Swagger UI at /docs, served from the assets bundled with @fastify/swagger-ui (no CDN).
// What the route schemas do not say (tags, credentials, problem+json, the guide's examples,
// response headers and media types) is added here, in one place.
import fs from 'node:fs';
import swagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { FastifyContextConfig, FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { GUIDE_EXAMPLES } from './openapi.examples.js';
import { ProblemSchema } from './schema-helpers.js';

export const OPENAPI_URL = '/api/openapi.json';
export const DOCS_PREFIX = '/docs';

/** Outside /api only the health checks are part of the API; the dashboard and /docs are not. */
const DOCUMENTED_OUTSIDE_API = new Set(['/healthz', '/readyz']);

/** One tag per module, found by the route's path. */
const TAGS = [
  {
    prefix: '/api/call-history',
    name: 'calls',
    description: 'Call records: ingest, read, search, stats, export',
  },
  {
    prefix: '/api/webhooks/',
    name: 'webhooks',
    description: 'Webhook-style ingest keyed by callSid; bearer or Standard Webhooks signature',
  },
  { prefix: '/api/agents', name: 'agents', description: 'The agents that handle calls' },
  {
    prefix: '/api/api-keys',
    name: 'api-keys',
    description: 'Organization API keys for machines (admins only)',
  },
  { prefix: '/api/settings', name: 'settings', description: "The tenant's settings (retention)" },
  { prefix: OPENAPI_URL, name: 'api-description', description: 'This document' },
  { prefix: '/healthz', name: 'health', description: 'Liveness and readiness; no credential' },
  { prefix: '/readyz', name: 'health', description: 'Liveness and readiness; no credential' },
] as const;

function tagOf(url: string): string {
  const tag = TAGS.find((t) => url === t.prefix || url.startsWith(t.prefix));
  // A new module's routes still get a tag of their own (the test requires one per operation).
  return tag?.name ?? url.split('/')[2] ?? 'other';
}

const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** What each error status means on this API (the handler in error-handler.ts makes them). */
const PROBLEM_DESCRIPTIONS: Readonly<Record<string, string>> = {
  400:
    'Invalid request: the body, query or path failed validation (`errors` names each field), ' +
    'or the body is not JSON',
  401: 'No credential, or one that is not valid (malformed, expired, revoked, badly signed)',
  403:
    'The credential may not do this: a missing scope, not an admin, ' +
    'or a body naming another owner',
  404: 'No such resource in this tenant (another tenant’s ids are not found either)',
  409:
    'Conflicts with what is stored: a status going back, another agent for the callSid, ' +
    'an id that exists',
  413: 'The body is larger than the server accepts (BODY_LIMIT)',
  415: 'The body is not JSON: send Content-Type: application/json',
  429: 'Too many requests for this credential, or too many failed authentications from this address',
  500:
    'Something went wrong on our side; the message is hidden, ' +
    '`requestId` finds the cause in the logs',
  503: 'The database is busy or unavailable (nothing was written), or the server is stopping; retry',
};

const SUCCESS_DESCRIPTIONS: Readonly<Record<string, string>> = {
  200: 'OK',
  201: 'Created; `Location` names the new resource',
  204: 'Done; no body',
};

const MERGED =
  'Merged into the stored call with the same callSid (a retry, a duplicate, or later data)';
const CREATED_CALL = 'A new call; `Location` names it';
const REPLAYED =
  'A replay of a delivery (same webhook-id) whose call has since been deleted: nothing stored';
const SUCCESS_BY_OPERATION: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  createCall: { 200: MERGED, 201: CREATED_CALL },
  callStartedWebhook: {
    200: MERGED,
    201: CREATED_CALL,
    204: REPLAYED,
  },
  callCompletedWebhook: {
    200: MERGED,
    201: CREATED_CALL,
    204: REPLAYED,
  },
  deleteCall: { 204: 'Deleted, with its timeline' },
  revokeApiKey: { 204: 'Revoked' },
  exportCalls: { 200: 'The calls, streamed; `Content-Disposition` names a file' },
  streamCalls: { 200: 'An event stream that stays open (about 10 minutes, then reconnect)' },
};

/** Answers that are not JSON: their media types, as the routes send them. */
const SUCCESS_MEDIA: Readonly<Record<string, Readonly<Record<string, object>>>> = {
  exportCalls: {
    'text/csv': { schema: { type: 'string', description: 'RFC 4180 CSV with a header row' } },
    'application/x-ndjson': { schema: { type: 'string', description: 'One call as JSON a line' } },
  },
  streamCalls: {
    'text/event-stream': {
      schema: { type: 'string', description: 'Events: ready, then call changes as they happen' },
    },
  },
};

/** Response headers worth knowing, by status. */
const RESPONSE_HEADERS: Readonly<Record<string, readonly string[]>> = {
  201: ['Location'],
  401: ['WWW-Authenticate'],
  429: ['Retry-After'],
  503: ['Retry-After'],
};

const SECURITY_SCHEMES = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'cm_sk_… API key or Clerk session JWT',
    description:
      'An organization API key (`cm_sk_…`, made by an admin with POST /api/api-keys) for ' +
      'machines, or a Clerk session token (a JWT) for people; the tenant is the credential’s ' +
      'organization. The role names in an operation’s requirement are what the credential needs: ' +
      'a scope (`calls:read`, `calls:write`) or `admin` (a session of an organization admin). ' +
      'A server started without authentication (dev mode, loopback only) needs none.',
  },
  webhookSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'webhook-signature',
    description:
      'Standard Webhooks (https://www.standardwebhooks.com), instead of a bearer credential, on ' +
      'the webhook routes: `webhook-id`, `webhook-timestamp` (unix seconds, at most 5 minutes ' +
      'away) and `webhook-signature`: `v1,<base64>` (space-separated for several), the ' +
      'HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body bytes>` with the tenant’s ' +
      '`whsec_…` secret. `?tenant=` names the tenant whose secret signed it. A replayed ' +
      'webhook-id is answered as the first delivery was.',
  },
} as const;

const RESPONSE_HEADER_OBJECTS = {
  Location: {
    description: 'The new resource’s URL',
    schema: { type: 'string' },
  },
  'WWW-Authenticate': {
    description: 'The scheme to authenticate with: `Bearer realm="callmind"`',
    schema: { type: 'string' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    schema: { type: 'integer', minimum: 1 },
  },
} as const;

/** The Standard Webhooks headers a signed delivery carries besides its signature. */
const WEBHOOK_HEADER_PARAMETERS = [
  {
    name: 'webhook-id',
    in: 'header',
    required: false,
    description: 'Standard Webhooks: the delivery’s id (a replay of one is answered once)',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_:-]{1,256}$' },
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: false,
    description: 'Standard Webhooks: when it was signed, unix seconds',
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
];

type Json = Record<string, unknown>;

/** The credentials an operation accepts, as OpenAPI security requirements. */
function securityOf(config: FastifyContextConfig): Array<Record<string, string[]>> {
  if (config.access === undefined) return [];
  const bearer = { bearer: [config.access] };
  return config.signedWebhook === true ? [bearer, { webhookSignature: [] }] : [bearer];
}

function accessSentence(config: FastifyContextConfig): string {
  if (config.access === undefined) return 'Needs no credential.';
  if (config.access === 'admin') {
    return 'Needs a Clerk session of an organization admin (API keys cannot do this).';
  }
  const signed =
    config.signedWebhook === true ? ', or a Standard Webhooks signature (`?tenant=`)' : '';
  return `Needs a credential with the \`${config.access}\` scope${signed}.`;
}

/** Fastify reads no body on a GET: a body's errors cannot happen there. */
const BODY_STATUSES = new Set(['413', '415']);

/**
 * The route's responses as the document shows them: problems as problem+json, and the 500
 * any route may answer.
 */
function responsesOf(operationId: string, method: string, response: Json): Json {
  const out: Json = {};
  for (const [status, schema] of Object.entries({ ...response, 500: ProblemSchema })) {
    if (method === 'GET' && BODY_STATUSES.has(status)) continue;
    if (schema === ProblemSchema) {
      out[status] = {
        description: PROBLEM_DESCRIPTIONS[status] ?? 'A problem (RFC 9457)',
        content: { [PROBLEM_MEDIA_TYPE]: { schema: ProblemSchema } },
      };
      continue;
    }
    const description =
      SUCCESS_BY_OPERATION[operationId]?.[status] ?? SUCCESS_DESCRIPTIONS[status] ?? 'OK';
    const media = SUCCESS_MEDIA[operationId];
    out[status] =
      media !== undefined && status === '200'
        ? { description, content: media }
        : { ...(schema as Json), 'x-response-description': description };
  }
  return out;
}

function documentSchema(route: RouteOptions, url: string) {
  const schema: FastifySchema | undefined = route.schema;
  const config: FastifyContextConfig = route.config ?? {};
  const operationId = schema?.operationId ?? '';
  const method = [route.method].flat()[0] ?? 'GET';
  return {
    ...schema,
    tags: [tagOf(url)],
    security: securityOf(config),
    description: [schema?.description, accessSentence(config)].filter(Boolean).join('\n\n'),
    ...(schema?.response === undefined
      ? {}
      : { response: responsesOf(operationId, method, schema.response as Json) }),
  };
}

type Operation = Json & {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Json[];
  requestBody?: { content?: Record<string, Json> };
  responses?: Record<string, Json & { content?: Record<string, Json>; headers?: Json }>;
};

/** The finishing touches that need the whole document: one Problem schema, headers, examples. */
function finishDocument(document: Json): Json {
  const components = (document.components ?? {}) as Json & { schemas?: Json };
  document.components = {
    ...components,
    schemas: { ...components.schemas, Problem: JSON.parse(JSON.stringify(ProblemSchema)) as Json },
    headers: RESPONSE_HEADER_OBJECTS,
  };
  const problemRef = { $ref: '#/components/schemas/Problem' };
  for (const pathItem of Object.values((document.paths ?? {}) as Record<string, Json>)) {
    for (const operation of Object.values(pathItem) as Operation[]) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const problem = response.content?.[PROBLEM_MEDIA_TYPE];
        if (problem !== undefined) problem.schema = problemRef;
        const headers = RESPONSE_HEADERS[status];
        if (headers !== undefined) {
          response.headers = Object.fromEntries(
            headers.map((name) => [name, { $ref: `#/components/headers/${name}` }]),
          );
        }
      }
      const example = GUIDE_EXAMPLES[operation.operationId ?? ''];
      const body = operation.requestBody?.content?.['application/json'];
      if (example !== undefined && body !== undefined) body.examples = { guide: example };
      if (operation.security?.some((requirement) => 'webhookSignature' in requirement)) {
        operation.parameters = [...(operation.parameters ?? []), ...WEBHOOK_HEADER_PARAMETERS];
      }
    }
  }
  return document;
}

function packageVersion(): string {
  const pkg = JSON.parse(
    fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as { version?: string };
  return pkg.version ?? '0.0.0';
}

export function swaggerOptions(): FastifyDynamicSwaggerOptions {
  return {
    mode: 'dynamic',
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Callmind call history API',
        version: packageVersion(),
        description:
          'Stores, searches and analyses the calls of voice agents and phone systems.\n\n' +
          'Every `/api` route needs `Authorization: Bearer <credential>` (see the `bearer` ' +
          'scheme); the webhook routes also take Standard Webhooks signatures. Writes are keyed ' +
          'by `callSid`: retries and duplicate deliveries merge into one call. Errors are ' +
          '`application/problem+json` (RFC 9457) with a stable `code`; every answer carries ' +
          '`x-request-id`.',
      },
      tags: TAGS.filter((t, i) => TAGS.findIndex((u) => u.name === t.name) === i).map(
        ({ name, description }) => ({ name, description }),
      ),
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    transform: ({ schema, url, route }) => {
      if (!url.startsWith('/api/') && !DOCUMENTED_OUTSIDE_API.has(url)) {
        return { schema: { ...schema, hide: true }, url };
      }
      return { schema: documentSchema(route, url), url };
    },
    // Only an OpenAPI document is made here (`openapi` is set), never a Swagger 2 one.
    transformObject: (document) =>
      'openapiObject' in document ? finishDocument(document.openapiObject) : document.swaggerObject,
  };
}

/**
 * The docs page's own policy, set on /docs only (the plugin's onSend hook lives in its own
 * encapsulated context) and no looser than the dashboard's in any directive. Swagger UI's
 * bundle runs from files (no inline script, no eval; its csp.json lists no hashes), styles
 * elements inline, draws its logo from a data: URL and fetches the document and "try it out"
 * requests from this origin. No recordings, no Clerk, no validator badge (validatorUrl null).
 */
export const DOCS_CSP = Object.entries({
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'upgrade-insecure-requests': [],
})
  .map(([directive, sources]) => [directive, ...sources].join(' '))
  .join('; ');

/**
 * Registers the generator (before any route, so that it sees them all), the document's route
 * and the docs page. Call it after the hook that checks each /api route's `access`.
 */
export async function registerApiDescription(app: FastifyInstance): Promise<void> {
  await app.register(swagger, swaggerOptions());

  let text: string | undefined;
  app.get(
    OPENAPI_URL,
    {
      // The one /api route anyone may read: an integrator needs the description before having
      // a credential, and it holds nothing of any tenant.
      config: { public: true },
      schema: {
        operationId: 'getOpenApiDocument',
        summary: 'This OpenAPI 3.1 document',
        response: {
          // Sent as JSON text, made once: the routes do not change under a running server.
          200: Type.Unsafe<string>({ type: 'object', description: 'An OpenAPI 3.1 document' }),
        },
      },
    },
    async (_request, reply) => {
      text ??= JSON.stringify(app.swagger());
      return reply
        .type('application/json; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(text);
    },
  );

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    theme: { title: 'Callmind API' },
    uiConfig: {
      deepLinking: true,
      // A pasted token stays in the page, never in localStorage.
      persistAuthorization: false,
      displayOperationId: true,
    },
  });
}
