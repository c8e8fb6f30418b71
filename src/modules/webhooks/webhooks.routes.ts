// Webhook-style ingest, keyed by callSid: at-least-once and unordered deliveries are expected.
// 201 when the delivery made the record, 200 when it merged into an existing one.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { ID_PATTERN, ProblemSchema } from '../../http/schema-helpers.js';
import type { Services } from '../../services.js';
import {
  Call,
  CallCompletedWebhookBody,
  CallStartedWebhookBody,
  type Call as CallShape,
} from '../calls/calls.schemas.js';

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

/** `tenant` names whose secret signed a signed delivery (unused with a bearer credential). */
const WebhookQuery = Type.Object(
  { tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN })) },
  { additionalProperties: false },
);

/** 201 + Location for a new call, 200 for a merge, 204 for a replay of a since-deleted call. */
function answer(reply: FastifyReply, call: CallShape | undefined, created: boolean) {
  if (call === undefined) return reply.code(204).send(null);
  if (created) void reply.code(201).header('location', `/api/call-history/${call.id}`);
  return call;
}

export const webhookRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (
  app,
  { services },
) => {
  const { calls } = services;

  app.post(
    '/api/webhooks/calls/started',
    {
      config: { access: 'calls:write', signedWebhook: true, ingest: 'webhook' },
      schema: {
        operationId: 'callStartedWebhook',
        summary: 'A call started (creates the record, or fills one a completed webhook made)',
        body: CallStartedWebhookBody,
        querystring: WebhookQuery,
        response: { 200: Call, 201: Call, 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      const { call, created, outcome } = await calls.ingest(
        request.auth,
        'started',
        request.body,
        request.webhookDelivery,
      );
      request.ingestOutcome = outcome;
      return answer(reply, call, created);
    },
  );

  app.post(
    '/api/webhooks/calls/completed',
    {
      config: { access: 'calls:write', signedWebhook: true, ingest: 'webhook' },
      schema: {
        operationId: 'callCompletedWebhook',
        summary: 'A call ended (creates the record if its started webhook has not arrived)',
        body: CallCompletedWebhookBody,
        querystring: WebhookQuery,
        response: { 200: Call, 201: Call, 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      const { call, created, outcome } = await calls.ingest(
        request.auth,
        'completed',
        request.body,
        request.webhookDelivery,
      );
      request.ingestOutcome = outcome;
      return answer(reply, call, created);
    },
  );
};
