// Retell webhooks (https://docs.retellai.com/features/webhook-overview) → ingest writes:
// call_started starts the call, call_ended ends it with transcript, recording and cost, and
// call_analyzed adds the summary, sentiment and custom analysis data (it carries the whole call
// object, so it ends the call correctly even when it arrives before call_ended). Every other
// event is acknowledged and ignored.
//
// Signature (https://docs.retellai.com/features/secure-webhook): X-Retell-Signature is
// `v=<unix ms>,d=<hex>`, the HMAC-SHA256, keyed with the API key that has the webhook badge, of
// the raw body followed by that timestamp. Timestamps more than 5 minutes away are refused.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Direction, Sentiment } from '../calls/calls.schemas.js';
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
import type { ProviderQuery, RetellWebhookBody } from './providers.schemas.js';

export const RETELL_TOLERANCE_MS = 5 * 60 * 1000;

export function retellSignature(apiKey: string, body: Buffer | string, timestamp: string): Buffer {
  return createHmac('sha256', apiKey).update(body).update(timestamp).digest();
}

/** True when the header is a fresh signature of `body` with one of `apiKeys`. */
export function verifyRetellSignature(
  apiKeys: readonly string[],
  header: string | undefined,
  body: Buffer,
  now: Date,
): boolean {
  const match = header === undefined ? null : /^v=(\d{1,16}),d=([0-9a-fA-F]{64})$/.exec(header);
  if (match === null) return false;
  const [, timestamp = '', digest = ''] = match;
  if (Math.abs(now.getTime() - Number(timestamp)) > RETELL_TOLERANCE_MS) return false;
  const offered = Buffer.from(digest, 'hex');
  let valid = false;
  for (const key of apiKeys) {
    if (timingSafeEqual(offered, retellSignature(key, body, timestamp))) valid = true;
  }
  return valid;
}

/** Retell's disconnection_reason values, onto our canonical end reasons. */
const DISCONNECTIONS: Readonly<Record<string, Outcome>> = {
  user_hangup: { status: 'completed', endReason: 'caller_hangup' },
  agent_hangup: { status: 'completed', endReason: 'agent_hangup' },
  // Ended by the agent's side for the caller's silence.
  inactivity: { status: 'completed', endReason: 'agent_hangup' },
  call_transfer: { status: 'completed', endReason: 'transferred' },
  transfer_bridged: { status: 'completed', endReason: 'transferred' },
  voicemail_reached: { status: 'completed', endReason: 'voicemail' },
  machine_detected: { status: 'completed', endReason: 'voicemail' },
  max_duration_reached: { status: 'completed', endReason: 'max_duration' },
  dial_busy: { status: 'missed', endReason: 'busy' },
  dial_no_answer: { status: 'missed', endReason: 'no_answer' },
  user_declined: { status: 'missed', endReason: 'no_answer' },
  dial_failed: { status: 'failed', endReason: 'error' },
  invalid_destination: { status: 'failed', endReason: 'error' },
  telephony_provider_permission_denied: { status: 'failed', endReason: 'error' },
  telephony_provider_unavailable: { status: 'failed', endReason: 'error' },
  sip_routing_error: { status: 'failed', endReason: 'error' },
  marked_as_spam: { status: 'failed', endReason: 'error' },
  concurrency_limit_reached: { status: 'failed', endReason: 'error' },
  no_valid_payment: { status: 'failed', endReason: 'error' },
  registered_call_timeout: { status: 'failed', endReason: 'error' },
};

/**
 * The final status and canonical reason of an ended call. The error_… family is a failure; a
 * reason not known here (ivr_reached, scam_detected, manual_stopped…) ends the call as
 * completed with no canonical reason; call_status error is a failure whatever the reason.
 */
export function retellOutcome(
  callStatus: string | undefined,
  reason: string | null | undefined,
): Outcome {
  const known =
    reason === null || reason === undefined
      ? undefined
      : (DISCONNECTIONS[reason] ??
        (reason.startsWith('error_') ? { status: 'failed', endReason: 'error' } : undefined));
  if (callStatus === 'error') return { status: 'failed', endReason: known?.endReason ?? 'error' };
  if (known !== undefined) return known;
  return { status: callStatus === 'not_connected' ? 'missed' : 'completed' };
}

const SENTIMENTS: Readonly<Record<string, Sentiment>> = {
  Positive: 'positive',
  Negative: 'negative',
  Neutral: 'neutral',
};

/** Cents as dollars, exact to the micro-dollar (the calls service stores micro-dollars). */
export function centsToDollars(cents: number): number {
  return Math.round(cents * 10_000) / 1_000_000;
}

export function mapRetellEvent(payload: RetellWebhookBody, query: ProviderQuery): ProviderWrite {
  const { event } = payload;
  if (event !== 'call_started' && event !== 'call_ended' && event !== 'call_analyzed') {
    return { kind: 'ignored' };
  }
  const call = payload.call;
  if (call === undefined) throw missing('call');
  const agentId = query.agentId ?? call.agent_id;
  if (agentId === undefined)
    throw missing('call.agent_id', 'is required, or name the agent with ?agentId=');
  const direction: Direction | undefined =
    call.direction === 'inbound' || call.direction === 'outbound' ? call.direction : undefined;
  const counterpart = direction === 'outbound' ? 'to_number' : 'from_number';
  const fields = new BodyBuilder()
    .set('callSid', call.call_id, 'call.call_id')
    .set('agentId', agentId, query.agentId !== undefined ? 'agentId' : 'call.agent_id')
    .set('direction', direction, 'call.direction')
    .set('callerNumber', call[counterpart], `call.${counterpart}`)
    .set('startedAt', isoFromMillis(call.start_timestamp), 'call.start_timestamp');
  const deliveryId = `retell:${call.call_id}:${event}`;
  if (event === 'call_started') {
    fields.set(
      'status',
      call.call_status === 'registered' ? 'ringing' : 'in-progress',
      'call.call_status',
    );
    return {
      kind: 'started',
      body: fields.body as WriteBody<'started'>,
      sources: fields.sources,
      deliveryId,
    };
  }
  const outcome = retellOutcome(call.call_status, call.disconnection_reason);
  const analysis = call.call_analysis ?? undefined;
  const customData = plainObject(analysis?.custom_analysis_data);
  const cents = call.call_cost?.combined_cost;
  fields
    .set('status', outcome.status, 'call.call_status')
    .set('endedAt', isoFromMillis(call.end_timestamp), 'call.end_timestamp')
    .set(
      'duration',
      call.duration_ms === null || call.duration_ms === undefined
        ? undefined
        : call.duration_ms / 1000,
      'call.duration_ms',
    )
    .set('recordingUrl', call.recording_url, 'call.recording_url')
    .set(
      'transcript',
      conversationTranscript(call.transcript, { Agent: 'Agent', User: 'Caller' }),
      'call.transcript',
    )
    .set('summary', analysis?.call_summary, 'call.call_analysis.call_summary')
    .set(
      'sentiment',
      analysis?.user_sentiment ? SENTIMENTS[analysis.user_sentiment] : undefined,
      'call.call_analysis.user_sentiment',
    )
    .set(
      'cost',
      cents === null || cents === undefined ? undefined : centsToDollars(cents),
      'call.call_cost.combined_cost',
    )
    .set('endReason', outcome.endReason, 'call.disconnection_reason')
    .set(
      'collectedData',
      collectedDataOf(customData, call.disconnection_reason),
      customData === undefined
        ? 'call.disconnection_reason'
        : 'call.call_analysis.custom_analysis_data',
    );
  return {
    kind: 'completed',
    body: fields.body as WriteBody<'completed'>,
    sources: fields.sources,
    deliveryId,
  };
}
