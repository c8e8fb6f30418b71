// Twilio voice status callbacks and recording status callbacks → ingest writes.
//
// Signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security): X-Twilio-Signature is
// the base64 HMAC-SHA1, keyed with the account's auth token, of the full URL Twilio called
// (scheme, host, path and query) followed by every POST parameter, sorted by name, as name and
// value with no separators.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Direction } from '../calls/calls.schemas.js';
import {
  BodyBuilder,
  missing,
  type Outcome,
  type ProviderWrite,
  type WriteBody,
} from './provider-write.js';
import type { TwilioCallbackBody, TwilioQuery } from './providers.schemas.js';

export function twilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string>>,
): Buffer {
  const hmac = createHmac('sha1', authToken).update(url);
  // Code-unit order: Twilio's "Unix-style case-sensitive" sort of the (ASCII) parameter names.
  for (const name of Object.keys(params).sort()) hmac.update(`${name}${params[name]}`);
  return hmac.digest();
}

/**
 * The URLs Twilio may have signed for the one this server rebuilt: as it is, and with the
 * scheme's default port added or removed (a URL configured with or without :443 is signed as
 * configured, and proxies differ in which they pass on).
 */
export function twilioUrlVariants(url: string): string[] {
  const match = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
  if (match === null) return [url];
  const [, scheme = '', host = '', rest = ''] = match;
  const port = /:(\d+)$/.exec(host);
  const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
  if (port === null) return [url, `${scheme}://${host}:${defaultPort}${rest}`];
  return port[1] === defaultPort
    ? [url, `${scheme}://${host.slice(0, -port[0].length)}${rest}`]
    : [url];
}

/** True when `signature` is Twilio's for one of `urls` with one of `authTokens`. */
export function verifyTwilioSignature(
  authTokens: readonly string[],
  signature: string | undefined,
  urls: readonly string[],
  params: Readonly<Record<string, string>>,
): boolean {
  if (signature === undefined || signature === '') return false;
  const offered = Buffer.from(signature, 'base64');
  let valid = false;
  // Every candidate is computed (no early exit), so the time taken says nothing about which.
  for (const token of authTokens) {
    for (const url of urls) {
      const expected = twilioSignature(token, url, params);
      if (offered.length === expected.length && timingSafeEqual(offered, expected)) valid = true;
    }
  }
  return valid;
}

const LIVE: Readonly<Record<string, 'ringing' | 'in-progress'>> = {
  queued: 'ringing',
  initiated: 'ringing',
  ringing: 'ringing',
  'in-progress': 'in-progress',
};

/** Twilio's final CallStatus values; canceled (hung up before anyone answered) has no reason. */
const FINAL: Readonly<Record<string, Outcome>> = {
  completed: { status: 'completed' },
  busy: { status: 'missed', endReason: 'busy' },
  'no-answer': { status: 'missed', endReason: 'no_answer' },
  canceled: { status: 'missed' },
  failed: { status: 'failed', endReason: 'error' },
};

const DIRECTIONS: Readonly<Record<string, Direction>> = {
  inbound: 'inbound',
  'outbound-api': 'outbound',
  'outbound-dial': 'outbound',
  // Elastic SIP Trunking: originating leaves the customer's PBX, terminating reaches it.
  'trunking-originating': 'outbound',
  'trunking-terminating': 'inbound',
};

/** RFC 2822 (Twilio's Timestamp) as ISO-8601. */
function timestampOf(body: TwilioCallbackBody): string | undefined {
  if (body.Timestamp === undefined || body.Timestamp === '') return undefined;
  const time = Date.parse(body.Timestamp);
  if (Number.isNaN(time)) throw missing('Timestamp', 'must be an RFC 2822 date, as Twilio sends');
  return new Date(time).toISOString();
}

export function mapTwilioCallback(body: TwilioCallbackBody, query: TwilioQuery): ProviderWrite {
  if (body.CallStatus === undefined) {
    if (body.RecordingSid === undefined) {
      throw missing('CallStatus', 'is required (or RecordingSid, for a recording callback)');
    }
    return mapRecording(body, query);
  }
  const direction = body.Direction === undefined ? undefined : DIRECTIONS[body.Direction];
  // The other party: who called in, or whom the call went out to.
  const counterpart = direction === 'outbound' ? 'To' : 'From';
  const fields = new BodyBuilder()
    .set('callSid', body.CallSid, 'CallSid')
    .set('agentId', query.agentId, 'agentId')
    .set('direction', direction, 'Direction')
    .set('callerNumber', body[counterpart], counterpart)
    .set('callerName', body.CallerName, 'CallerName');
  const sequence = body.SequenceNumber === undefined ? undefined : Number(body.SequenceNumber);
  const live = LIVE[body.CallStatus];
  if (live !== undefined) {
    fields.set('status', live, 'CallStatus').set('startedAt', timestampOf(body), 'Timestamp');
    return {
      kind: 'started',
      body: fields.body as WriteBody<'started'>,
      sources: fields.sources,
      ...(sequence === undefined ? {} : { sequence }),
    };
  }
  const outcome = FINAL[body.CallStatus] ?? { status: 'completed' };
  // Answering machine detection: a machine took the call.
  const voicemail =
    body.CallStatus === 'completed' && body.AnsweredBy?.startsWith('machine') === true;
  fields
    .set('status', outcome.status, 'CallStatus')
    .set('endedAt', timestampOf(body), 'Timestamp')
    .set(
      'duration',
      body.CallDuration === undefined ? undefined : Number(body.CallDuration),
      'CallDuration',
    )
    .set(
      'endReason',
      voicemail ? 'voicemail' : outcome.endReason,
      voicemail ? 'AnsweredBy' : 'CallStatus',
    )
    .set('collectedData', { providerEndReason: body.CallStatus }, 'CallStatus');
  return {
    kind: 'completed',
    body: fields.body as WriteBody<'completed'>,
    sources: fields.sources,
    ...(sequence === undefined ? {} : { sequence }),
  };
}

/** A recording callback fills recordingUrl once the recording is ready; other states are noise. */
function mapRecording(body: TwilioCallbackBody, query: TwilioQuery): ProviderWrite {
  if (body.RecordingStatus !== undefined && body.RecordingStatus !== 'completed') {
    return { kind: 'ignored' };
  }
  if (body.RecordingUrl === undefined || body.RecordingUrl === '') throw missing('RecordingUrl');
  const fields = new BodyBuilder()
    .set('callSid', body.CallSid, 'CallSid')
    .set('agentId', query.agentId, 'agentId')
    .set('recordingUrl', body.RecordingUrl, 'RecordingUrl');
  return {
    kind: 'create',
    body: fields.body as WriteBody<'create'>,
    sources: fields.sources,
    deliveryId: `twilio:${body.RecordingSid}:completed`,
  };
}
