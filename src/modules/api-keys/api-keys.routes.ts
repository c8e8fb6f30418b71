// API keys for signed-in org admins. Machines (API keys themselves) cannot manage keys.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ProblemSchema } from '../../http/schema-helpers.js';
import type { Services } from '../../services.js';
import { ApiKeyIdParams, ApiKeyList, CreateApiKeyBody, CreatedApiKey } from './api-keys.schemas.js';

const problems = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  413: ProblemSchema,
  415: ProblemSchema,
  429: ProblemSchema,
  503: ProblemSchema,
};

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (
  app,
  { services },
) => {
  const { apiKeys } = services;

  app.post(
    '/api/api-keys',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'createApiKey',
        summary: 'Make an API key for machines; the answer shows the secret once',
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKey, ...problems },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.createForRequest(request.auth, request.body);
      void reply.code(201).header('location', `/api/api-keys/${created.id}`);
      return created;
    },
  );

  app.get(
    '/api/api-keys',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'listApiKeys',
        summary: "The tenant's API keys (never their secrets), newest first",
        response: { 200: ApiKeyList, ...problems },
      },
    },
    async (request) => ({ data: await apiKeys.list(request.auth) }),
  );

  app.delete(
    '/api/api-keys/:id',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key; requests with it fail from now on',
        params: ApiKeyIdParams,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      await apiKeys.revoke(request.auth, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
