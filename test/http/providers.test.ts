// Provider adapters: Twilio status and recording callbacks, Vapi server messages and Retell
// webhooks, posted as the providers document them (test/fixtures/providers) and signed here with
// the providers' documented algorithms, become calls under the ordinary ingest rules. Each
// tenant's secrets verify its deliveries only; a bad or stale signature writes nothing.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { ConfigError, loadConfig } from '../../src/config.js';
import { uniqueId } from '../factories.js';
import { createTestClerk } from '../setup/clerk.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const clerk = createTestClerk();
// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = addFormatsImport as unknown as typeof addFormatsImport.default;
const BASE = 'https://calls.example.test';

type Json = Record<string, any>;

function fixture(name: string): Json {
  const text = fs.readFileSync(
    new URL(`../fixtures/providers/${name}.json`, import.meta.url),
    'utf8',
  );
  const { _source: _ignored, ...payload } = JSON.parse(text) as Json;
  return payload;
}

/** Twilio's documented algorithm: HMAC-SHA1 of the URL + sorted name+value pairs, base64. */
function twilioSign(token: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((text, name) => text + name + params[name], url);
  return createHmac('sha1', token).update(data).digest('base64');
}

/** Retell's documented header: v=<unix ms>,d=<hex HMAC-SHA256 of body + timestamp>. */
function retellSign(apiKey: string, body: string, timestampMs: number): string {
  const digest = createHmac('sha256', apiKey)
    .update(body + String(timestampMs))
    .digest('hex');
  return `v=${timestampMs},d=${digest}`;
}

const twilioToken = () => randomBytes(16).toString('hex');
const secret = () => randomBytes(24).toString('base64url');
const newTwilioSid = (prefix: 'CA' | 'RE') => `${prefix}${randomBytes(16).toString('hex')}`;

describe.each(TEST_DIALECTS)('provider adapters (%s)', (dialect) => {
  let t: TestApp;
  let nowMs = Date.now();
  const orgA = uniqueId('org_');
  const orgB = uniqueId('org_');
  const userA = uniqueId('user_');
  const userB = uniqueId('user_');
  const twilioAgent = uniqueId('agent_tw_');
  const vapiAssistant = fixture('vapi-status-update').message.call.assistantId as string;
  const retellAgent = fixture('retell-call-started').call.agent_id as string;
  const secrets = {
    [orgA]: { twilio: twilioToken(), vapi: secret(), retell: `key_${secret()}` },
    [orgB]: { twilio: twilioToken(), vapi: secret(), retell: `key_${secret()}` },
  };
  let apiKeyA: string;

  const session = (orgId: string, role: 'admin' | 'member' = 'admin') => ({
    authorization: `Bearer ${clerk.session({ userId: orgId === orgA ? userA : userB, orgId, role })}`,
  });
  const getCall = (id: string, orgId = orgA) =>
    t.app.inject({ method: 'GET', url: `/api/call-history/${id}`, headers: session(orgId) });
  const eventsOf = async (callId: string) =>
    (
      await t.database.db
        .selectFrom('call_events')
        .select('id')
        .where('call_id', '=', callId)
        .execute()
    ).length;
  const callsWithSid = async (callSid: string) =>
    t.database.db.selectFrom('calls').select('id').where('call_sid', '=', callSid).execute();

  beforeAll(async () => {
    t = await createTestApp(dialect, {
      env: { ...clerk.env, PUBLIC_BASE_URL: BASE },
      clock: () => new Date(nowMs),
    });
    for (const orgId of [orgA, orgB]) {
      for (const provider of ['twilio', 'vapi', 'retell'] as const) {
        const res = await t.app.inject({
          method: 'PUT',
          url: '/api/settings/providers',
          headers: session(orgId),
          payload: { provider, secret: secrets[orgId]![provider] },
        });
        expect(res.statusCode, res.body).toBe(200);
      }
      for (const id of [twilioAgent, vapiAssistant, retellAgent]) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/agents',
          headers: session(orgId),
          payload: { id, name: id },
        });
        expect(res.statusCode, res.body).toBe(201);
      }
    }
    const key = await t.app.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: session(orgA),
      payload: { name: 'vapi bearer credential' },
    });
    apiKeyA = key.json().key as string;
  });
  afterAll(() => t.close());

  describe('Twilio status callbacks', () => {
    interface TwilioSend {
      tenant?: string;
      token?: string;
      agentId?: string;
      signedUrl?: string;
      signature?: string;
      path?: string;
    }
    const twilio = (params: Record<string, string>, options: TwilioSend = {}) => {
      const path =
        options.path ??
        `/api/webhooks/twilio/status?tenant=${options.tenant ?? orgA}&agentId=${options.agentId ?? twilioAgent}`;
      const signature =
        options.signature ??
        twilioSign(
          options.token ?? secrets[orgA]!.twilio,
          options.signedUrl ?? `${BASE}${path}`,
          params,
        );
      return t.app.inject({
        method: 'POST',
        url: path,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signature,
        },
        payload: new URLSearchParams(params).toString(),
      });
    };
    const status = (
      callSid: string,
      overrides: Record<string, string>,
    ): Record<string, string> => ({
      ...(fixture('twilio-status-callback').params as Record<string, string>),
      CallSid: callSid,
      ...overrides,
    });
    const ringing = (sid: string) => status(sid, { CallStatus: 'ringing', SequenceNumber: '0' });
    const answered = (sid: string) =>
      status(sid, {
        CallStatus: 'in-progress',
        SequenceNumber: '1',
        Timestamp: 'Mon, 16 Aug 2010 03:45:05 +0000',
      });
    const completed = (sid: string) =>
      status(sid, {
        CallStatus: 'completed',
        SequenceNumber: '2',
        Timestamp: 'Mon, 16 Aug 2010 03:45:47 +0000',
        CallDuration: '42',
      });

    it('ringing → in-progress → completed, with the duration Twilio reports', async () => {
      const sid = newTwilioSid('CA');
      const first = await twilio(ringing(sid));
      expect(first.statusCode, first.body).toBe(201);
      expect(first.headers.location).toBe(`/api/call-history/${first.json().id}`);
      expect(first.json()).toMatchObject({
        callSid: sid,
        agentId: twilioAgent,
        orgId: orgA,
        status: 'ringing',
        direction: 'inbound',
        callerNumber: '+14155550123',
        startedAt: '2010-08-16T03:45:01.000Z',
      });
      const second = await twilio(answered(sid));
      expect(second.statusCode).toBe(200);
      expect(second.json()).toMatchObject({
        status: 'in-progress',
        startedAt: '2010-08-16T03:45:05.000Z',
      });
      const third = await twilio(completed(sid));
      expect(third.statusCode).toBe(200);
      expect(third.json()).toMatchObject({
        id: first.json().id,
        status: 'completed',
        duration: 42,
        endedAt: '2010-08-16T03:45:47.000Z',
        endReason: null,
        collectedData: { providerEndReason: 'completed' },
      });
      const events = await t.app.inject({
        method: 'GET',
        url: `/api/call-history/${first.json().id}/events`,
        headers: session(orgA),
      });
      expect(events.json().data.map((e: Json) => [e.kind, e.statusAfter])).toEqual([
        ['started', 'ringing'],
        ['started', 'in-progress'],
        ['completed', 'completed'],
      ]);
    });

    it('a late callback with a lower SequenceNumber changes nothing, and is acknowledged', async () => {
      const sid = newTwilioSid('CA');
      await twilio(ringing(sid));
      await twilio(answered(sid));
      const done = (await twilio(completed(sid))).json();
      // What a fill-only merge would otherwise take: a name the call does not have yet.
      const late = await twilio({ ...answered(sid), CallerName: 'LATE CALLER' });
      expect(late.statusCode).toBe(200);
      expect(late.json()).toEqual(done);
      const lateRinging = await twilio({ ...ringing(sid), CallerName: 'LATE CALLER' });
      expect(lateRinging.statusCode).toBe(200);
      expect((await getCall(done.id)).json()).toEqual(done);
      expect(await eventsOf(done.id)).toBe(3);
    });

    it('a replay of the same callback is idempotent, one at a time or many at once', async () => {
      const sid = newTwilioSid('CA');
      const burst = await Promise.all(Array.from({ length: 8 }, () => twilio(ringing(sid))));
      expect(burst.every((r) => r.statusCode === 200 || r.statusCode === 201)).toBe(true);
      expect(burst.filter((r) => r.statusCode === 201)).toHaveLength(1);
      const id = burst[0]!.json().id as string;
      expect(new Set(burst.map((r) => r.json().id))).toEqual(new Set([id]));
      const done = await twilio(completed(sid));
      const again = await twilio(completed(sid));
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(done.json());
      expect(await eventsOf(id)).toBe(2);
      expect(await callsWithSid(sid)).toHaveLength(1);
    });

    it('callbacks racing each other still end on the highest SequenceNumber', async () => {
      for (let i = 0; i < 3; i++) {
        const sid = newTwilioSid('CA');
        const results = await Promise.all([
          twilio(completed(sid)),
          twilio(answered(sid)),
          twilio(ringing(sid)),
        ]);
        expect(results.map((r) => r.statusCode).sort()).toEqual([200, 200, 201]);
        const call = (await getCall(results[0].json().id)).json();
        expect(call).toMatchObject({ status: 'completed', duration: 42 });
      }
    });

    it.each([
      ['busy', 'missed', 'busy'],
      ['no-answer', 'missed', 'no_answer'],
      ['canceled', 'missed', null],
      ['failed', 'failed', 'error'],
    ])('CallStatus %s → %s (endReason %s), the raw status kept', async (raw, ours, reason) => {
      const res = await twilio(
        status(newTwilioSid('CA'), { CallStatus: raw, SequenceNumber: '1', CallDuration: '0' }),
      );
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        status: ours,
        endReason: reason,
        duration: 0,
        collectedData: { providerEndReason: raw },
      });
    });

    it('an outbound call keeps the number it went to; a machine answering is voicemail', async () => {
      const res = await twilio(
        status(newTwilioSid('CA'), {
          CallStatus: 'completed',
          SequenceNumber: '2',
          CallDuration: '42',
          Direction: 'outbound-api',
          From: '+14155550100',
          To: '+14155559999',
          AnsweredBy: 'machine_end_beep',
        }),
      );
      expect(res.json()).toMatchObject({
        direction: 'outbound',
        callerNumber: '+14155559999',
        endReason: 'voicemail',
      });
    });

    it('a recording callback fills recordingUrl; its replay changes nothing', async () => {
      const sid = newTwilioSid('CA');
      const call = (await twilio(completed(sid))).json();
      const recording: Record<string, string> = {
        ...(fixture('twilio-recording-callback').params as Record<string, string>),
        CallSid: sid,
        RecordingSid: newTwilioSid('RE'),
      };
      const res = await twilio(recording);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({
        id: call.id,
        status: 'completed',
        recordingUrl: recording.RecordingUrl,
      });
      const replay = await twilio(recording);
      expect(replay.statusCode).toBe(200);
      expect(replay.json()).toEqual(res.json());
      expect(await eventsOf(call.id)).toBe(2);
      // A recording that is not ready yet stores nothing.
      const pending = await twilio({
        ...recording,
        RecordingSid: newTwilioSid('RE'),
        RecordingStatus: 'in-progress',
      });
      expect(pending.statusCode).toBe(204);
    });

    it('a recording before any status callback makes the call, and never sets its status', async () => {
      const sid = newTwilioSid('CA');
      const recording: Record<string, string> = {
        ...(fixture('twilio-recording-callback').params as Record<string, string>),
        CallSid: sid,
        RecordingSid: newTwilioSid('RE'),
      };
      const first = await twilio(recording);
      expect(first.statusCode).toBe(201);
      expect(first.json().status).toBe('in-progress');
      const done = await twilio(completed(sid));
      expect(done.json()).toMatchObject({
        status: 'completed',
        recordingUrl: recording.RecordingUrl,
      });
    });

    it('the URL as Twilio called it: with or without the default port', async () => {
      const sid = newTwilioSid('CA');
      const path = `/api/webhooks/twilio/status?tenant=${orgA}&agentId=${twilioAgent}`;
      const res = await twilio(ringing(sid), {
        path,
        signedUrl: `https://calls.example.test:443${path}`,
      });
      expect(res.statusCode).toBe(201);
      // Not the URL the server saw behind its proxy (http://localhost:80).
      const inner = await twilio(ringing(newTwilioSid('CA')), {
        path,
        signedUrl: `http://localhost:80${path}`,
      });
      expect(inner.statusCode).toBe(401);
    });

    it('a bad signature, another tenant or an unknown one → 401 problem; nothing written', async () => {
      const sid = newTwilioSid('CA');
      const refusals = [
        await twilio(ringing(sid), { signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }),
        await twilio(
          { ...ringing(sid), CallStatus: 'completed' },
          {
            signature: twilioSign(
              secrets[orgA]!.twilio,
              `${BASE}/api/webhooks/twilio/status?tenant=${orgA}&agentId=${twilioAgent}`,
              ringing(sid),
            ),
          },
        ),
        await twilio(ringing(sid), { token: secrets[orgB]!.twilio }),
        await twilio(ringing(sid), { tenant: orgB }),
        await twilio(ringing(sid), { tenant: 'org_never_existed' }),
        await twilio(ringing(sid), { signature: '' }),
      ];
      const shapes = refusals.map((r) => {
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
        const { status: code, detail } = r.json();
        return { code, detail };
      });
      expect(refusals.map((r) => r.statusCode)).toEqual([401, 401, 401, 401, 401, 401]);
      // The unknown tenant is refused exactly as a known one with a wrong signature.
      expect(shapes[4]).toEqual(shapes[3]);
      expect(await callsWithSid(sid)).toEqual([]);
    });

    it('a missing parameter → 400 naming it (the signature checked first)', async () => {
      const { CallSid: _dropped, ...noSid } = ringing(newTwilioSid('CA'));
      const missingSid = await twilio(noSid);
      expect(missingSid.statusCode).toBe(400);
      expect(missingSid.json().errors.map((e: Json) => e.field)).toContain('CallSid');

      const { CallStatus: _none, ...noStatus } = ringing(newTwilioSid('CA'));
      const missingStatus = await twilio(noStatus);
      expect(missingStatus.statusCode).toBe(400);
      expect(missingStatus.json().errors[0].field).toBe('CallStatus');

      const noAgent = await twilio(ringing(newTwilioSid('CA')), {
        path: `/api/webhooks/twilio/status?tenant=${orgA}`,
      });
      expect(noAgent.statusCode).toBe(400);
      expect(noAgent.json().errors[0].field).toBe('agentId');

      const noTenant = await twilio(ringing(newTwilioSid('CA')), {
        path: `/api/webhooks/twilio/status?agentId=${twilioAgent}`,
      });
      expect(noTenant.statusCode).toBe(400);
      expect(noTenant.json().errors[0].field).toBe('tenant');

      const badTime = await twilio({ ...ringing(newTwilioSid('CA')), Timestamp: 'yesterday' });
      expect(badTime.statusCode).toBe(400);
      expect(badTime.json().errors[0].field).toBe('Timestamp');

      // Our limits, named as Twilio names the field.
      const longFrom = await twilio({
        ...ringing(newTwilioSid('CA')),
        From: `+1${'5'.repeat(80)}`,
      });
      expect(longFrom.statusCode).toBe(400);
      expect(longFrom.json().errors[0].field).toBe('From');

      const repeated = await t.app.inject({
        method: 'POST',
        url: `/api/webhooks/twilio/status?tenant=${orgA}&agentId=${twilioAgent}`,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': 'x',
        },
        payload: 'CallSid=CA1&CallSid=CA2',
      });
      expect(repeated.statusCode).toBe(400);
      expect(repeated.json().errors[0].field).toBe('CallSid');
    });

    it('an unknown agent is a 404 outside dev mode', async () => {
      const res = await twilio(ringing(newTwilioSid('CA')), {
        path: `/api/webhooks/twilio/status?tenant=${orgA}&agentId=agent_not_registered`,
      });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('agent_not_found');
    });
  });

  describe('Vapi server messages', () => {
    const vapi = (
      payload: Json,
      options: { tenant?: string; secret?: string | null; query?: string } = {},
    ) =>
      t.app.inject({
        method: 'POST',
        url: `/api/webhooks/vapi?tenant=${options.tenant ?? orgA}${options.query ?? ''}`,
        headers: {
          'content-type': 'application/json',
          ...(options.secret === null
            ? {}
            : { 'x-vapi-secret': options.secret ?? secrets[orgA]!.vapi }),
        },
        payload: JSON.stringify(payload),
      });
    const withCall = (name: string, callId: string, change: (message: Json) => void = () => {}) => {
      const payload = fixture(name);
      payload.message.call.id = callId;
      change(payload.message);
      return payload;
    };

    it('status-update then end-of-call-report: transcript, summary, cost, end reason, raw reason', async () => {
      const callId = randomUUID();
      const started = await vapi(withCall('vapi-status-update', callId));
      expect(started.statusCode, started.body).toBe(201);
      expect(started.json()).toMatchObject({
        callSid: callId,
        agentId: vapiAssistant,
        status: 'in-progress',
        direction: 'inbound',
        callerNumber: '+14155550123',
        callerName: 'Jane Doe',
        startedAt: '2025-04-11T09:49:33.624Z',
      });
      const report = await vapi(withCall('vapi-end-of-call-report', callId));
      expect(report.statusCode, report.body).toBe(200);
      expect(report.json()).toMatchObject({
        id: started.json().id,
        status: 'completed',
        endedAt: '2025-04-11T09:49:41.358Z',
        duration: 7.734,
        cost: 0.1234,
        endReason: 'caller_hangup',
        summary: 'The caller moved their appointment to Friday at 10.',
        recordingUrl: 'https://storage.vapi.ai/0f9c1b2e-mono.wav',
        transcript:
          "Agent: Hello, thanks for calling. How can I help?\nCaller: I'd like to move my appointment to Friday.\nAgent: Done, you're booked for Friday at 10.",
        collectedData: {
          appointmentDay: 'Friday',
          rescheduled: true,
          providerEndReason: 'customer-ended-call',
        },
      });
      // Vapi may send a report twice: the second changes nothing, not even the timeline.
      const replay = await vapi(withCall('vapi-end-of-call-report', callId));
      expect(replay.statusCode).toBe(200);
      expect(replay.json()).toEqual(report.json());
      // A status-update "ended" arriving after the report does not undo it.
      const ended = await vapi(
        withCall('vapi-status-update', callId, (m) => {
          m.status = 'ended';
          m.endedReason = 'customer-ended-call';
          m.timestamp = 1744364981400;
          m.call.endedAt = '2025-04-11T09:49:41.358Z';
        }),
      );
      expect(ended.json()).toMatchObject({ status: 'completed', cost: 0.1234 });
      expect(await eventsOf(started.json().id)).toBe(3);
    });

    it.each([
      ['customer-did-not-answer', 'missed', 'no_answer'],
      ['customer-busy', 'missed', 'busy'],
      ['assistant-forwarded-call', 'completed', 'transferred'],
      ['exceeded-max-duration', 'completed', 'max_duration'],
      ['pipeline-error-openai-llm-failed', 'failed', 'error'],
      ['some-future-reason', 'completed', null],
    ])('endedReason %s → %s (endReason %s)', async (reason, ours, canonical) => {
      const res = await vapi(
        withCall('vapi-end-of-call-report', randomUUID(), (m) => {
          m.endedReason = reason;
        }),
      );
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        status: ours,
        endReason: canonical,
        collectedData: { providerEndReason: reason },
      });
    });

    it('a wrong or missing secret → 401, nothing written; other message types → 204', async () => {
      const callId = randomUUID();
      const payload = withCall('vapi-end-of-call-report', callId);
      expect((await vapi(payload, { secret: secrets[orgB]!.vapi })).statusCode).toBe(401);
      expect((await vapi(payload, { secret: 'not-the-secret-at-all' })).statusCode).toBe(401);
      expect((await vapi(payload, { secret: null })).statusCode).toBe(401);
      expect((await vapi(payload, { tenant: orgB })).statusCode).toBe(401);
      expect(await callsWithSid(callId)).toEqual([]);
      const speech = await vapi({
        message: { type: 'speech-update', status: 'started', role: 'assistant', turn: 2 },
      });
      expect(speech.statusCode).toBe(204);
    });

    it('a bearer API key works instead of the secret (a Vapi Bearer Token credential)', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/webhooks/vapi',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKeyA}` },
        payload: JSON.stringify(withCall('vapi-end-of-call-report', randomUUID())),
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().orgId).toBe(orgA);
    });

    it('bad input → 400 naming the Vapi field', async () => {
      const noId = fixture('vapi-end-of-call-report');
      delete noId.message.call.id;
      const missingId = await vapi(noId);
      expect(missingId.statusCode).toBe(400);
      expect(missingId.json().errors[0].field).toBe('message.call.id');

      const transient = withCall('vapi-status-update', randomUUID(), (m) => {
        delete m.call.assistantId;
      });
      const noAgent = await vapi(transient);
      expect(noAgent.statusCode).toBe(400);
      expect(noAgent.json().errors[0].field).toBe('message.call.assistantId');
      // Named in the URL instead, it is taken.
      expect((await vapi(transient, { query: `&agentId=${vapiAssistant}` })).statusCode).toBe(201);

      const badUrl = await vapi(
        withCall('vapi-end-of-call-report', randomUUID(), (m) => {
          m.artifact.recording.mono.combinedUrl = 'ftp://storage.vapi.ai/x.wav';
        }),
      );
      expect(badUrl.statusCode).toBe(400);
      expect(badUrl.json().errors[0].field).toBe('message.artifact.recording.mono.combinedUrl');
    });
  });

  describe('Retell webhooks', () => {
    const retell = (
      payload: Json,
      options: {
        tenant?: string;
        key?: string;
        at?: number;
        signature?: string;
        body?: string;
      } = {},
    ) => {
      const body = JSON.stringify(payload);
      return t.app.inject({
        method: 'POST',
        url: `/api/webhooks/retell?tenant=${options.tenant ?? orgA}`,
        headers: {
          'content-type': 'application/json',
          'x-retell-signature':
            options.signature ??
            retellSign(options.key ?? secrets[orgA]!.retell, body, options.at ?? nowMs),
        },
        payload: options.body ?? body,
      });
    };
    const event = (name: string, callId: string, change: (call: Json) => void = () => {}) => {
      const payload = fixture(name);
      payload.call.call_id = callId;
      change(payload.call);
      return payload;
    };
    const transcript =
      "Agent: hi how are you doing?\nCaller: Doing pretty well. How are you?\nAgent: That's great to hear! I'm doing well too, thanks! What's up?\nCaller: I don't have anything in particular.\nAgent: Got it, just checking in!\nCaller: Alright. See you.\nAgent: have a nice day";

    it('call_started → call_ended → call_analyzed: transcript, cost in dollars, sentiment', async () => {
      const callId = uniqueId('retell_');
      const started = await retell(event('retell-call-started', callId));
      expect(started.statusCode, started.body).toBe(201);
      expect(started.json()).toMatchObject({
        callSid: callId,
        agentId: retellAgent,
        status: 'in-progress',
        direction: 'inbound',
        callerNumber: '+14155550123',
        startedAt: '2023-12-23T03:33:27.333Z',
      });
      const ended = await retell(event('retell-call-ended', callId));
      expect(ended.statusCode, ended.body).toBe(200);
      expect(ended.json()).toMatchObject({
        status: 'completed',
        endedAt: '2023-12-23T03:33:48.855Z',
        duration: 21.522,
        // 70.5 cents, exactly.
        cost: 0.705,
        endReason: 'caller_hangup',
        recordingUrl:
          'https://retellai.s3.us-west-2.amazonaws.com/Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6/recording.wav',
        transcript,
        sentiment: null,
        collectedData: { providerEndReason: 'user_hangup' },
      });
      const analyzed = await retell(event('retell-call-analyzed', callId));
      expect(analyzed.statusCode).toBe(200);
      expect(analyzed.json()).toMatchObject({
        status: 'completed',
        sentiment: 'positive',
        summary: 'The agent checked in with the user, who had nothing in particular to discuss.',
        cost: 0.705,
        collectedData: {
          follow_up_needed: false,
          topic: 'check-in',
          providerEndReason: 'user_hangup',
        },
      });
      // A redelivered event changes nothing.
      const again = await retell(event('retell-call-analyzed', callId));
      expect(again.json()).toEqual(analyzed.json());
      expect(await eventsOf(started.json().id)).toBe(3);
    });

    it('out of order: call_analyzed before call_ended (and call_started last) still ends right', async () => {
      const callId = uniqueId('retell_');
      const analyzed = await retell(event('retell-call-analyzed', callId));
      expect(analyzed.statusCode).toBe(201);
      const ended = await retell(event('retell-call-ended', callId));
      const started = await retell(event('retell-call-started', callId));
      expect(started.statusCode).toBe(200);
      const final = (await getCall(analyzed.json().id)).json();
      expect(final).toMatchObject({
        status: 'completed',
        startedAt: '2023-12-23T03:33:27.333Z',
        endedAt: '2023-12-23T03:33:48.855Z',
        duration: 21.522,
        sentiment: 'positive',
        endReason: 'caller_hangup',
        cost: 0.705,
        transcript,
      });
      expect(ended.json().status).toBe('completed');
    });

    it.each([
      ['dial_no_answer', 'not_connected', 'missed', 'no_answer'],
      ['dial_busy', 'not_connected', 'missed', 'busy'],
      ['call_transfer', 'ended', 'completed', 'transferred'],
      ['voicemail_reached', 'ended', 'completed', 'voicemail'],
      ['error_llm_websocket_open', 'error', 'failed', 'error'],
      ['ivr_reached', 'ended', 'completed', null],
    ])(
      'disconnection_reason %s (%s) → %s (endReason %s)',
      async (reason, callStatus, ours, canonical) => {
        const res = await retell(
          event('retell-call-ended', uniqueId('retell_'), (call) => {
            call.disconnection_reason = reason;
            call.call_status = callStatus;
          }),
        );
        expect(res.statusCode).toBe(201);
        expect(res.json()).toMatchObject({
          status: ours,
          endReason: canonical,
          collectedData: { providerEndReason: reason },
        });
      },
    );

    it('an Unknown sentiment is left unknown', async () => {
      const res = await retell(
        event('retell-call-analyzed', uniqueId('retell_'), (call) => {
          call.call_analysis.user_sentiment = 'Unknown';
        }),
      );
      expect(res.json().sentiment).toBeNull();
    });

    it('a bad, foreign, stale, early or malformed signature → 401; nothing written', async () => {
      const callId = uniqueId('retell_');
      const payload = event('retell-call-ended', callId);
      const body = JSON.stringify(payload);
      const statuses = [
        (await retell(payload, { key: `key_${secret()}` })).statusCode,
        (await retell(payload, { key: secrets[orgB]!.retell })).statusCode,
        (await retell(payload, { tenant: orgB })).statusCode,
        (await retell(payload, { at: nowMs - 5 * 60_000 - 1000 })).statusCode,
        (await retell(payload, { at: nowMs + 5 * 60_000 + 1000 })).statusCode,
        (await retell(payload, { signature: `v=${nowMs},d=zz` })).statusCode,
        (await retell(payload, { signature: 'not a signature' })).statusCode,
        // Signed, then re-serialised with other whitespace.
        (
          await retell(payload, {
            signature: retellSign(secrets[orgA]!.retell, body, nowMs),
            body: JSON.stringify(payload, null, 2),
          })
        ).statusCode,
      ];
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 401, 401]);
      expect(await callsWithSid(callId)).toEqual([]);
      // 4 minutes old is still fresh.
      expect((await retell(payload, { at: nowMs - 4 * 60_000 })).statusCode).toBe(201);
    });

    it('other events → 204; an event without its call → 400 naming it', async () => {
      const transcriptUpdate = event('retell-call-ended', uniqueId('retell_'));
      transcriptUpdate.event = 'transcript_updated';
      expect((await retell(transcriptUpdate)).statusCode).toBe(204);
      const noCall = await retell({ event: 'call_ended' });
      expect(noCall.statusCode).toBe(400);
      expect(noCall.json().errors[0].field).toBe('call');
      const noTimestamp = await retell(
        event('retell-call-ended', uniqueId('retell_'), (call) => {
          call.end_timestamp = 'yesterday';
        }),
      );
      expect(noTimestamp.statusCode).toBe(400);
      expect(noTimestamp.json().errors[0].field).toBe('call.end_timestamp');
    });
  });

  describe('tenants and secrets', () => {
    it("a call an adapter stored for org A is a 404 for org B, and B's same callSid is B's own call", async () => {
      const sid = newTwilioSid('CA');
      const path = (org: string) =>
        `/api/webhooks/twilio/status?tenant=${org}&agentId=${twilioAgent}`;
      const params = {
        ...(fixture('twilio-status-callback').params as Record<string, string>),
        CallSid: sid,
      };
      const send = (org: string) =>
        t.app.inject({
          method: 'POST',
          url: path(org),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': twilioSign(secrets[org]!.twilio, `${BASE}${path(org)}`, params),
          },
          payload: new URLSearchParams(params).toString(),
        });
      const a = await send(orgA);
      const b = await send(orgB);
      expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
      expect(a.json().id).not.toBe(b.json().id);
      expect((await getCall(a.json().id, orgB)).statusCode).toBe(404);
      expect((await getCall(b.json().id, orgA)).statusCode).toBe(404);

      const vapiCall = randomUUID();
      const report = fixture('vapi-end-of-call-report');
      report.message.call.id = vapiCall;
      const viaVapi = await t.app.inject({
        method: 'POST',
        url: `/api/webhooks/vapi?tenant=${orgA}`,
        headers: { 'content-type': 'application/json', 'x-vapi-secret': secrets[orgA]!.vapi },
        payload: JSON.stringify(report),
      });
      expect((await getCall(viaVapi.json().id, orgB)).statusCode).toBe(404);
      const bySid = await t.app.inject({
        method: 'GET',
        url: `/api/call-history/by-sid/${vapiCall}`,
        headers: session(orgB),
      });
      expect(bySid.statusCode).toBe(404);
    });

    it('the admin API never shows a secret, and only admins use it', async () => {
      const list = await t.app.inject({
        method: 'GET',
        url: '/api/settings/providers',
        headers: session(orgA),
      });
      expect(list.statusCode).toBe(200);
      expect(
        list
          .json()
          .data.map((s: Json) => s.provider)
          .sort(),
      ).toEqual(['retell', 'twilio', 'vapi']);
      for (const value of Object.values(secrets[orgA]!)) expect(list.body).not.toContain(value);
      expect(list.json().data.find((s: Json) => s.provider === 'twilio').hint).toBe(
        `…${secrets[orgA]!.twilio.slice(-4)}`,
      );
      const member = await t.app.inject({
        method: 'GET',
        url: '/api/settings/providers',
        headers: session(orgA, 'member'),
      });
      expect(member.statusCode).toBe(403);
      const byKey = await t.app.inject({
        method: 'PUT',
        url: '/api/settings/providers',
        headers: { authorization: `Bearer ${apiKeyA}` },
        payload: { provider: 'vapi', secret: secret() },
      });
      expect(byKey.statusCode).toBe(403);
      const badToken = await t.app.inject({
        method: 'PUT',
        url: '/api/settings/providers',
        headers: session(orgA),
        payload: { provider: 'twilio', secret: 'not-a-twilio-token' },
      });
      expect(badToken.statusCode).toBe(400);
      expect(badToken.json().errors[0].field).toBe('secret');
    });

    it('without a signature or a valid bearer credential every provider route is a 401', async () => {
      const routes = t.app.apiRoutes.filter(
        (r) =>
          r.url.startsWith('/api/settings/providers') ||
          /^\/api\/webhooks\/(twilio|vapi|retell)/.test(r.url),
      );
      expect(routes).toHaveLength(6);
      for (const route of routes) {
        for (const headers of [{}, { authorization: 'Bearer YOUR_CLERK_JWT_TOKEN' }]) {
          const res = await t.app.inject({
            method: route.method as 'POST',
            url: route.url,
            headers,
            ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: {} }),
          });
          expect(res.statusCode, `${route.method} ${route.url}`).toBe(401);
          expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        }
      }
    });

    it('the API description documents each route, its credential and its problems', async () => {
      const doc = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
      const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
      addFormats(ajv);
      ajv.addFormat('http-url', true).addFormat('text', true);
      const expected: Array<[string, string, string, string]> = [
        ['/api/webhooks/twilio/status', 'post', 'webhooks', 'calls:write'],
        ['/api/webhooks/vapi', 'post', 'webhooks', 'calls:write'],
        ['/api/webhooks/retell', 'post', 'webhooks', 'calls:write'],
        ['/api/settings/providers', 'get', 'settings', 'admin'],
        ['/api/settings/providers', 'put', 'settings', 'admin'],
        ['/api/settings/providers', 'delete', 'settings', 'admin'],
      ];
      for (const [path, method, tag, access] of expected) {
        const op = doc.paths[path][method];
        expect(op.tags, path).toEqual([tag]);
        expect(op.security[0]).toEqual({ bearer: [access] });
        for (const status of ['400', '401', '403', '429', '500', '503']) {
          expect(Object.keys(op.responses), `${method} ${path}`).toContain(status);
        }
        for (const media of Object.values<Json>(op.requestBody?.content ?? {})) {
          expect(() => ajv.compile(media.schema as object)).not.toThrow();
        }
        for (const parameter of op.parameters ?? []) {
          expect(() => ajv.compile(parameter.schema as object)).not.toThrow();
        }
      }
      expect(
        Object.keys(doc.paths['/api/webhooks/twilio/status'].post.requestBody.content),
      ).toEqual(['application/x-www-form-urlencoded']);
    });

    it('rotation keeps the old secret for its overlap; removal refuses every delivery', async () => {
      const org = uniqueId('org_');
      const admin = {
        authorization: `Bearer ${clerk.session({ userId: uniqueId('user_'), orgId: org })}`,
      };
      await t.app.inject({
        method: 'POST',
        url: '/api/agents',
        headers: admin,
        payload: { id: vapiAssistant, name: 'Vapi' },
      });
      const put = (value: string, overlapHours?: number) =>
        t.app.inject({
          method: 'PUT',
          url: '/api/settings/providers',
          headers: admin,
          payload: {
            provider: 'vapi',
            secret: value,
            ...(overlapHours === undefined ? {} : { overlapHours }),
          },
        });
      const send = (value: string) => {
        const report = fixture('vapi-end-of-call-report');
        report.message.call.id = randomUUID();
        return t.app.inject({
          method: 'POST',
          url: `/api/webhooks/vapi?tenant=${org}`,
          headers: { 'content-type': 'application/json', 'x-vapi-secret': value },
          payload: JSON.stringify(report),
        });
      };
      const old = secret();
      const fresh = secret();
      expect((await put(old)).statusCode).toBe(200);
      expect((await put(fresh, 1)).statusCode).toBe(200);
      expect((await send(old)).statusCode).toBe(201);
      expect((await send(fresh)).statusCode).toBe(201);
      nowMs += 61 * 60 * 1000;
      expect((await send(old)).statusCode).toBe(401);
      expect((await send(fresh)).statusCode).toBe(201);
      const removed = await t.app.inject({
        method: 'DELETE',
        url: '/api/settings/providers?provider=vapi',
        headers: admin,
      });
      expect(removed.statusCode).toBe(204);
      expect((await send(fresh)).statusCode).toBe(401);
    });
  });
});

describe.each(TEST_DIALECTS)('provider adapters in dev mode (%s)', (dialect) => {
  let t: TestApp;
  const env = {
    TWILIO_AUTH_TOKEN: twilioToken(),
    VAPI_WEBHOOK_SECRET: secret(),
    RETELL_API_KEY: `key_${secret()}`,
  };
  beforeAll(async () => {
    t = await createTestApp(dialect, { env });
  });
  afterAll(() => t.close());

  it('the env secrets sign for the local tenant, no ?tenant= needed; agents are registered', async () => {
    const agentId = uniqueId('agent_dev_');
    const path = `/api/webhooks/twilio/status?agentId=${agentId}`;
    const params = {
      ...(fixture('twilio-status-callback').params as Record<string, string>),
      CallSid: newTwilioSid('CA'),
    };
    // No PUBLIC_BASE_URL: the URL is rebuilt from the request (Twilio configured without :80).
    const twilio = await t.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilioSign(env.TWILIO_AUTH_TOKEN, `http://localhost${path}`, params),
      },
      payload: new URLSearchParams(params).toString(),
    });
    expect(twilio.statusCode, twilio.body).toBe(201);
    expect(twilio.json()).toMatchObject({ agentId, status: 'ringing', orgId: null });

    const report = fixture('vapi-end-of-call-report');
    const vapi = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/vapi',
      headers: { 'content-type': 'application/json', 'x-vapi-secret': env.VAPI_WEBHOOK_SECRET },
      payload: JSON.stringify(report),
    });
    expect(vapi.statusCode, vapi.body).toBe(201);

    const body = JSON.stringify(fixture('retell-call-analyzed'));
    const retell = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/retell',
      headers: {
        'content-type': 'application/json',
        'x-retell-signature': retellSign(env.RETELL_API_KEY, body, Date.now()),
      },
      payload: body,
    });
    expect(retell.statusCode, retell.body).toBe(201);
    expect(retell.json()).toMatchObject({ status: 'completed', sentiment: 'positive' });

    const wrong = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/vapi',
      headers: { 'content-type': 'application/json', 'x-vapi-secret': secret() },
      payload: JSON.stringify(report),
    });
    expect(wrong.statusCode).toBe(401);
  });
});

describe('provider settings', () => {
  it('the env secrets are for dev mode only, and are checked', () => {
    const token = twilioToken();
    expect(() => loadConfig({ AUTH_REQUIRED: '1', TWILIO_AUTH_TOKEN: token })).toThrow(
      /TWILIO_AUTH_TOKEN is only read in dev mode/,
    );
    expect(() => loadConfig({ TWILIO_AUTH_TOKEN: 'abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ VAPI_WEBHOOK_SECRET: 'short' })).toThrow(/VAPI_WEBHOOK_SECRET/);
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'ftp://x' })).toThrow(/PUBLIC_BASE_URL/);
    const config = loadConfig({
      TWILIO_AUTH_TOKEN: token,
      PUBLIC_BASE_URL: 'https://calls.example.com/callmind/',
    });
    expect(config.providers).toEqual({
      publicBaseUrl: 'https://calls.example.com/callmind',
      devSecrets: { twilio: token, vapi: undefined, retell: undefined },
    });
  });
});
