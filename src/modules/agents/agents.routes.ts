import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ProblemSchema } from '../../http/schema-helpers.js';
import type { Services } from '../../services.js';
import { Agent, AgentIdParams, AgentList, CreateAgentBody } from './agents.schemas.js';

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

export const agentRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (
  app,
  { services },
) => {
  const { agents } = services;

  app.post(
    '/api/agents',
    {
      config: { access: 'calls:write' },
      schema: {
        operationId: 'createAgent',
        summary: 'Register an agent (calls name it by id)',
        body: CreateAgentBody,
        response: { 201: Agent, ...problems },
      },
    },
    async (request, reply) => {
      const agent = await agents.create(request.auth, request.body);
      void reply.code(201).header('location', `/api/agents/${encodeURIComponent(agent.id)}`);
      return agent;
    },
  );

  app.get(
    '/api/agents',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'listAgents',
        summary: "The tenant's agents, oldest first",
        response: { 200: AgentList, ...problems },
      },
    },
    async (request) => ({ data: await agents.list(request.auth) }),
  );

  app.get(
    '/api/agents/:id',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'getAgent',
        summary: 'An agent by id',
        params: AgentIdParams,
        response: { 200: Agent, ...problems },
      },
    },
    (request) => agents.get(request.auth, request.params.id),
  );
};
