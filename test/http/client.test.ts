// The typed client (src/client, `callmind/client`): the integration guide's whole flow against a
// real server process with an API key, on both dialects; the cursors followed without a call
// skipped or repeated; errors as the server sends them; retries and timeouts against a small
// scripted node:http server; the CLI's commands over HTTP; and no server code in the client.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CallmindApiError,
  CallmindNetworkError,
  CallmindTimeoutError,
  createCallmindClient,
  type Call,
  type CallmindClient,
  type CallmindClientOptions,
  type CreateCallBody,
  type RetryEvent,
  type UpdateCallStatusBody,
} from '../../src/client/index.js';
import { createKey } from '../../src/cli/commands.js';
import { loadConfig } from '../../src/config.js';
import { completionBody, newAgentId, newCallSid, uniqueId } from '../factories.js';
import { cliEnv, runCli } from '../setup/cli-process.js';
import { REPO_ROOT, spawnServer, type ServerProcess } from '../setup/server-process.js';
import {
  createTestApp,
  createTestPostgresDatabase,
  makeTempDir,
  TEST_DIALECTS,
} from '../setup/test-app.js';

const newCaller = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

describe.each(TEST_DIALECTS)('typed client against a real server (%s)', (dialect) => {
  let dir: string;
  let databaseUrl: string;
  let dropDatabase = async () => {};
  let server: ServerProcess;
  let client: CallmindClient;
  let key: string;
  const retries: RetryEvent[] = [];

  const newKey = async (org: string) =>
    (
      await createKey(loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' }), {
        org,
        name: 'client test',
      })
    ).key;

  beforeAll(async () => {
    dir = makeTempDir('callmind-client-');
    if (dialect === 'sqlite') {
      databaseUrl = `sqlite:${path.join(dir, 'callmind.db')}`;
    } else {
      const created = await createTestPostgresDatabase();
      databaseUrl = created.url;
      dropDatabase = created.drop;
    }
    // Authentication on, as in production: the client must send its key.
    key = await newKey(uniqueId('org_'));
    server = await spawnServer({
      env: { DATABASE_URL: databaseUrl, AUTH_REQUIRED: '1', SWEEP_INTERVAL_SECONDS: '0' },
    });
    // The guide's form of the URL, /api included.
    client = createCallmindClient({
      baseUrl: `${server.baseUrl}/api`,
      token: key,
      onRetry: (event) => retries.push(event),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await dropDatabase();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs the guide whole flow: create, update, get, list, webhooks, stats, export, erase', async () => {
    const agentId = newAgentId();
    const callerNumber = newCaller();
    const agent = await client.agents.create({ name: 'Reception', id: agentId });
    expect(agent).toMatchObject({ id: agentId, name: 'Reception' });
    expect((await client.agents.list()).map((a) => a.id)).toContain(agentId);
    expect(await client.agents.get(agentId)).toEqual(agent);

    // Step 1: the call starts.
    const start: CreateCallBody = {
      agentId,
      callSid: newCallSid(),
      direction: 'inbound',
      callerNumber,
      callerName: 'John Doe',
      status: 'in-progress',
      startedAt: '2025-01-17T10:30:00Z',
    };
    const created = await client.calls.create(start);
    expect(created).toMatchObject({ agentId, status: 'in-progress', callerNumber });
    expect(created.id).toMatch(/^call_/);
    // Sent again (a retry, a redelivery): the same call.
    expect((await client.calls.create(start)).id).toBe(created.id);

    // Step 2: the call ends.
    const completed = await client.calls.updateStatus(created.id, {
      ...(completionBody() as UpdateCallStatusBody),
      collectedData: { plan: 'pro', email: 'john@example.com' },
    });
    expect(completed).toMatchObject({ status: 'completed', duration: 245, sentiment: 'positive' });
    expect(completed.topics).toEqual(['support', 'billing']);
    expect(await client.calls.get(created.id)).toEqual(completed);
    expect(await client.calls.getBySid(start.callSid)).toEqual(completed);
    const timeline = await client.calls.events(created.id);
    expect(timeline.data[0]!.kind).toBe('create');
    expect(timeline.data.at(-1)!.kind).toBe('status_update');

    // The webhook way, for a second call.
    const sid = newCallSid();
    const started = await client.webhooks.started({ callSid: sid, agentId, callerNumber });
    expect(started).toMatchObject({ callSid: sid, status: 'in-progress' });
    const ended = await client.webhooks.completed({
      callSid: sid,
      duration: 60,
      sentiment: 'neutral',
      summary: 'Asked about pricing',
    });
    expect(ended).toMatchObject({ id: started!.id, status: 'completed', duration: 60 });

    const page = await client.calls.list({ agentId, sort: 'oldest', includeTotal: true });
    expect(page.total).toBe(2);
    expect(page.nextCursor).toBeNull();
    expect(page.data.map((c) => c.id)).toEqual([created.id, started!.id]);
    expect(page.data[0]!.hasTranscript).toBe(true);
    expect(page.data[0]!.transcript).toBeUndefined();

    const stats = await client.calls.stats({ agentId, tz: 'UTC' });
    expect(stats.total).toBe(2);
    expect(stats.byStatus.completed).toBe(2);
    expect(stats.bySentiment).toMatchObject({ positive: 1, neutral: 1 });

    const exported: Call[] = [];
    for await (const call of client.calls.export({ format: 'ndjson', agentId })) {
      exported.push(call);
    }
    expect(exported.map((c) => c.id).sort()).toEqual([created.id, started!.id].sort());
    expect(exported.find((c) => c.id === created.id)).toEqual(completed);
    let csv = '';
    for await (const chunk of client.calls.export({ format: 'csv', agentId })) csv += chunk;
    expect(csv.split('\n')[0]).toMatch(/^id,callSid,agentId,/);
    expect(csv).toContain(`\n${created.id},${start.callSid},`);
    expect(csv).toContain(`\n${started!.id},${sid},`);

    // A data subject's erasure: both calls go.
    expect(await client.calls.erase(callerNumber)).toEqual({ deleted: 2 });
    const gone = await client.calls.get(created.id).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(CallmindApiError);
    expect(gone).toMatchObject({ status: 404, code: 'call_not_found' });
    expect(retries).toEqual([]);
  });

  it('iterates over every page: no call skipped or repeated', async () => {
    const agentId = newAgentId();
    await client.agents.create({ name: 'Pages', id: agentId });
    // Some share a startedAt: the cursor must break the tie.
    const ids = await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const call = await client.calls.create({
          agentId,
          callSid: newCallSid(),
          startedAt: `2025-02-0${1 + (i % 3)}T09:00:00Z`,
        });
        return call.id;
      }),
    );
    for (const sort of ['newest', 'oldest'] as const) {
      const seen: string[] = [];
      for await (const call of client.calls.iterate({ agentId, limit: 2, sort })) {
        seen.push(call.id);
      }
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set(ids));
    }
    const pages: number[] = [];
    for await (const page of client.calls.pages({ agentId, limit: 2 }))
      pages.push(page.data.length);
    expect(pages).toEqual([2, 2, 2, 1]);

    // Deleting one (and the idempotent delete's 404 on a second try surfaces as an error).
    await client.calls.delete(ids[0]!);
    await expect(client.calls.delete(ids[0]!)).rejects.toMatchObject({ status: 404 });
    let left = 0;
    for await (const _call of client.calls.iterate({ agentId, limit: 3 })) left += 1;
    expect(left).toBe(6);
  });

  it('encodes filters as the server reads them: repeated values, collectedData.KEY, booleans', async () => {
    const agentId = newAgentId();
    await client.agents.create({ name: 'Filters', id: agentId });
    const make = (body: Partial<CreateCallBody>) =>
      client.calls.create({ agentId, callSid: newCallSid(), ...body });
    const match = await make({
      status: 'completed',
      topics: ['billing, refunds'],
      collectedData: { plan: 'pro', seats: 5, vip: true },
      recordingUrl: 'https://example.com/a.mp3',
      startedAt: '2025-03-01T10:00:00Z',
    });
    await make({
      status: 'missed',
      collectedData: { plan: 'free' },
      startedAt: '2025-03-01T11:00:00Z',
    });
    await make({
      status: 'in-progress',
      collectedData: { plan: 'pro' },
      startedAt: '2025-03-02T10:00:00Z',
    });
    const ids = async (query: Parameters<CallmindClient['calls']['list']>[0]) =>
      (await client.calls.list({ agentId, ...query })).data.map((c) => c.id);

    expect(await ids({ status: ['completed', 'missed'], collectedData: { plan: 'pro' } })).toEqual([
      match.id,
    ]);
    expect(await ids({ topic: 'billing, refunds' })).toEqual([match.id]);
    expect(await ids({ collectedData: { seats: 5, vip: true } })).toEqual([match.id]);
    expect(await ids({ hasRecording: true })).toEqual([match.id]);
    expect(await ids({ hasRecording: false })).toHaveLength(2);
    expect(
      await ids({ from: new Date('2025-03-01T00:00:00Z'), to: new Date('2025-03-01T10:30:00Z') }),
    ).toEqual([match.id]);
    expect((await client.calls.stats({ agentId, status: ['missed', 'in-progress'] })).total).toBe(
      2,
    );
  });

  it('maps problem answers: 400 with its fields, 404, 401; none of them retried', async () => {
    const before = retries.length;
    const bad = await client.calls
      .create({
        agentId: 'agent_x',
        callSid: newCallSid(),
        status: 'bogus',
      } as unknown as CreateCallBody)
      .catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(CallmindApiError);
    const problem = bad as CallmindApiError;
    expect(problem).toMatchObject({ status: 400, code: 'validation_failed', method: 'POST' });
    expect(problem.errors.map((e) => e.field)).toContain('status');
    expect(problem.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(problem.message).toContain('status');

    await expect(
      client.calls.updateStatus('call_nope', { status: 'completed' }),
    ).rejects.toMatchObject({
      status: 404,
      code: 'call_not_found',
    });
    await expect(client.calls.list({ limit: 500 })).rejects.toMatchObject({ status: 400 });

    const anonymous = createCallmindClient({
      baseUrl: server.baseUrl,
      onRetry: (e) => retries.push(e),
    });
    await expect(anonymous.calls.list()).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    });
    expect(retries.length).toBe(before);
  });

  describe.runIf(dialect === TEST_DIALECTS[0])('the CLI over HTTP', () => {
    it('calls list prints a page, follows the cursors with --all, and says where more are', async () => {
      const agentId = newAgentId();
      await client.agents.create({ name: 'CLI', id: agentId });
      const made = await Promise.all(
        Array.from({ length: 3 }, () => client.calls.create({ agentId, callSid: newCallSid() })),
      );
      const env = cliEnv(databaseUrl, { CALLMIND_TOKEN: key });
      const all = await runCli(env, [
        'calls',
        'list',
        '--url',
        server.baseUrl,
        '--agent',
        agentId,
        '--limit',
        '2',
        '--all',
        '--json',
      ]);
      expect(all).toMatchObject({ code: 0, stderr: '' });
      const lines = all.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Call);
      expect(new Set(lines.map((c) => c.id))).toEqual(new Set(made.map((c) => c.id)));

      const first = await runCli(env, [
        'calls',
        'list',
        '--url',
        server.baseUrl,
        '--agent',
        agentId,
        '--limit',
        '2',
      ]);
      expect(first.code).toBe(0);
      expect(first.stdout.trim().split('\n')).toHaveLength(2);
      expect(first.stdout).toMatch(/^call_\S+ {2}\d{4}-\S+ {2}in-progress {2}inbound/);
      expect(first.stderr).toMatch(/^more calls: --cursor \S+\n$/);

      const refused = await runCli(env, [
        'calls',
        'list',
        '--url',
        server.baseUrl,
        '--status',
        'bogus',
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^error: 400 validation_failed: .*\n {2}status: /);
      const noUrl = await runCli(env, ['calls', 'list']);
      expect(noUrl.code).toBe(2);
      expect(noUrl.stderr).toContain('--url URL or CALLMIND_URL');
    });

    it('calls push sends an export to another tenant, idempotently, and names a refused line', async () => {
      const agentId = newAgentId();
      await client.agents.create({ name: 'Push', id: agentId });
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          client.calls.create({
            agentId,
            callSid: newCallSid(),
            status: 'completed',
            startedAt: `2025-04-01T10:0${i}:00Z`,
            duration: 30 + i,
            transcript: `Agent: call ${i}`,
            topics: ['moving'],
            collectedData: { n: i },
            cost: 0.01 * i,
          }),
        ),
      );
      const file = path.join(dir, 'export.ndjson');
      const out = fs.createWriteStream(file);
      for await (const call of client.calls.export({ format: 'ndjson', agentId })) {
        out.write(`${JSON.stringify(call)}\n`);
      }
      await new Promise<void>((resolve) => out.end(resolve));

      const otherKey = await newKey(uniqueId('org_'));
      const other = createCallmindClient({ baseUrl: server.baseUrl, token: otherKey });
      const env = cliEnv(databaseUrl, { CALLMIND_TOKEN: otherKey, CALLMIND_URL: server.baseUrl });
      // The other tenant has no such agent yet: the first line is refused, by its number.
      const refused = await runCli(env, ['calls', 'push', file, '--concurrency', '1']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^error: line 1: 404 agent_not_found: /);
      expect(refused.stderr).toContain('0 calls were pushed');

      await other.agents.create({ name: 'Push', id: agentId });
      for (let run = 0; run < 2; run++) {
        const pushed = await runCli(env, ['calls', 'push', file, '--json']);
        expect(pushed).toMatchObject({ code: 0, stderr: '' });
        expect(JSON.parse(pushed.stdout)).toEqual({ calls: 5 });
      }
      const original = new Map<string, Call>();
      for await (const call of client.calls.export({ format: 'ndjson', agentId })) {
        original.set(call.callSid, call);
      }
      const copies: Call[] = [];
      for await (const call of other.calls.export({ format: 'ndjson', agentId })) copies.push(call);
      expect(copies).toHaveLength(5);
      for (const copy of copies) {
        const {
          id: _id,
          orgId: _org,
          createdAt: _c,
          updatedAt: _u,
          ...rest
        } = original.get(copy.callSid)!;
        expect(copy).toMatchObject(rest);
      }
    });
  });
});

describe('typed client against the real rate limit', () => {
  it('waits out a 429 as long as its Retry-After says, then succeeds', async () => {
    const t = await createTestApp('sqlite', {
      env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '1000' },
    });
    try {
      const baseUrl = await t.listen();
      const delays: number[] = [];
      const client = createCallmindClient({
        baseUrl,
        sleep: async (ms) => {
          delays.push(ms);
          await new Promise((resolve) => setTimeout(resolve, ms));
        },
      });
      for (let i = 0; i < 3; i++) expect((await client.calls.list()).data).toEqual([]);
      expect(delays).toHaveLength(1);
      expect(delays[0]).toBeGreaterThanOrEqual(1000);
    } finally {
      await t.close();
    }
  });
});

// ---- A scripted server: each request gets the next answer of the script (the last repeats).

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}
type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Scripted {
  readonly baseUrl: string;
  readonly seen: Seen[];
  client(options?: Partial<CallmindClientOptions>): {
    client: CallmindClient;
    delays: number[];
    retried: RetryEvent[];
  };
}

const servers: http.Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function scripted(...script: Answer[]): Promise<Scripted> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      script[Math.min(seen.length, script.length) - 1]!(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    seen,
    client(options = {}) {
      const delays: number[] = [];
      const retried: RetryEvent[] = [];
      const client = createCallmindClient({
        baseUrl,
        token: 'cm_test_key',
        sleep: async (ms) => {
          delays.push(ms);
        },
        random: () => 0.5,
        onRetry: (event) => retried.push(event),
        ...options,
      });
      return { client, delays, retried };
    },
  };
}

const sampleCall = (overrides: Partial<Call> = {}): Call => ({
  id: 'call_01',
  callSid: 'CA-1',
  agentId: 'agent_1',
  userId: null,
  orgId: 'org_1',
  direction: 'inbound',
  callerNumber: '+1234567890',
  callerName: null,
  status: 'completed',
  startedAt: '2025-01-17T10:30:00.000Z',
  endedAt: null,
  duration: 60,
  recordingUrl: null,
  transcript: 'Agent: héllo',
  sentiment: null,
  topics: [],
  summary: null,
  collectedData: {},
  cost: null,
  endReason: null,
  createdAt: '2025-01-17T10:30:00.000Z',
  updatedAt: '2025-01-17T10:30:00.000Z',
  ...overrides,
});

const reply =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-request-id': 'req-1',
      ...headers,
    });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
const problem = (status: number, code: string, headers: Record<string, string> = {}, extra = {}) =>
  reply(
    status,
    { type: `/problems/${code}`, title: 'T', status, detail: `${code} happened`, code, ...extra },
    { 'content-type': 'application/problem+json; charset=utf-8', ...headers },
  );
const hangUp: Answer = (req) => req.socket.destroy();
const silence: Answer = () => {};
const page = (ids: string[], nextCursor: string | null) =>
  reply(200, {
    data: ids.map((id) => ({ ...sampleCall({ id }), hasTranscript: true })),
    nextCursor,
  });

describe('typed client retries (scripted server)', () => {
  it('waits for Retry-After on a 429, then answers; sends the key and its user agent', async () => {
    const s = await scripted(
      problem(429, 'rate_limited', { 'retry-after': '1' }),
      reply(200, sampleCall()),
    );
    const { client, delays, retried } = s.client();
    expect(await client.calls.get('call_01')).toEqual(sampleCall());
    expect(delays).toEqual([1000]);
    expect(retried).toMatchObject([
      { attempt: 1, delayMs: 1000, method: 'GET', path: '/api/call-history/call_01' },
    ]);
    expect(retried[0]!.error).toMatchObject({
      status: 429,
      code: 'rate_limited',
      retryAfterMs: 1000,
    });
    expect(s.seen).toHaveLength(2);
    expect(s.seen[0]!.headers).toMatchObject({
      authorization: 'Bearer cm_test_key',
      'user-agent': 'callmind-client',
      accept: 'application/json',
    });
  });

  it('retries a create on 503 too (it is idempotent by callSid), honouring an HTTP-date Retry-After', async () => {
    const now = Date.parse('2025-01-17T10:30:00Z');
    const s = await scripted(
      problem(503, 'service_unavailable', { 'retry-after': new Date(now + 3000).toUTCString() }),
      reply(201, sampleCall()),
    );
    const { client, delays } = s.client({ now: () => now });
    const body = { agentId: 'agent_1', callSid: 'CA-1' };
    expect(await client.calls.create(body)).toEqual(sampleCall());
    expect(delays).toEqual([3000]);
    expect(s.seen.map((r) => [r.method, r.url, JSON.parse(r.body)])).toEqual([
      ['POST', '/api/call-history', body],
      ['POST', '/api/call-history', body],
    ]);
    expect(s.seen[0]!.headers['content-type']).toBe('application/json');
  });

  it('backs off exponentially (full jitter) without Retry-After, and gives up after the retries', async () => {
    // What Fastify sends while the server stops: JSON, but no problem document.
    const closing = reply(503, {
      error: 'Service Unavailable',
      message: 'Service Unavailable',
      statusCode: 503,
    });
    const s = await scripted(closing);
    const { client, delays } = s.client({
      retries: { retries: 3, baseDelayMs: 100, maxDelayMs: 300 },
    });
    const error = await client.calls.stats().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallmindApiError);
    expect(error).toMatchObject({ status: 503, code: 'http_503', detail: 'Service Unavailable' });
    // random() = 0.5 of 100, 200, 400 capped at 300.
    expect(delays).toEqual([50, 100, 150]);
    expect(s.seen).toHaveLength(4);
  });

  it('never retries a 400, and reports its fields and request id', async () => {
    const s = await scripted(
      problem(
        400,
        'validation_failed',
        {},
        { errors: [{ field: 'status', message: 'must be one of ...' }] },
      ),
    );
    const { client, delays } = s.client();
    const error = (await client.calls
      .updateStatus('call_01', { status: 'completed' })
      .catch((e: unknown) => e)) as CallmindApiError;
    expect(error).toBeInstanceOf(CallmindApiError);
    expect(error).toMatchObject({
      status: 400,
      code: 'validation_failed',
      errors: [{ field: 'status', message: 'must be one of ...' }],
      requestId: 'req-1',
      path: '/api/call-history/call_01/status',
    });
    expect(delays).toEqual([]);
    expect(s.seen).toHaveLength(1);
  });

  it('does not wait longer than maxDelayMs: a longer Retry-After is thrown at once', async () => {
    const s = await scripted(problem(429, 'rate_limited', { 'retry-after': '120' }));
    const { client, delays } = s.client();
    await expect(client.calls.list()).rejects.toMatchObject({ status: 429, retryAfterMs: 120_000 });
    expect(delays).toEqual([]);
    expect(s.seen).toHaveLength(1);
  });

  it('retries a network error for a GET, not for a POST that is not idempotent (agents.create)', async () => {
    const s = await scripted(hangUp, reply(200, { data: [] }));
    const { client, retried } = s.client();
    expect(await client.agents.list()).toEqual([]);
    expect(retried).toHaveLength(1);
    expect(retried[0]!.error).toBeInstanceOf(CallmindNetworkError);

    const t = await scripted(hangUp, reply(201, {}));
    const other = t.client();
    await expect(other.client.agents.create({ name: 'A' })).rejects.toBeInstanceOf(
      CallmindNetworkError,
    );
    expect(other.retried).toEqual([]);
    expect(t.seen).toHaveLength(1);
  });

  it('a DELETE whose answer was lost and whose retry finds nothing has done its work', async () => {
    const s = await scripted(hangUp, problem(404, 'call_not_found'));
    const { client } = s.client();
    await expect(client.calls.delete('call_01')).resolves.toBeUndefined();
    expect(s.seen.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
  });

  it('times out an attempt as a CallmindTimeoutError, retried only when idempotent', async () => {
    const s = await scripted(silence, reply(200, sampleCall()));
    const { client, retried } = s.client({ timeoutMs: 200 });
    expect(await client.calls.getBySid('CA-1')).toEqual(sampleCall());
    expect(retried[0]!.error).toBeInstanceOf(CallmindTimeoutError);
    expect(s.seen[0]!.url).toBe('/api/call-history/by-sid/CA-1');

    const t = await scripted(silence);
    const other = t.client({ timeoutMs: 200 });
    const error = await other.client.agents.create({ name: 'A' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallmindTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 200 });
    expect(t.seen).toHaveLength(1);
  });

  it("stops at once when the caller aborts, also during a retry's wait", async () => {
    const s = await scripted(problem(503, 'service_unavailable', { 'retry-after': '30' }));
    // The real sleep: the abort must cut the 30 s wait short.
    const { client } = s.client({ sleep: undefined });
    const controller = new AbortController();
    const reason = new Error('stopped by the caller');
    setTimeout(() => controller.abort(reason), 100);
    const started = Date.now();
    await expect(client.calls.list({}, { signal: controller.signal })).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('asks for a fresh token before every attempt', async () => {
    const s = await scripted(
      problem(429, 'rate_limited', { 'retry-after': '0' }),
      reply(200, { data: [] }),
    );
    let n = 0;
    const { client } = s.client({ token: async () => `token-${++n}` });
    await client.agents.list();
    expect(s.seen.map((r) => r.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
    ]);
  });
});

describe('typed client requests (scripted server)', () => {
  it('encodes queries: repeated values, commas kept in topics, collectedData.KEY, booleans, dates', async () => {
    const s = await scripted(reply(200, { data: [], nextCursor: null }));
    const c = createCallmindClient({ baseUrl: `${s.baseUrl}/prefix/api/` });
    await c.calls.list({
      status: ['completed', 'missed'],
      agentId: 'agent_1',
      topic: ['billing, refunds', 'sales'],
      collectedData: { plan: 'pro', seats: 5, vip: true },
      hasRecording: false,
      from: new Date('2025-01-01T00:00:00Z'),
      minDuration: 30,
      limit: 10,
      q: 'refund "late fee"',
    });
    const url = new URL(s.seen[0]!.url, s.baseUrl);
    expect(url.pathname).toBe('/prefix/api/call-history');
    expect([...url.searchParams]).toEqual([
      ['status', 'completed'],
      ['status', 'missed'],
      ['agentId', 'agent_1'],
      ['topic', 'billing, refunds'],
      ['topic', 'sales'],
      ['collectedData.plan', 'pro'],
      ['collectedData.seats', '5'],
      ['collectedData.vip', 'true'],
      ['hasRecording', 'false'],
      ['from', '2025-01-01T00:00:00.000Z'],
      ['minDuration', '30'],
      ['limit', '10'],
      ['q', 'refund "late fee"'],
    ]);
    // No token: no Authorization header (dev mode).
    expect(s.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('follows cursors lazily: a page is fetched only when the loop reaches it', async () => {
    const s = await scripted(page(['a', 'b'], 'c1'), page(['c', 'd'], 'c2'), page(['e'], null));
    const { client } = s.client();
    const calls = client.calls.iterate({ status: 'completed', limit: 2 })[Symbol.asyncIterator]();
    expect(s.seen).toHaveLength(0);
    expect((await calls.next()).value).toMatchObject({ id: 'a' });
    expect((await calls.next()).value).toMatchObject({ id: 'b' });
    expect(s.seen).toHaveLength(1);
    const rest: string[] = [];
    for (let next = await calls.next(); next.done !== true; next = await calls.next()) {
      rest.push(next.value.id);
    }
    expect(rest).toEqual(['c', 'd', 'e']);
    expect(s.seen.map((r) => new URL(r.url, s.baseUrl).searchParams.get('cursor'))).toEqual([
      null,
      'c1',
      'c2',
    ]);
    expect(s.seen.every((r) => r.url.includes('status=completed&limit=2'))).toBe(true);
  });

  it('streams an NDJSON export line by line, across chunk boundaries and split characters', async () => {
    const records = [sampleCall({ id: 'call_1' }), sampleCall({ id: 'call_2', summary: 'Ça va' })];
    const bytes = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const s = await scripted(
      problem(503, 'service_unavailable', { 'retry-after': '0' }),
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
        // Seven-byte pieces: lines and the two-byte é and Ç are split between them.
        let at = 0;
        const next = () => {
          if (at >= bytes.length) return res.end();
          res.write(bytes.subarray(at, (at += 7)));
          setImmediate(next);
        };
        next();
      },
    );
    const { client, delays } = s.client();
    const got: Call[] = [];
    for await (const call of client.calls.export({ format: 'ndjson', status: 'completed' }))
      got.push(call);
    expect(got).toEqual(records);
    // Retry-After: 0 is a floor; the backoff's jitter (0.5 of 250 ms) is waited for.
    expect(delays).toEqual([125]);
    expect(s.seen[1]!.url).toBe('/api/call-history/export?format=ndjson&status=completed');
    expect(s.seen[1]!.headers.accept).toBe('application/x-ndjson');
  });

  it('reports an export cut off mid-line, and stops the download when the loop stops', async () => {
    const line = `${JSON.stringify(sampleCall())}\n`;
    const cut = await scripted((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(line + line.slice(0, 20));
    });
    const received: Call[] = [];
    const cutOff = (async () => {
      for await (const call of cut.client().client.calls.export({ format: 'ndjson' }))
        received.push(call);
    })();
    await expect(cutOff).rejects.toBeInstanceOf(CallmindNetworkError);
    expect(received).toHaveLength(1);

    let closed!: () => void;
    const responseClosed = new Promise<void>((resolve) => (closed = resolve));
    const endless = await scripted((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.on('close', closed);
      const tick = () => {
        if (res.destroyed) return;
        res.write('a,b,c\n'.repeat(100));
        setTimeout(tick, 5);
      };
      tick();
    });
    let text = '';
    for await (const chunk of endless.client().client.calls.export({ format: 'csv' })) {
      text += chunk;
      if (text.length > 2000) break;
    }
    await responseClosed;
    expect(text.startsWith('a,b,c\n')).toBe(true);
  });

  it('answers null for a webhook replay of a since-deleted call (204)', async () => {
    const s = await scripted((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    const { client } = s.client();
    expect(await client.webhooks.completed({ callSid: 'CA-1', duration: 3 })).toBeNull();
    expect(s.seen[0]).toMatchObject({ method: 'POST', url: '/api/webhooks/calls/completed' });
  });
});

describe('the client carries no server code', () => {
  const config = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tsconfig.json'), 'utf8'));
  const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, REPO_ROOT);

  /** What a module loads at run time, read from the JavaScript tsc emits for it. */
  function runtimeImports(source: string, fileName: string): string[] {
    // The package is ESM ("type": "module"), so tsc emits ESM; verbatimModuleSyntax drops
    // exactly the imports marked `type`.
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { ...options, module: ts.ModuleKind.ESNext, noEmit: false },
      fileName,
    });
    const emitted = ts.createSourceFile(`${fileName}.js`, outputText, ts.ScriptTarget.Latest);
    const found: string[] = [];
    const visit = (node: ts.Node): void => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier !== undefined &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        found.push(node.moduleSpecifier.text);
      }
      if (
        ts.isCallExpression(node) &&
        (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
          (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
      ) {
        const [argument] = node.arguments;
        found.push(argument !== undefined && ts.isStringLiteral(argument) ? argument.text : '?');
      }
      ts.forEachChild(node, visit);
    };
    visit(emitted);
    return found;
  }

  it('sees a value import, and an inline `type` one (kept as a side-effect import)', () => {
    const source = [
      "import { Type } from '@sinclair/typebox';",
      "import { type Call } from '../modules/calls/calls.schemas.js';",
      "import type { Agent } from '../modules/agents/agents.schemas.js';",
      'export const t = Type;',
    ].join('\n');
    expect(runtimeImports(source, 'probe.ts')).toEqual([
      '@sinclair/typebox',
      '../modules/calls/calls.schemas.js',
    ]);
  });

  it('compiles to JavaScript that imports only its own modules', () => {
    const dirPath = path.join(REPO_ROOT, 'src', 'client');
    const files = fs.readdirSync(dirPath).filter((name) => name.endsWith('.ts'));
    const imports = files.flatMap((name) =>
      runtimeImports(fs.readFileSync(path.join(dirPath, name), 'utf8'), name).map(
        (specifier) => `${name} -> ${specifier}`,
      ),
    );
    expect(imports).toContain('index.ts -> ./errors.js');
    for (const line of imports) expect(line).toMatch(/ -> \.\/[\w-]+\.js$/);
  });
});
