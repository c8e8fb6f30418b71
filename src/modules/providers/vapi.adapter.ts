// Vapi server messages (https://docs.vapi.ai/server-url/events) → ingest writes: status-update
// moves the call along, end-of-call-report brings transcript, recording, summary, structured
// data, cost and the ended reason. Every other message type is acknowledged and ignored.
//
// Authentication (https://docs.vapi.ai/server-url/server-authentication): the server secret
// Vapi sends in the X-Vapi-Secret header (the assistant's `server.secret`, or a Bearer Token
// credential with header X-Vapi-Secret and no prefix). A Callmind API key in a Bearer Token
// credential (Authorization: Bearer cm_sk_…) works too, as on every /api route.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Direction } from '../calls/calls.schemas.js';
import {
  BodyBuilder,
  collectedDataOf,
  conversationTranscript,
  isoFromMillis,
  missing,
  plainObject,
  type Outcome,
  type ProviderWrite,
  type WriteBody,
} from './provider-write.js';
import type { ProviderQuery, VapiServerMessageBody } from './providers.schemas.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True when the X-Vapi-Secret header holds one of `secrets` (compared as digests). */
export function verifyVapiSecret(secrets: readonly string[], offered: string | undefined): boolean {
  if (offered === undefined || offered === '') return false;
  const given = digest(offered);
  let valid = false;
  for (const secret of secrets) if (timingSafeEqual(given, digest(secret))) valid = true;
  return valid;
}

type VapiMessage = VapiServerMessageBody['message'];

const LIVE: Readonly<Record<string, 'ringing' | 'in-progress'>> = {
  scheduled: 'ringing',
  queued: 'ringing',
  ringing: 'ringing',
  'in-progress': 'in-progress',
  forwarding: 'in-progress',
};

/** Vapi's endedReason values that name who or what ended the call. */
const ENDED: Readonly<Record<string, Outcome>> = {
  'customer-ended-call': { status: 'completed', endReason: 'caller_hangup' },
  'assistant-ended-call': { status: 'completed', endReason: 'agent_hangup' },
  'assistant-said-end-call-phrase': { status: 'completed', endReason: 'agent_hangup' },
  'assistant-ended-call-after-message-spoken': { status: 'completed', endReason: 'agent_hangup' },
  'assistant-ended-call-with-hangup-task': { status: 'completed', endReason: 'agent_hangup' },
  'silence-timed-out': { status: 'completed', endReason: 'agent_hangup' },
  'assistant-forwarded-call': { status: 'completed', endReason: 'transferred' },
  voicemail: { status: 'completed', endReason: 'voicemail' },
  'exceeded-max-duration': { status: 'completed', endReason: 'max_duration' },
  'customer-busy': { status: 'missed', endReason: 'busy' },
  'customer-did-not-answer': { status: 'missed', endReason: 'no_answer' },
};

/**
 * The call's final status and canonical reason. Vapi has well over a hundred error reasons
 * (assistant-error, pipeline-error-…, call.in-progress.error-…, twilio-failed-to-connect-call):
 * those are failed calls; a reason not known here ends the call as completed with no reason.
 */
export function vapiOutcome(reason: string | null | undefined): Outcome {
  if (reason === null || reason === undefined) return { status: 'completed' };
  const known = ENDED[reason];
  if (known !== undefined) return known;
  if (/error|fail|fault/.test(reason)) return { status: 'failed', endReason: 'error' };
  return { status: 'completed' };
}

const DIRECTIONS: Readonly<Record<string, Direction>> = {
  inboundPhoneCall: 'inbound',
  outboundPhoneCall: 'outbound',
};

function timestampOf(value: number | string | null | undefined): string | undefined {
  return typeof value === 'number' ? isoFromMillis(value) : (value ?? undefined);
}

export function mapVapiMessage(
  payload: VapiServerMessageBody,
  query: ProviderQuery,
): ProviderWrite {
  const message = payload.message;
  if (message.type === 'status-update') {
    const status = message.status;
    if (status === undefined) throw missing('message.status');
    const live = LIVE[status];
    if (live === undefined && status !== 'ended') return { kind: 'ignored' };
    const { fields, callId } = callFields(message, query);
    const deliveryId = `vapi:${callId}:status-update:${status}`;
    if (live !== undefined) {
      const startedAt =
        message.call?.startedAt ?? (live === 'in-progress' ? timestampOf(message.timestamp) : null);
      fields
        .set('status', live, 'message.status')
        .set(
          'startedAt',
          startedAt,
          message.call?.startedAt ? 'message.call.startedAt' : 'message.timestamp',
        );
      return {
        kind: 'started',
        body: fields.body as WriteBody<'started'>,
        sources: fields.sources,
        deliveryId,
      };
    }
    const reason = message.endedReason ?? message.call?.endedReason;
    const outcome = vapiOutcome(reason);
    fields
      .set('status', outcome.status, 'message.status')
      .set(
        'endedAt',
        message.call?.endedAt ?? timestampOf(message.timestamp),
        message.call?.endedAt ? 'message.call.endedAt' : 'message.timestamp',
      )
      .set('endReason', outcome.endReason, 'message.endedReason')
      .set('collectedData', collectedDataOf(undefined, reason), 'message.endedReason');
    return {
      kind: 'completed',
      body: fields.body as WriteBody<'completed'>,
      sources: fields.sources,
      deliveryId,
    };
  }
  if (message.type === 'end-of-call-report') return mapEndOfCallReport(message, query);
  return { kind: 'ignored' };
}

function mapEndOfCallReport(message: VapiMessage, query: ProviderQuery): ProviderWrite {
  const { fields, callId } = callFields(message, query);
  const call = message.call;
  const artifact = message.artifact ?? undefined;
  const reason = message.endedReason ?? call?.endedReason;
  const outcome = vapiOutcome(reason);
  const recording = artifact?.recording?.mono?.combinedUrl
    ? {
        url: artifact.recording.mono.combinedUrl,
        source: 'message.artifact.recording.mono.combinedUrl',
      }
    : artifact?.recordingUrl
      ? { url: artifact.recordingUrl, source: 'message.artifact.recordingUrl' }
      : { url: message.recordingUrl, source: 'message.recordingUrl' };
  const transcript = artifact?.transcript
    ? { text: artifact.transcript, source: 'message.artifact.transcript' }
    : { text: message.transcript, source: 'message.transcript' };
  const summary = message.analysis?.summary
    ? { text: message.analysis.summary, source: 'message.analysis.summary' }
    : { text: message.summary, source: 'message.summary' };
  const structuredData = plainObject(message.analysis?.structuredData);
  fields
    .set('status', outcome.status, 'message.endedReason')
    .set(
      'startedAt',
      message.startedAt ?? call?.startedAt,
      message.startedAt ? 'message.startedAt' : 'message.call.startedAt',
    )
    .set(
      'endedAt',
      message.endedAt ?? call?.endedAt,
      message.endedAt ? 'message.endedAt' : 'message.call.endedAt',
    )
    .set('duration', message.durationSeconds, 'message.durationSeconds')
    .set('recordingUrl', recording.url, recording.source)
    .set(
      'transcript',
      conversationTranscript(transcript.text, { AI: 'Agent', User: 'Caller' }),
      transcript.source,
    )
    .set('summary', summary.text, summary.source)
    .set(
      'cost',
      message.cost ?? call?.cost,
      message.cost !== undefined ? 'message.cost' : 'message.call.cost',
    )
    .set('endReason', outcome.endReason, 'message.endedReason')
    .set(
      'collectedData',
      collectedDataOf(structuredData, reason),
      structuredData === undefined ? 'message.endedReason' : 'message.analysis.structuredData',
    );
  return {
    kind: 'completed',
    body: fields.body as WriteBody<'completed'>,
    sources: fields.sources,
    deliveryId: `vapi:${callId}:end-of-call-report`,
  };
}

/** What every stored message says about the call: its id, agent, direction and caller. */
function callFields(message: VapiMessage, query: ProviderQuery) {
  const call = message.call;
  if (call === undefined) throw missing('message.call');
  const assistantId = call.assistantId ?? message.assistant?.id;
  const agentId = query.agentId ?? assistantId;
  if (agentId === undefined || agentId === null) {
    throw missing('message.call.assistantId', 'is required, or name the agent with ?agentId=');
  }
  const customer = call.customer ?? message.customer ?? undefined;
  const fields = new BodyBuilder()
    .set('callSid', call.id, 'message.call.id')
    .set('agentId', agentId, query.agentId !== undefined ? 'agentId' : 'message.call.assistantId')
    .set(
      'direction',
      call.type === undefined ? undefined : DIRECTIONS[call.type],
      'message.call.type',
    )
    .set('callerNumber', customer?.number, 'message.call.customer.number')
    .set('callerName', customer?.name, 'message.call.customer.name');
  return { fields, callId: call.id };
}
