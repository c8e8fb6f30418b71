// The provider adapters' HTTP contract: the native payloads as Twilio, Vapi and Retell document
// them (only the fields the adapters read are described; providers add fields over time, so
// the rest are allowed and ignored), the query strings, and the admin API for their secrets.
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, Nullable, StringEnum } from '../../http/schema-helpers.js';

export const PROVIDERS = ['twilio', 'vapi', 'retell'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

const Id = (description: string) =>
  Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN, description });
const Text = (maxLength: number, description?: string) =>
  Type.String({ maxLength, ...(description === undefined ? {} : { description }) });
const open = { additionalProperties: true } as const;
const strict = { additionalProperties: false } as const;

const tenant = Type.Optional(
  Id(
    'The organization (or user) whose provider secret signs the deliveries; not needed with a bearer credential, nor in dev mode (the local tenant)',
  ),
);

// Twilio: https://www.twilio.com/docs/voice/api/call-resource#statuscallback and
// https://www.twilio.com/docs/voice/api/recording#recordingstatuscallback (form-encoded).

export const TWILIO_CALL_STATUSES = [
  'queued',
  'initiated',
  'ringing',
  'in-progress',
  'completed',
  'busy',
  'failed',
  'no-answer',
  'canceled',
] as const;

export const TwilioQuery = Type.Object(
  {
    tenant,
    agentId: Id('The agent the calls belong to (registered on first use in dev mode)'),
  },
  strict,
);
export type TwilioQuery = Static<typeof TwilioQuery>;

export const TwilioCallbackBody = Type.Object(
  {
    CallSid: Id("Twilio's call id (CA…); stored as the call's callSid"),
    AccountSid: Type.Optional(Text(64)),
    CallStatus: Type.Optional(
      StringEnum(TWILIO_CALL_STATUSES, { description: 'Absent on recording callbacks' }),
    ),
    SequenceNumber: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,15}$',
        description: "The callback's place among the call's callbacks, from 0",
      }),
    ),
    Timestamp: Type.Optional(Text(64, 'When the event happened (RFC 2822)')),
    CallDuration: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,9}$', description: 'Seconds, on the final callback' }),
    ),
    Direction: Type.Optional(Text(64, 'inbound, outbound-api, outbound-dial, trunking-…')),
    From: Type.Optional(Text(256)),
    To: Type.Optional(Text(256)),
    CallerName: Type.Optional(Text(256)),
    AnsweredBy: Type.Optional(Text(64, 'Answering machine detection: human, machine_start, …')),
    RecordingSid: Type.Optional(Id('Recording callbacks: the recording (RE…)')),
    RecordingUrl: Type.Optional(Text(2048)),
    RecordingStatus: Type.Optional(Text(32, 'in-progress, completed, absent or failed')),
    RecordingDuration: Type.Optional(Text(16)),
  },
  {
    additionalProperties: Type.String({ maxLength: 4096 }),
    description:
      'A status callback (CallStatus) or a recording status callback (RecordingSid), as Twilio posts them',
  },
);
export type TwilioCallbackBody = Static<typeof TwilioCallbackBody>;

/** Vapi and Retell: the agent may be named in the URL instead of taken from the payload. */
export const ProviderQuery = Type.Object(
  {
    tenant,
    agentId: Type.Optional(
      Id(
        "The agent the calls belong to; default: the payload's assistant (Vapi) or agent (Retell)",
      ),
    ),
  },
  strict,
);
export type ProviderQuery = Static<typeof ProviderQuery>;

// Vapi server messages: https://docs.vapi.ai/server-url/events (status-update and
// end-of-call-report; every other type is acknowledged and ignored).

const VapiCustomer = Nullable(
  Type.Object(
    { number: Type.Optional(Nullable(Text(256))), name: Type.Optional(Nullable(Text(256))) },
    open,
  ),
);

const VapiCall = Type.Object(
  {
    id: Id("Vapi's call id; stored as the call's callSid"),
    type: Type.Optional(Text(64, 'inboundPhoneCall, outboundPhoneCall or webCall')),
    assistantId: Type.Optional(Nullable(Text(128))),
    customer: Type.Optional(VapiCustomer),
    startedAt: Type.Optional(Nullable(Text(64))),
    endedAt: Type.Optional(Nullable(Text(64))),
    endedReason: Type.Optional(Nullable(Text(256))),
    cost: Type.Optional(Nullable(Type.Number({ minimum: 0 }))),
  },
  open,
);

const VapiMessage = Type.Object(
  {
    type: Text(128, 'status-update and end-of-call-report are stored; others are ignored'),
    call: Type.Optional(VapiCall),
    status: Type.Optional(Text(64, 'status-update: scheduled, queued, ringing, in-progress, …')),
    endedReason: Type.Optional(Nullable(Text(256))),
    timestamp: Type.Optional(
      Type.Union([Type.Number({ minimum: 0 }), Text(64), Type.Null()], {
        description: 'When the message was sent: milliseconds since the epoch (or ISO-8601)',
      }),
    ),
    startedAt: Type.Optional(Nullable(Text(64))),
    endedAt: Type.Optional(Nullable(Text(64))),
    durationSeconds: Type.Optional(Nullable(Type.Number({ minimum: 0 }))),
    cost: Type.Optional(Nullable(Type.Number({ minimum: 0, description: 'USD' }))),
    customer: Type.Optional(VapiCustomer),
    assistant: Type.Optional(Nullable(Type.Object({ id: Type.Optional(Text(128)) }, open))),
    artifact: Type.Optional(
      Nullable(
        Type.Object(
          {
            transcript: Type.Optional(Nullable(Type.String())),
            recordingUrl: Type.Optional(Nullable(Text(4096))),
            recording: Type.Optional(
              Nullable(
                Type.Object(
                  {
                    mono: Type.Optional(
                      Nullable(
                        Type.Object({ combinedUrl: Type.Optional(Nullable(Text(4096))) }, open),
                      ),
                    ),
                  },
                  open,
                ),
              ),
            ),
          },
          open,
        ),
      ),
    ),
    analysis: Type.Optional(
      Nullable(
        Type.Object(
          {
            summary: Type.Optional(Nullable(Type.String())),
            structuredData: Type.Optional(Type.Unknown()),
          },
          open,
        ),
      ),
    ),
    // Older reports put these at the top of the message instead of in artifact / analysis.
    transcript: Type.Optional(Nullable(Type.String())),
    summary: Type.Optional(Nullable(Type.String())),
    recordingUrl: Type.Optional(Nullable(Text(4096))),
  },
  open,
);

export const VapiServerMessageBody = Type.Object({ message: VapiMessage }, open);
export type VapiServerMessageBody = Static<typeof VapiServerMessageBody>;

// Retell webhooks: https://docs.retellai.com/features/webhook-overview, the call object of
// https://docs.retellai.com/api-references/get-call (call_started, call_ended, call_analyzed;
// every other event is acknowledged and ignored).

const RetellCall = Type.Object(
  {
    call_id: Id("Retell's call id; stored as the call's callSid"),
    agent_id: Type.Optional(Text(128)),
    call_type: Type.Optional(Text(64, 'phone_call or web_call')),
    call_status: Type.Optional(Text(64, 'registered, not_connected, ongoing, ended or error')),
    direction: Type.Optional(Nullable(Text(64))),
    from_number: Type.Optional(Nullable(Text(256))),
    to_number: Type.Optional(Nullable(Text(256))),
    start_timestamp: Type.Optional(
      Nullable(Type.Integer({ minimum: 0, description: 'Milliseconds since the epoch' })),
    ),
    end_timestamp: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
    duration_ms: Type.Optional(Nullable(Type.Number({ minimum: 0 }))),
    transcript: Type.Optional(Nullable(Type.String())),
    recording_url: Type.Optional(Nullable(Text(4096))),
    disconnection_reason: Type.Optional(Nullable(Text(128))),
    call_analysis: Type.Optional(
      Nullable(
        Type.Object(
          {
            call_summary: Type.Optional(Nullable(Type.String())),
            user_sentiment: Type.Optional(
              Nullable(StringEnum(['Positive', 'Negative', 'Neutral', 'Unknown'])),
            ),
            custom_analysis_data: Type.Optional(Type.Unknown()),
          },
          open,
        ),
      ),
    ),
    call_cost: Type.Optional(
      Nullable(
        Type.Object(
          {
            combined_cost: Type.Optional(
              Nullable(Type.Number({ minimum: 0, description: 'Cents' })),
            ),
          },
          open,
        ),
      ),
    ),
  },
  open,
);

export const RetellWebhookBody = Type.Object(
  {
    event: Text(128, 'call_started, call_ended and call_analyzed are stored; others are ignored'),
    call: Type.Optional(RetellCall),
  },
  open,
);
export type RetellWebhookBody = Static<typeof RetellWebhookBody>;

// The admin API for the secrets.

export const SetProviderSecretBody = Type.Object(
  {
    provider: StringEnum(PROVIDERS),
    secret: Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        'twilio: the account auth token (32 hexadecimal characters); vapi: the server secret Vapi sends as X-Vapi-Secret; retell: the API key with the webhook badge. 16 to 256 printable characters for vapi and retell.',
    }),
    overlapHours: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 720,
        description: "How long the provider's previous secret keeps verifying; default 24",
      }),
    ),
  },
  strict,
);
export type SetProviderSecretBody = Static<typeof SetProviderSecretBody>;

export const ProviderSecret = Type.Object({
  provider: StringEnum(PROVIDERS),
  id: Type.String(),
  hint: Type.String({ description: "The secret's last four characters; it is never shown" }),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Nullable(
    Type.String({ format: 'date-time', description: 'Null while current; end of its overlap' }),
  ),
});
export type ProviderSecret = Static<typeof ProviderSecret>;

export const ProviderSecretList = Type.Object({ data: Type.Array(ProviderSecret) });

export const ProviderSelector = Type.Object({ provider: StringEnum(PROVIDERS) }, strict);
