// Logs carry request ids and never tokens or caller data (transcripts, collectedData, numbers).
import net from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../../src/http/app.js';
import { newCallSid } from '../factories.js';
import { createTestClerk } from '../setup/clerk.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const SECRETS = {
  token: 'eyJhbGciOiJSUzI1NiJ9.secret-token-payload.signature',
  callerNumber: '+15550009999',
  callerName: 'Ada Secretperson',
  transcript: 'Agent: hello\nCaller: my card is 4111 1111 1111 1111',
  email: 'ada.secret@example.com',
  summary: 'Private summary of a private call',
};

describe.each(TEST_DIALECTS)('log hygiene (%s)', (dialect) => {
  let t: TestApp;
  const lines: string[] = [];
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    t = await createTestApp(dialect, {
      logger: { ...(loggerOptions({ logLevel: 'trace' }) as object), stream },
    });
  });
  afterAll(() => t.close());

  it('logs one line per request with its id, and no secret or caller data anywhere', async () => {
    const headers = { authorization: `Bearer ${SECRETS.token}`, 'x-request-id': 'req-log-test-1' };
    const callSid = newCallSid();
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      headers,
      payload: {
        agentId: 'agent_logs',
        callSid,
        callerNumber: SECRETS.callerNumber,
        callerName: SECRETS.callerName,
      },
    });
    const id = created.json<{ id: string }>().id;
    await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      headers,
      payload: {
        status: 'completed',
        transcript: SECRETS.transcript,
        summary: SECRETS.summary,
        collectedData: { email: SECRETS.email },
      },
    });
    // Refused input is not echoed into the logs either.
    await t.app.inject({
      method: 'PATCH',
      url: `/api/call-history/${id}/status`,
      headers,
      payload: { status: 'completed', transcript: SECRETS.transcript, bogus: SECRETS.email },
    });
    await t.app.inject({
      method: 'GET',
      url: `/api/call-history?agentId=agent_logs&cursor=${encodeURIComponent(SECRETS.callerNumber)}`,
      headers,
    });
    await t.app.inject({ method: 'POST', url: '/api/call-history', headers, payload: '{bad json' });

    const text = lines.join('\n');
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(text.includes(secret), `${name} leaked into the logs`).toBe(false);
    }
    expect(text.includes('4111')).toBe(false);
    const completed = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'request completed');
    expect(completed).toHaveLength(5);
    expect(completed[0]).toMatchObject({
      reqId: 'req-log-test-1',
      status: 201,
      route: '/api/call-history',
    });
  });

  it('a malformed HTTP request logged at trace level does not leak its raw bytes', async () => {
    const url = new URL(await t.listen());
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      'POST /api/call-history HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${SECRETS.token}\r\n` +
        'Transfer-Encoding: chunked\r\n\r\nzz-not-a-chunk\r\n',
    );
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.on('data', () => {});
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2000);
    });
    const text = lines.join('\n');
    expect(text).toContain('client error'); // the line we are checking was logged at all
    // Raw bytes would appear as a JSON byte array: decode every array of numbers too.
    const byteArrays = [...text.matchAll(/\[(\d{1,3}(?:,\d{1,3}){20,})\]/g)].map((m) =>
      Buffer.from(m[1]!.split(',').map(Number)).toString('latin1'),
    );
    for (const candidate of [text, ...byteArrays]) {
      expect(candidate.includes(SECRETS.token)).toBe(false);
    }
  });

  it('dev mode says so, loudly, at start', () => {
    const warning = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((entry) => entry.msg.startsWith('DEV MODE'));
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toMatch(/no authentication/);
  });

  it('a 500 is logged with its request id, and its body hides the cause', async () => {
    const failing = await createTestApp(dialect, {
      logger: {
        ...(loggerOptions({ logLevel: 'info' }) as object),
        stream: new Writable({
          write(chunk: Buffer, _e, done) {
            lines.push(chunk.toString('utf8'));
            done();
          },
        }),
      },
    });
    // A closed database is a bug-shaped failure: the handler must hide it.
    await failing.database.close();
    const res = await failing.app.inject({
      method: 'GET',
      url: '/api/call-history',
      headers: { 'x-request-id': 'req-500-test' },
    });
    expect(res.statusCode).toBe(500);
    const body = res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ status: 500, code: 'internal_error', requestId: 'req-500-test' });
    expect(JSON.stringify(body)).not.toMatch(/database|connection|stack|\.ts/i);
    expect(lines.some((l) => l.includes('req-500-test') && l.includes('request failed'))).toBe(
      true,
    );
    await failing.close();
  });
});

describe.each(TEST_DIALECTS)('log hygiene with authentication on (%s)', (dialect) => {
  const clerk = createTestClerk();
  const lines: string[] = [];
  let t: TestApp;
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    t = await createTestApp(dialect, {
      env: clerk.env,
      logger: { ...(loggerOptions({ logLevel: 'trace' }) as object), stream },
    });
  });
  afterAll(() => t.close());

  it('never logs session tokens, API keys or webhook secrets, valid or not', async () => {
    const session = clerk.session({ userId: 'user_log', orgId: 'org_log', role: 'admin' });
    const made = await t.app.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: { authorization: `Bearer ${session}` },
      payload: { name: 'logged?' },
    });
    const key = made.json<{ key: string }>().key;
    const secret = (await t.services.webhookSigning.createSecret('org_log', 1)).secret;
    const bad = `${key.slice(0, -1)}x`;
    for (const token of [session, key, bad, 'garbage-token']) {
      await t.app.inject({
        method: 'GET',
        url: '/api/call-history',
        headers: { authorization: `Bearer ${token}` },
      });
    }
    await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/completed?tenant=org_log',
      headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,xyz' },
      payload: { callSid: 'CA-log' },
    });
    const text = lines.join('');
    for (const secretText of [session, key, key.slice(6), bad, secret, secret.slice(6)]) {
      expect(text.includes(secretText)).toBe(false);
    }
    expect(text).toContain('request completed');
  });
});
