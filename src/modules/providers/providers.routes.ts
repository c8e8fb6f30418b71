// HTTP contract of the provider adapters: Twilio, Vapi and Retell post their own webhooks here,
// signed their own way (no bearer credential; ?tenant= names whose secret to check), and
// admins set those secrets under /api/settings/providers. A bearer credential with calls:write
// is accepted instead of a signature, as on every /api route.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { ValidationError } from '../../errors.js';
import { ProblemSchema } from '../../http/schema-helpers.js';
import type { Services } from '../../services.js';
import { Call } from '../calls/calls.schemas.js';
import type { IngestResult } from '../calls/calls.service.js';
import {
  ProviderQuery,
  ProviderSecret,
  ProviderSecretList,
  ProviderSelector,
  RetellWebhookBody,
  SetProviderSecretBody,
  TwilioCallbackBody,
  TwilioQuery,
  VapiServerMessageBody,
  type ProviderName,
} from './providers.schemas.js';
import { mapRetellEvent } from './retell.adapter.js';
import { mapTwilioCallback, twilioUrlVariants } from './twilio.adapter.js';
import { mapVapiMessage } from './vapi.adapter.js';

/** Twilio's callbacks are a few dozen short parameters. */
const TWILIO_BODY_LIMIT = 64 * 1024;
/**
 * Vapi's end-of-call report and Retell's call object carry the whole conversation, with word
 * timings and tool calls: several times the transcript. Never less than BODY_LIMIT.
 */
const REPORT_BODY_LIMIT = 8 * 1024 * 1024;

const SIGNATURE_HEADERS: Readonly<Record<ProviderName, string>> = {
  twilio: 'x-twilio-signature',
  vapi: 'x-vapi-secret',
  retell: 'x-retell-signature',
};

const problems = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
  413: ProblemSchema,
  415: ProblemSchema,
  429: ProblemSchema,
  503: ProblemSchema,
};

const ingestResponses = { 200: Call, 201: Call, 204: Type.Null(), ...problems };

/** 201 + Location for a new call, 200 for a merge, 204 when nothing was stored. */
function answer(
  request: FastifyRequest,
  reply: FastifyReply,
  { call, created, outcome }: Pick<IngestResult, 'call' | 'created' | 'outcome'>,
) {
  request.ingestOutcome = outcome;
  if (call === undefined) return reply.code(204).send(null);
  if (created) void reply.code(201).header('location', `/api/call-history/${call.id}`);
  return call;
}

/** Form-encoded parameters, each at most once (Twilio never repeats one). */
function parseForm(bytes: Buffer): Record<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(bytes.toString('utf8'))) {
    if (params.has(name)) {
      throw new ValidationError([{ field: name, message: 'must appear once' }]);
    }
    params.set(name, value);
  }
  // fromEntries defines own properties: a parameter named __proto__ cannot reach a prototype.
  return Object.fromEntries(params);
}

export const providerRoutes: FastifyPluginAsyncTypebox<{
  services: Services;
  config: Config;
}> = async (app, { services, config }) => {
  const { providers } = services;

  // Once the body (which the signatures cover) has arrived: a delivery without a bearer
  // credential is authenticated by its provider's signature, with the secret of ?tenant=.
  app.addHook('preValidation', async (request) => {
    const provider = request.routeOptions.config.providerWebhook;
    if (provider === undefined || request.headers.authorization !== undefined) return;
    const query = request.query as Record<string, unknown> | undefined;
    const signature = request.headers[SIGNATURE_HEADERS[provider]];
    const base = config.providers.publicBaseUrl ?? `${request.protocol}://${request.host}`;
    request.auth = await providers.authenticate(provider, {
      tenant: typeof query?.tenant === 'string' ? query.tenant : undefined,
      signature: typeof signature === 'string' ? signature : undefined,
      body: request.rawBody ?? Buffer.alloc(0),
      ...(provider === 'twilio'
        ? {
            params: (request.body ?? {}) as Record<string, string>,
            urls: twilioUrlVariants(`${base}${request.url}`),
          }
        : {}),
    });
  });

  const reportBodyLimit = Math.max(config.bodyLimit, REPORT_BODY_LIMIT);

  // Its own context, so that its body parser applies to it alone.
  const twilioRoutes: FastifyPluginAsyncTypebox = async (twilio) => {
    // Twilio posts form-encoded parameters, and signs them (not the bytes) with the URL. JSON
    // stays accepted, for a caller with a bearer credential.
    twilio.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'buffer', bodyLimit: TWILIO_BODY_LIMIT },
      (request, body, done) => {
        const bytes = body as Buffer;
        request.rawBody = bytes;
        try {
          done(null, parseForm(bytes));
        } catch (error) {
          done(error as Error, undefined);
        }
      },
    );

    twilio.post(
      '/api/webhooks/twilio/status',
      {
        config: { access: 'calls:write', providerWebhook: 'twilio', ingest: 'webhook' },
        schema: {
          operationId: 'twilioStatusCallback',
          summary: 'Twilio voice status and recording callbacks (form-encoded, X-Twilio-Signature)',
          description:
            "Paste as the call's StatusCallback (and RecordingStatusCallback) URL. CallStatus is mapped onto the call's status; a callback whose SequenceNumber is not above one already applied changes nothing (200). A completed recording fills recordingUrl.",
          consumes: ['application/x-www-form-urlencoded'],
          body: TwilioCallbackBody,
          querystring: TwilioQuery,
          response: ingestResponses,
        },
      },
      async (request, reply) =>
        answer(
          request,
          reply,
          await providers.apply(
            request.auth,
            'twilio',
            mapTwilioCallback(request.body, request.query),
          ),
        ),
    );
  };
  await app.register(twilioRoutes);

  app.post(
    '/api/webhooks/vapi',
    {
      bodyLimit: reportBodyLimit,
      config: { access: 'calls:write', providerWebhook: 'vapi', ingest: 'webhook' },
      schema: {
        operationId: 'vapiServerMessage',
        summary: 'Vapi server messages: status-update and end-of-call-report (X-Vapi-Secret)',
        description:
          "Paste as the assistant's (or phone number's) Server URL. Other message types are acknowledged with 204 and ignored.",
        body: VapiServerMessageBody,
        querystring: ProviderQuery,
        response: ingestResponses,
      },
    },
    async (request, reply) =>
      answer(
        request,
        reply,
        await providers.apply(request.auth, 'vapi', mapVapiMessage(request.body, request.query)),
      ),
  );

  app.post(
    '/api/webhooks/retell',
    {
      bodyLimit: reportBodyLimit,
      config: { access: 'calls:write', providerWebhook: 'retell', ingest: 'webhook' },
      schema: {
        operationId: 'retellWebhook',
        summary: 'Retell webhooks: call_started, call_ended, call_analyzed (X-Retell-Signature)',
        description:
          "Paste as the account's or the agent's webhook URL. Other events are acknowledged with 204 and ignored.",
        body: RetellWebhookBody,
        querystring: ProviderQuery,
        response: ingestResponses,
      },
    },
    async (request, reply) =>
      answer(
        request,
        reply,
        await providers.apply(request.auth, 'retell', mapRetellEvent(request.body, request.query)),
      ),
  );

  app.get(
    '/api/settings/providers',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'listProviderSecrets',
        summary: "The tenant's provider secrets (never the secrets themselves)",
        response: { 200: ProviderSecretList, ...problems },
      },
    },
    async (request) => ({ data: await providers.listSecrets(request.auth) }),
  );

  app.put(
    '/api/settings/providers',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'setProviderSecret',
        summary:
          "Set (or rotate) a provider's secret: Twilio auth token, Vapi secret, Retell API key",
        body: SetProviderSecretBody,
        response: { 200: ProviderSecret, ...problems },
      },
    },
    (request) =>
      providers.setSecret(
        request.auth,
        request.body.provider,
        request.body.secret,
        request.body.overlapHours,
      ),
  );

  app.delete(
    '/api/settings/providers',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'removeProviderSecrets',
        summary: "Forget a provider's secrets: its deliveries are refused from now on",
        querystring: ProviderSelector,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      await providers.removeSecrets(request.auth, request.query.provider);
      return reply.code(204).send(null);
    },
  );
};
