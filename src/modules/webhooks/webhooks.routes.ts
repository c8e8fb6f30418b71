// Webhook-style ingest, keyed by callSid: at-least-once and unordered deliveries are expected.
// 201 when the delivery made the record, 200 when it merged into an existing one.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ProblemSchema } from '../../http/schema-helpers.js';
import type { Services } from '../../services.js';
import { Call, CallCompletedWebhookBody, CallStartedWebhookBody } from '../calls/calls.schemas.js';

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

export const webhookRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (
  app,
  { services },
) => {
  const { calls } = services;

  app.post(
    '/api/webhooks/calls/started',
    {
      config: { access: 'calls:write' },
      schema: {
        operationId: 'callStartedWebhook',
        summary: 'A call started (creates the record, or fills one a completed webhook made)',
        body: CallStartedWebhookBody,
        response: { 200: Call, 201: Call, ...problems },
      },
    },
    async (request, reply) => {
      const { call, created } = await calls.ingest(request.auth, 'started', request.body);
      if (created) void reply.code(201).header('location', `/api/call-history/${call.id}`);
      return call;
    },
  );

  app.post(
    '/api/webhooks/calls/completed',
    {
      config: { access: 'calls:write' },
      schema: {
        operationId: 'callCompletedWebhook',
        summary: 'A call ended (creates the record if its started webhook has not arrived)',
        body: CallCompletedWebhookBody,
        response: { 200: Call, 201: Call, ...problems },
      },
    },
    async (request, reply) => {
      const { call, created } = await calls.ingest(request.auth, 'completed', request.body);
      if (created) void reply.code(201).header('location', `/api/call-history/${call.id}`);
      return call;
    },
  );
};
