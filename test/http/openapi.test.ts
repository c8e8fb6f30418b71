// The API description: GET /api/openapi.json is an OpenAPI 3.1 document made from the route
// schemas, public, with every route and every status a route answers; /docs is Swagger UI from
// this server only, under a policy of its own that is no looser than the dashboard's.
//
// No OpenAPI validator package is installed (@seriousme/openapi-schema-validator would check
// the document against the official 3.1 schema): the structure is checked here, and every
// schema in the document is compiled with Ajv's JSON Schema 2020-12 build, the 3.1 dialect.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../../src/http/app.js';
import { DOCS_CSP } from '../../src/http/openapi.plugin.js';
import { isHttpUrl, isStorableText } from '../../src/http/validation.js';
import { callStartBody, completionBody, newAgentId, uniqueId } from '../factories.js';
import { createTestClerk, type SessionOptions } from '../setup/clerk.js';
import { createTestApp, makeTempDir, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;
const clerk = createTestClerk();
const GUIDE = fs.readFileSync(path.resolve('docs/integration-guide.md'), 'utf8');
const PACKAGE = JSON.parse(fs.readFileSync(path.resolve('package.json'), 'utf8'));

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const TOP_LEVEL = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'paths',
  'webhooks',
  'components',
  'security',
  'tags',
  'externalDocs',
];
const COMPONENTS = [
  'schemas',
  'responses',
  'parameters',
  'examples',
  'requestBodies',
  'headers',
  'securitySchemes',
  'links',
  'callbacks',
  'pathItems',
];
const OPERATION = [
  'tags',
  'summary',
  'description',
  'externalDocs',
  'operationId',
  'parameters',
  'requestBody',
  'responses',
  'callbacks',
  'deprecated',
  'security',
  'servers',
];
const known = (allowed: readonly string[], object: object) =>
  Object.keys(object).filter((key) => !allowed.includes(key) && !key.startsWith('x-'));

/** `/api/call-history/:id` as OpenAPI writes it: `/api/call-history/{id}`. */
const toTemplate = (url: string) => url.replace(/:(\w+)/g, '{$1}');

/** The JSON blocks under a heading of the guide, in order. */
function guideJson(heading: string): unknown[] {
  const found: unknown[] = [];
  let current = '';
  const lines = GUIDE.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) current = line.replace(/^#+\s*/, '');
    if (line === '```json' && current.startsWith(heading)) {
      const body: string[] = [];
      for (i++; lines[i] !== '```'; i++) body.push(lines[i]!);
      found.push(JSON.parse(body.join('\n')));
    }
  }
  return found;
}

/** Every problem the structure of an OpenAPI 3.1 document can have that this one might. */
function structuralProblems(doc: any): string[] {
  const problems: string[] = [];
  const problem = (where: string, what: string) => problems.push(`${where}: ${what}`);
  if (doc.openapi !== '3.1.0') problem('openapi', `is ${doc.openapi}`);
  for (const key of known(TOP_LEVEL, doc)) problem(key, 'is not an OpenAPI 3.1 field');
  for (const key of known(COMPONENTS, doc.components ?? {})) problem(key, 'is not a component');
  if (typeof doc.info?.title !== 'string' || doc.info.title === '') problem('info', 'no title');
  if (typeof doc.info?.version !== 'string') problem('info', 'no version');
  const schemes = doc.components?.securitySchemes ?? {};
  for (const [name, scheme] of Object.entries<any>(schemes)) {
    if (scheme.type === 'http' && typeof scheme.scheme !== 'string') problem(name, 'no scheme');
    else if (scheme.type === 'apiKey') {
      if (!['query', 'header', 'cookie'].includes(scheme.in)) problem(name, 'bad `in`');
      if (typeof scheme.name !== 'string') problem(name, 'no name');
    } else if (scheme.type !== 'http') problem(name, `type ${scheme.type}`);
  }
  const tagNames = new Set((doc.tags ?? []).map((tag: { name: string }) => tag.name));
  const operationIds = new Set<string>();
  for (const [template, item] of Object.entries<any>(doc.paths ?? {})) {
    if (!template.startsWith('/') || template.includes(':')) problem(template, 'bad path');
    const variables = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries<any>(item)) {
      const where = `${method.toUpperCase()} ${template}`;
      if (!METHODS.includes(method)) {
        problem(where, 'is not a method');
        continue;
      }
      for (const key of known(OPERATION, op)) problem(where, `unknown field ${key}`);
      if (typeof op.operationId !== 'string') problem(where, 'no operationId');
      else if (operationIds.has(op.operationId)) problem(where, 'operationId used twice');
      operationIds.add(op.operationId);
      if (!Array.isArray(op.tags) || op.tags.length === 0) problem(where, 'no tag');
      for (const tag of op.tags ?? []) if (!tagNames.has(tag)) problem(where, `tag ${tag}`);
      for (const requirement of op.security ?? []) {
        for (const name of Object.keys(requirement)) {
          if (!(name in schemes)) problem(where, `unknown security scheme ${name}`);
        }
      }
      const parameters: any[] = op.parameters ?? [];
      for (const p of parameters) {
        if (typeof p.name !== 'string') problem(where, 'a parameter without name');
        if (!['query', 'header', 'path', 'cookie'].includes(p.in)) problem(where, `in ${p.in}`);
        if (p.schema === undefined && p.content === undefined) problem(where, `${p.name} schema`);
        if (p.in === 'path' && p.required !== true) problem(where, `${p.name} not required`);
      }
      const pathNames = parameters.filter((p) => p.in === 'path').map((p) => p.name);
      if ([...pathNames].sort().join() !== [...variables].sort().join()) {
        problem(where, `path parameters ${pathNames.join()} for {${variables.join()}}`);
      }
      if (op.requestBody !== undefined && Object.keys(op.requestBody.content ?? {}).length === 0) {
        problem(where, 'a request body without content');
      }
      const responses = Object.entries<any>(op.responses ?? {});
      if (responses.length === 0) problem(where, 'no responses');
      for (const [status, response] of responses) {
        if (!/^[1-5](\d\d|XX)$|^default$/.test(status)) problem(where, `status ${status}`);
        if (typeof response.description !== 'string') problem(where, `${status} description`);
        for (const [type, media] of Object.entries<any>(response.content ?? {})) {
          if (media.schema === undefined) problem(where, `${status} ${type} without schema`);
        }
      }
    }
  }
  // Every local reference points at something.
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) node.forEach((child, i) => walk(child, `${where}/${i}`));
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string') {
          const target = value
            .replace(/^#\//, '')
            .split('/')
            .reduce<any>((at, part) => at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
          if (!value.startsWith('#/') || target === undefined) problem(where, `$ref ${value}`);
        } else walk(value, `${where}/${key}`);
      }
    }
  };
  walk(doc, '#');
  return problems;
}

/** JSON Schema 2020-12 as OpenAPI 3.1 uses it: its base vocabulary and our two formats. */
function createAjv() {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('http-url', { type: 'string', validate: isHttpUrl });
  ajv.addFormat('text', { type: 'string', validate: isStorableText });
  // The OpenAPI base dialect's own keywords (annotations).
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  return ajv;
}

describe.each(TEST_DIALECTS)('the API description (%s)', (dialect) => {
  let t: TestApp;
  let webRoot: string;
  let doc: any;
  const ajv = createAjv();
  const compiled = new Map<string, ValidateFunction>();
  const logLines: Array<Record<string, unknown>> = [];
  const orgId = uniqueId('org_');
  const admin = { userId: uniqueId('user_'), orgId, role: 'admin' as const };
  const member = { userId: uniqueId('user_'), orgId, role: 'member' as const };
  const bearer = (session: SessionOptions = admin) => ({
    authorization: `Bearer ${clerk.session(session)}`,
  });

  /** A document's schema with its references replaced by what they name. */
  const resolve = (schema: unknown): unknown => {
    if (Array.isArray(schema)) return schema.map(resolve);
    if (schema === null || typeof schema !== 'object') return schema;
    const ref = (schema as { $ref?: string }).$ref;
    if (ref !== undefined) {
      return resolve(
        ref
          .slice(2)
          .split('/')
          .reduce<any>((at, part) => at[part], doc),
      );
    }
    return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolve(v)]));
  };
  const validator = (schema: unknown): ValidateFunction => {
    const key = JSON.stringify(schema);
    let validate = compiled.get(key);
    if (validate === undefined) {
      validate = ajv.compile(resolve(schema) as object);
      compiled.set(key, validate);
    }
    return validate;
  };
  const operations = () =>
    Object.entries<any>(doc.paths).flatMap(([template, item]) =>
      Object.entries<any>(item).map(([method, op]) => ({ template, method, op })),
    );

  beforeAll(async () => {
    webRoot = makeTempDir('callmind-web-');
    fs.writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>app</title>');
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          logLines.push(JSON.parse(line));
        }
        done();
      },
    });
    t = await createTestApp(dialect, {
      webRoot,
      env: { ...clerk.env, BODY_LIMIT: '64kb' },
      logger: { ...(loggerOptions({ logLevel: 'info' }) as object), stream },
    });
    const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(webRoot, { recursive: true, force: true });
  });

  it('is served to anyone: no credential needed, while every other /api route needs one', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['www-authenticate']).toBeUndefined();
    // A bad credential does not matter either: the route reads none.
    const withJunk = await t.app.inject({
      method: 'GET',
      url: '/api/openapi.json',
      headers: { authorization: 'Bearer junk' },
    });
    expect(withJunk.statusCode).toBe(200);
    const calls = await t.app.inject({ method: 'GET', url: '/api/call-history' });
    expect(calls.statusCode).toBe(401);
    // It is not among the routes that need a credential (identity.test.ts checks each of those).
    expect(t.app.apiRoutes.map((r) => r.url)).not.toContain('/api/openapi.json');
    expect(doc.paths['/api/openapi.json'].get.security).toEqual([]);
  });

  it("is a valid OpenAPI 3.1 document (the specification's own JSON schema)", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('is a well-formed OpenAPI 3.1 document', () => {
    expect(structuralProblems(doc)).toEqual([]);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: PACKAGE.version });
    expect(doc.info.description.length).toBeGreaterThan(50);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'bearer',
      'webhookSignature',
    ]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('every schema in it compiles as JSON Schema 2020-12 (strict)', () => {
    const schemas: unknown[] = [
      ...Object.values(doc.components.schemas),
      ...Object.values<any>(doc.components.headers).map((h) => h.schema),
    ];
    for (const { op } of operations()) {
      for (const p of op.parameters ?? []) schemas.push(p.schema);
      for (const media of Object.values<any>(op.requestBody?.content ?? {})) {
        schemas.push(media.schema);
      }
      for (const response of Object.values<any>(op.responses)) {
        for (const media of Object.values<any>(response.content ?? {})) schemas.push(media.schema);
      }
    }
    expect(schemas.length).toBeGreaterThan(100);
    for (const schema of schemas) expect(() => validator(schema)).not.toThrow();
  });

  it('has every /api route, with its method, {param} path and credentials', () => {
    expect(t.app.apiRoutes.length).toBeGreaterThanOrEqual(20);
    for (const route of t.app.apiRoutes) {
      const op = doc.paths[toTemplate(route.url)]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.url}`).toBeDefined();
      expect(op.security[0]).toEqual({ bearer: [route.access] });
    }
    // The webhook routes also take a Standard Webhooks signature, and say which headers.
    for (const url of ['/api/webhooks/calls/started', '/api/webhooks/calls/completed']) {
      const op = doc.paths[url]?.post;
      expect(op?.security).toEqual([{ bearer: ['calls:write'] }, { webhookSignature: [] }]);
      const headers = op.parameters.filter((p: any) => p.in === 'header').map((p: any) => p.name);
      expect(headers).toEqual(['webhook-id', 'webhook-timestamp']);
      expect(op.parameters.map((p: any) => p.name)).toContain('tenant');
    }
    // And nothing that is not the API: the dashboard, its config, the docs page, metrics.
    const documented = new Set([
      ...t.app.apiRoutes.map((r) => toTemplate(r.url)),
      '/api/openapi.json',
      '/healthz',
      '/readyz',
    ]);
    expect(Object.keys(doc.paths).filter((p) => !documented.has(p))).toEqual([]);
    // One tag per module, each declared.
    const tags = new Set(operations().map(({ op }) => op.tags[0]));
    expect([...tags].sort()).toEqual(
      ['agents', 'api-description', 'api-keys', 'calls', 'health', 'settings', 'webhooks'].sort(),
    );
  });

  it("documents each operation's errors as problem+json, as the error handler sends them", () => {
    for (const { template, method, op } of operations()) {
      const where = `${method.toUpperCase()} ${template}`;
      const statuses = Object.keys(op.responses);
      expect(
        statuses.some((s) => s.startsWith('2')),
        where,
      ).toBe(true);
      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (Number(status) >= 400) {
          expect(response.content, `${where} ${status}`).toEqual({
            'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
          });
        } else if (status === '204') {
          expect(response.content, `${where} ${status}`).toBeUndefined();
        } else {
          expect(Object.keys(response.content ?? {}).length, `${where} ${status}`).toBe(
            op.operationId === 'exportCalls' ? 2 : 1,
          );
        }
        if (status === '201') expect(response.headers?.Location, where).toBeDefined();
        if (status === '429' || status === '503') {
          expect(response.headers?.['Retry-After'], where).toBeDefined();
        }
      }
      // What any route can answer, and what follows from what it takes.
      expect(statuses, where).toContain('500');
      if (op.security.length > 0) {
        for (const status of ['401', '403', '429', '503'])
          expect(statuses, where).toContain(status);
      }
      if (op.requestBody !== undefined) {
        for (const status of ['400', '413', '415']) expect(statuses, where).toContain(status);
      }
      if (template.includes('{')) expect(statuses, where).toContain('404');
      if ((op.parameters ?? []).length > 0) expect(statuses, where).toContain('400');
      // Fastify reads no body on a GET: no body errors there.
      if (method === 'get') expect(statuses, where).not.toContain('415');
    }
  });

  it("has the guide's request bodies as examples, verbatim, valid and accepted", async () => {
    const expected: Record<string, unknown> = {
      createCall: guideJson('1. Create Call Record')[0],
      updateCallStatus: guideJson('2. Update Call Status')[0],
      callStartedWebhook: guideJson('Call Started Webhook')[0],
      callCompletedWebhook: guideJson('Call Completed Webhook')[0],
    };
    const found: Record<string, unknown> = {};
    for (const { op } of operations()) {
      const media = op.requestBody?.content?.['application/json'];
      if (media?.examples === undefined) continue;
      found[op.operationId] = media.examples.guide.value;
      const validate = validator(media.schema);
      expect(validate(media.examples.guide.value), JSON.stringify(validate.errors)).toBe(true);
    }
    expect(found).toEqual(expected);

    // And the server takes them (their owner claims must be the credential's).
    const owner = { userId: 'user_67890', orgId: 'org_abc123', role: 'admin' as const };
    const send = (method: 'POST' | 'PATCH', url: string, payload: unknown) =>
      t.app.inject({ method, url, headers: bearer(owner), payload: payload as object });
    // The guide's agent, which its calls name.
    expect(
      (await send('POST', '/api/agents', { id: 'agent_12345', name: 'Guide' })).statusCode,
    ).toBe(201);
    const created = await send('POST', '/api/call-history', expected.createCall);
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    expect(
      (await send('PATCH', `/api/call-history/${id}/status`, expected.updateCallStatus)).statusCode,
    ).toBe(200);
    const started = await send('POST', '/api/webhooks/calls/started', expected.callStartedWebhook);
    expect(started.statusCode).toBe(201);
    const completed = await send(
      'POST',
      '/api/webhooks/calls/completed',
      expected.callCompletedWebhook,
    );
    expect(completed.statusCode).toBe(200);
  });

  it('documents the status, media type and body of every answer real requests get', async () => {
    const seen: Array<{ id: string; method: string; status: number; type: string; body: string }> =
      [];
    let n = 0;
    const send = async (
      method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
      url: string,
      options: { headers?: Record<string, string>; payload?: unknown; expect: number },
    ) => {
      const id = `openapi-test-${dialect}-${++n}`;
      const res = await t.app.inject({
        method,
        url,
        headers: { ...options.headers, 'x-request-id': id },
        ...(options.payload === undefined
          ? {}
          : typeof options.payload === 'string'
            ? { payload: options.payload }
            : { payload: options.payload as object }),
      });
      expect(res.statusCode, `${method} ${url}: ${res.body.slice(0, 300)}`).toBe(options.expect);
      seen.push({
        id,
        method,
        status: res.statusCode,
        type: String(res.headers['content-type'] ?? ''),
        body: res.body,
      });
      return res;
    };

    const agentId = newAgentId();
    await send('POST', '/api/agents', {
      headers: bearer(),
      payload: { id: agentId, name: 'Support' },
      expect: 201,
    });
    await send('GET', '/api/agents', { headers: bearer(), expect: 200 });
    await send('GET', `/api/agents/${agentId}`, { headers: bearer(), expect: 200 });
    await send('POST', '/api/agents', {
      headers: bearer(),
      payload: { id: agentId, name: 'Again' },
      expect: 409,
    });
    await send('POST', '/api/agents', {
      headers: bearer(),
      payload: { id: newAgentId(), name: 'x'.repeat(70_000) },
      expect: 413,
    });
    const otherAgentId = newAgentId();
    await send('POST', '/api/agents', {
      headers: bearer(),
      payload: { id: otherAgentId, name: 'Sales' },
      expect: 201,
    });
    const body = callStartBody({ agentId, userId: admin.userId });
    const created = await send('POST', '/api/call-history', {
      headers: bearer(),
      payload: body,
      expect: 201,
    });
    const id = created.json().id;
    await send('POST', '/api/call-history', { headers: bearer(), payload: body, expect: 200 });
    await send('POST', '/api/call-history', {
      headers: bearer(),
      payload: { ...body, agentId: otherAgentId },
      expect: 409,
    });
    await send('POST', '/api/call-history', { headers: bearer(), payload: {}, expect: 400 });
    await send('POST', '/api/call-history', { payload: body, expect: 401 });
    await send('POST', '/api/call-history', {
      headers: { ...bearer(), 'content-type': 'text/plain' },
      payload: 'hello',
      expect: 415,
    });
    await send('POST', '/api/call-history', {
      headers: bearer(),
      payload: { ...body, transcript: 'x'.repeat(70_000) },
      expect: 413,
    });
    await send('PATCH', `/api/call-history/${id}/status`, {
      headers: bearer(),
      payload: completionBody(),
      expect: 200,
    });
    await send('PATCH', `/api/call-history/${id}/status`, {
      headers: bearer(),
      payload: { status: 'in-progress' },
      expect: 409,
    });
    await send('GET', `/api/call-history/${id}`, { headers: bearer(), expect: 200 });
    await send('GET', '/api/call-history/call_01ARZ3NDEKTSV4RRFFQ69G5FAV', {
      headers: bearer(),
      expect: 404,
    });
    await send('GET', `/api/call-history/by-sid/${String(body.callSid)}`, {
      headers: bearer(),
      expect: 200,
    });
    await send('GET', `/api/call-history/${id}/events`, { headers: bearer(), expect: 200 });
    await send('GET', '/api/call-history?limit=5', { headers: bearer(), expect: 200 });
    await send('GET', '/api/call-history?limit=0', { headers: bearer(), expect: 400 });
    await send('GET', '/api/call-history/stats', { headers: bearer(), expect: 200 });
    await send('GET', '/api/call-history/export?format=csv', { headers: bearer(), expect: 200 });
    await send('GET', '/api/call-history/export?format=ndjson', { headers: bearer(), expect: 200 });
    const sid = uniqueId('CA-');
    await send('POST', '/api/webhooks/calls/started', {
      headers: bearer(),
      payload: { callSid: sid, agentId, userId: admin.userId },
      expect: 201,
    });
    await send('POST', '/api/webhooks/calls/completed', {
      headers: bearer(),
      payload: { callSid: sid, duration: 5 },
      expect: 200,
    });
    await send('DELETE', `/api/call-history/${id}`, { headers: bearer(), expect: 204 });
    await send('POST', '/api/call-history/erase', {
      headers: bearer(),
      payload: { callerNumber: '+1234567890' },
      expect: 200,
    });
    const key = await send('POST', '/api/api-keys', {
      headers: bearer(),
      payload: { name: 'OpenAPI test' },
      expect: 201,
    });
    await send('GET', '/api/api-keys', { headers: bearer(), expect: 200 });
    await send('GET', '/api/api-keys', { headers: bearer(member), expect: 403 });
    await send('DELETE', `/api/api-keys/${key.json().id}`, { headers: bearer(), expect: 204 });
    await send('GET', '/api/settings', { headers: bearer(member), expect: 200 });
    await send('PUT', '/api/settings', {
      headers: bearer(member),
      payload: { retentionDays: 30 },
      expect: 403,
    });
    await send('PUT', '/api/settings', {
      headers: bearer(),
      payload: { retentionDays: 30 },
      expect: 200,
    });
    // The provider adapters: their secrets (admins only), and deliveries without a valid
    // signature (the answers their own tests check in full, test/http/providers.test.ts).
    await send('PUT', '/api/settings/providers', {
      headers: bearer(),
      payload: { provider: 'vapi', secret: 'vapi-secret-for-the-openapi-test' },
      expect: 200,
    });
    await send('GET', '/api/settings/providers', { headers: bearer(), expect: 200 });
    await send('GET', '/api/settings/providers', { headers: bearer(member), expect: 403 });
    await send('DELETE', '/api/settings/providers?provider=vapi', {
      headers: bearer(),
      expect: 204,
    });
    await send('POST', `/api/webhooks/twilio/status?tenant=${orgId}&agentId=${agentId}`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'CallSid=CA0123456789abcdef0123456789abcdef&CallStatus=ringing',
      expect: 401,
    });
    await send('POST', `/api/webhooks/vapi?tenant=${orgId}`, {
      payload: { message: { type: 'status-update', status: 'ringing' } },
      expect: 401,
    });
    await send('POST', `/api/webhooks/retell?tenant=${orgId}`, {
      headers: { 'x-retell-signature': 'v=1,d=00' },
      payload: { event: 'call_started', call: { call_id: 'call_x' } },
      expect: 401,
    });
    await send('GET', '/healthz', { expect: 200 });
    await send('GET', '/readyz', { expect: 200 });
    await send('GET', '/api/openapi.json', { expect: 200 });

    // The router's own route for each answer, from the request log line.
    await new Promise((resolve) => setImmediate(resolve));
    const routeOf = new Map(
      logLines
        .filter((line) => line.msg === 'request completed')
        .map((line) => [line.reqId as string, line.route as string]),
    );
    const checked = new Set<string>();
    for (const answer of seen) {
      const route = routeOf.get(answer.id);
      const where = `${answer.method} ${route} → ${answer.status}`;
      expect(route, where).toBeDefined();
      const op = doc.paths[toTemplate(route!)]?.[answer.method.toLowerCase()];
      expect(op, where).toBeDefined();
      const documented = op.responses[String(answer.status)];
      expect(documented, where).toBeDefined();
      checked.add(`${op.operationId} ${answer.status}`);
      if (answer.status === 204) continue;
      const mediaType = answer.type.split(';')[0]!.trim();
      const media = documented.content?.[mediaType];
      expect(media, `${where} as ${mediaType}`).toBeDefined();
      if (mediaType.endsWith('json') && mediaType !== 'application/x-ndjson') {
        const validate = validator(media.schema);
        expect(
          validate(JSON.parse(answer.body)),
          `${where}: ${JSON.stringify(validate.errors)}`,
        ).toBe(true);
      }
    }
    // Every operation but the event stream (it stays open) was called at least once.
    const called = new Set([...checked].map((c) => c.split(' ')[0]));
    const uncalled = operations()
      .map(({ op }) => op.operationId)
      .filter((o) => !called.has(o));
    expect(uncalled).toEqual(['streamCalls']);
    for (const status of [200, 201, 204, 400, 401, 403, 404, 409, 413, 415]) {
      expect(
        [...checked].some((c) => c.endsWith(` ${status}`)),
        String(status),
      ).toBe(true);
    }
  });

  it('serves Swagger UI at /docs from this server only, under its own policy', async () => {
    for (const url of ['/docs', '/docs/']) {
      const page = await t.app.inject({ method: 'GET', url });
      expect(page.statusCode, url).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<div id="swagger-ui">');
      // Not the dashboard's page (its fallback answers every other GET outside /api).
      expect(page.body).not.toContain('callmind-config');
      const assets = [...page.body.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)];
      expect(assets.length).toBeGreaterThanOrEqual(5);
      for (const [, asset] of assets) {
        // Same origin: no scheme, no //host.
        expect(asset, asset).not.toMatch(/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i);
        const resolved = new URL(asset!, `http://localhost${url}`).pathname;
        expect(resolved.startsWith('/docs/static/'), resolved).toBe(true);
        const res = await t.app.inject({ method: 'GET', url: resolved });
        expect(res.statusCode, resolved).toBe(200);
        expect(res.headers['content-security-policy']).toBe(DOCS_CSP);
      }
      expect(page.headers['content-security-policy']).toBe(DOCS_CSP);
    }
    // The page loads the document the server makes, from here, and no validator badge.
    const init = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(init.body).toContain("resolveUrl('./json')");
    expect(init.body).toContain('validatorUrl: null');
    const code = init.body.replace(/^\s*\/\/.*$/gm, '');
    expect(code).not.toMatch(/https?:\/\//);
    const json = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(json.json()).toEqual(doc);

    // An unknown page under /docs is a 404, not the dashboard.
    const missing = await t.app.inject({ method: 'GET', url: '/docs/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it("leaves the dashboard's policy alone, and the docs' is no looser in any directive", async () => {
    const parse = (header: string) =>
      new Map(
        header
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .filter((parts) => parts[0] !== '')
          .map(([name, ...sources]) => [name!, sources]),
      );
    const dashboard = await t.app.inject({ method: 'GET', url: '/' });
    expect(dashboard.statusCode).toBe(200);
    const dashboardCsp = parse(dashboard.headers['content-security-policy'] as string);
    // Still the dashboard's own: recordings from anywhere, scripts only from here.
    expect(dashboardCsp.get('media-src')).toEqual(["'self'", 'https:', 'http:']);
    expect(dashboardCsp.get('script-src')).toEqual(["'self'"]);
    const docsCsp = parse(DOCS_CSP);
    for (const [directive, sources] of docsCsp) {
      const allowed = dashboardCsp.get(directive) ?? dashboardCsp.get('default-src')!;
      expect(dashboardCsp.has(directive) || directive.endsWith('-src'), directive).toBe(true);
      for (const source of sources) expect(allowed, `${directive} ${source}`).toContain(source);
    }
    expect([...dashboardCsp.keys()].filter((d) => !d.endsWith('-src') && !docsCsp.has(d))).toEqual(
      [],
    );
  });
});
