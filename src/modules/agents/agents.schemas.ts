import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, Nullable } from '../../http/schema-helpers.js';

export const CreateAgentBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 200,
      format: 'text',
      description: 'Shown in the dashboard',
    }),
    id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: ID_PATTERN,
        description:
          'Your own id for the agent (what calls send as agentId); default agent_ + ULID',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateAgentBody = Static<typeof CreateAgentBody>;

export const Agent = Type.Object({
  id: Type.String(),
  name: Type.String(),
  userId: Nullable(Type.String()),
  orgId: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type Agent = Static<typeof Agent>;

export const AgentList = Type.Object({ data: Type.Array(Agent) });

export const AgentIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN }),
});
