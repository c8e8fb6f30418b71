// Replays the integration guide (docs/integration-guide.md, the user's spec) against a real
// server: its JSON bodies, every cURL command as written (only the host and the example call
// ids replaced), its Node.js example and, where python3 has `requests`, its Python example.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const run = promisify(execFile);
const GUIDE_PATH = path.resolve('docs/integration-guide.md');
const SHARED_SPEC = path.resolve('../shared/spec/call-history-integration-guide.md');
const guide = fs.readFileSync(GUIDE_PATH, 'utf8');

interface Block {
  readonly lang: string;
  readonly code: string;
  /** The nearest heading above the block. */
  readonly heading: string;
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    const fence = /^```(\w*)$/.exec(line);
    if (fence) {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
      blocks.push({ lang: fence[1] ?? '', code: body.join('\n'), heading });
    }
  }
  return blocks;
}

const blocks = codeBlocks(guide);
const blocksUnder = (heading: string, lang: string) =>
  blocks.filter((b) => b.heading.startsWith(heading) && b.lang === lang);
const onlyBlock = (heading: string, lang: string): string => {
  const found = blocksUnder(heading, lang);
  if (found.length !== 1) throw new Error(`expected one ${lang} block under "${heading}"`);
  return found[0]!.code;
};

/** Splits a bash block into its curl commands (comments dropped, continuations kept). */
function curlCommands(code: string): string[] {
  return code
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .split(/\n(?=curl )/)
    .map((c) => c.trim())
    .filter((c) => c.startsWith('curl '));
}

describe('the integration guide', () => {
  it('docs/integration-guide.md is the spec as shared with the team', () => {
    if (!fs.existsSync(SHARED_SPEC)) return; // a checkout without ../shared has only our copy
    expect(guide).toBe(fs.readFileSync(SHARED_SPEC, 'utf8'));
  });
});

describe.each(TEST_DIALECTS)('the guide, replayed verbatim (%s)', (dialect) => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp(dialect);
    base = await t.listen();
  });
  afterAll(() => t.close());

  const withHost = (text: string) =>
    text
      .replaceAll('https://your-callmind-api.com', base)
      .replaceAll('http://localhost:3001', base);

  /** Runs one curl command as written; only a status-code trailer is added to read the answer. */
  async function curl(command: string): Promise<{ status: number; body: any }> {
    const { stdout } = await run('bash', [
      '-c',
      `${withHost(command)} --silent --show-error --write-out '\\n%{http_code}'`,
    ]);
    const newline = stdout.lastIndexOf('\n');
    const text = stdout.slice(0, newline);
    return { status: Number(stdout.slice(newline + 1)), body: text ? JSON.parse(text) : null };
  }

  const inject = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) => {
    const res = await t.app.inject({ method, url, ...(payload ? { payload } : {}) });
    return { status: res.statusCode, body: res.json() };
  };

  it('walks the guide top to bottom with the statuses it documents', async () => {
    // 1. Create Call Record: the request body, then the cURL example.
    const [requestJson, responseJson] = blocksUnder('1. Create Call Record', 'json');
    const createBody = JSON.parse(requestJson!.code);
    const documentedResponse = JSON.parse(responseJson!.code);
    const created = await inject('POST', '/api/call-history', createBody);
    expect(created.status).toBe(201);
    // The documented response's fields, with our values: id, agentId, status, createdAt.
    for (const key of Object.keys(documentedResponse)) expect(created.body).toHaveProperty(key);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^call_/),
      agentId: 'agent_12345',
      status: 'in-progress',
      createdAt: expect.any(String),
      startedAt: '2025-01-17T10:30:00.000Z',
      callerName: 'John Doe',
    });

    const [createCurl] = curlCommands(onlyBlock('1. Create Call Record', 'bash'));
    const curlCreated = await curl(createCurl!);
    expect(curlCreated.status).toBe(201);
    expect(curlCreated.body).toMatchObject({ callSid: 'CA-unique-call-id', status: 'in-progress' });

    // 2. Update Call Status: the documented body on the first call, then the cURL example.
    const updateBody = JSON.parse(blocksUnder('2. Update Call Status', 'json')[0]!.code);
    const updated = await inject(
      'PATCH',
      `/api/call-history/${created.body.id}/status`,
      updateBody,
    );
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ ...updateBody, id: created.body.id });

    const [updateCurl] = curlCommands(onlyBlock('2. Update Call Status', 'bash'));
    const unknown = await curl(updateCurl!);
    expect(unknown.status).toBe(404); // call_789 does not exist here: "Call ID doesn't exist"
    expect(unknown.body.code).toBe('call_not_found');
    const curlUpdated = await curl(updateCurl!.replace('call_789', curlCreated.body.id));
    expect(curlUpdated.status).toBe(200);
    expect(curlUpdated.body).toMatchObject({
      status: 'completed',
      duration: 245,
      sentiment: 'positive',
    });

    // 3. Webhooks: same callSid as the cURL create above, so both merge into it (200).
    const startedJson = JSON.parse(onlyBlock('Call Started Webhook', 'json'));
    const completedJson = JSON.parse(onlyBlock('Call Completed Webhook', 'json'));
    const started = await inject('POST', '/api/webhooks/calls/started', startedJson);
    expect(started.status).toBe(200);
    expect(started.body.id).toBe(curlCreated.body.id);
    const completed = await inject('POST', '/api/webhooks/calls/completed', completedJson);
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({
      id: curlCreated.body.id,
      status: 'completed',
      summary: 'Customer asked about pricing',
      recordingUrl: 'https://...',
    });

    // Complete Example: Step 1 returns the id that Step 2 uses in place of call_abc123.
    const [step1] = curlCommands(onlyBlock('Step 1: Call Starts', 'bash'));
    const step1Result = await curl(step1!);
    expect(step1Result.status).toBe(201);
    const [step2] = curlCommands(onlyBlock('Step 2: Call Ends', 'bash'));
    const step2Result = await curl(step2!.replace('call_abc123', step1Result.body.id));
    expect(step2Result.status).toBe(200);
    expect(step2Result.body).toMatchObject({
      status: 'completed',
      duration: 180,
      topics: ['sales', 'pricing'],
      collectedData: { company: 'Acme Inc', budget: '$5000' },
      cost: 0.12,
    });

    // Testing the Integration: two commands against localhost:3001, the second with {ID}.
    const [testCreate, testUpdate] = curlCommands(onlyBlock('Testing the Integration', 'bash'));
    const testCreated = await curl(testCreate!);
    expect(testCreated.status).toBe(201);
    const testUpdated = await curl(testUpdate!.replace('{ID}', testCreated.body.id));
    expect(testUpdated.status).toBe(200);
    expect(testUpdated.body).toMatchObject({ status: 'completed', duration: 60 });
  });

  it('runs the Node.js example as written', async () => {
    const code = withHost(onlyBlock('Node.js / JavaScript', 'javascript'));
    const { stdout } = await run(process.execPath, [
      '--input-type=module',
      '-e',
      `${code}\nconsole.log(JSON.stringify({ callId }))`,
    ]);
    const { callId } = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(callId).toMatch(/^call_/);
    const call = await inject('GET', `/api/call-history/${callId}`);
    expect(call.body).toMatchObject({
      callSid: 'CA-unique-id',
      agentId: 'agent_123',
      status: 'completed',
      duration: 180,
      summary: 'Helped customer with login issue',
      topics: ['support'],
      recordingUrl: 'https://...',
    });
  });

  const hasPythonRequests = (() => {
    try {
      execFileSync('python3', ['-c', 'import requests'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.runIf(hasPythonRequests)('runs the Python example as written', async () => {
    const code = withHost(onlyBlock('Python', 'python'));
    const sid = 'CA-unique-id';
    const before = await inject('GET', `/api/call-history/by-sid/${sid}`);
    await run('python3', ['-c', `${code}\nprint(call_id)`]);
    const call = await inject('GET', `/api/call-history/by-sid/${sid}`);
    expect(call.status).toBe(200);
    if (before.status === 200) expect(call.body.id).toBe(before.body.id);
    // Python sends None for what it lacks; None must not erase what was stored.
    expect(call.body).toMatchObject({ status: 'completed', duration: 180, sentiment: 'positive' });
  });

  it('replays the Python example bodies (None → null) even without python3', async () => {
    const { body } = await inject('POST', '/api/call-history', {
      agentId: 'agent_123',
      userId: 'user_456',
      callSid: 'CA-python-replay',
      direction: 'inbound',
      callerNumber: '+1234567890',
      status: 'in-progress',
    });
    const ended = await inject('PATCH', `/api/call-history/${body.id}/status`, {
      status: 'completed',
      duration: 180,
      recordingUrl: 'https://...',
      transcript: 'Full conversation...',
      sentiment: 'positive',
      topics: [],
      summary: null,
      collectedData: {},
      cost: 0,
    });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ status: 'completed', summary: null, cost: 0, topics: [] });
  });
});
