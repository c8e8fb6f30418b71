// HTTP contract of /api/settings: the tenant's retention. Anyone who reads calls may see how
// long they are kept; only an organization's admin may change it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Nullable, ProblemSchema } from '../../http/schema-helpers.js';
import type { Services } from '../../services.js';

const RetentionSettings = Type.Object({
  retentionDays: Nullable(
    Type.Integer({ description: "The tenant's own setting; null follows the server default" }),
  ),
  defaultRetentionDays: Type.Integer({ description: 'RETENTION_DAYS; 0 keeps calls forever' }),
  effectiveRetentionDays: Type.Integer({ description: 'What applies; 0 keeps calls forever' }),
});

const UpdateSettingsBody = Type.Object(
  {
    retentionDays: Nullable(
      Type.Integer({
        minimum: 0,
        maximum: 36_500,
        description: 'Days a call is kept after it started; 0 forever; null: the server default',
      }),
    ),
  },
  { additionalProperties: false },
);

const problems = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  413: ProblemSchema,
  415: ProblemSchema,
  429: ProblemSchema,
  503: ProblemSchema,
};

export const settingsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (
  app,
  { services },
) => {
  app.get(
    '/api/settings',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'getSettings',
        summary: "The tenant's settings: how long calls are kept",
        response: { 200: RetentionSettings, ...problems },
      },
    },
    (request) => services.maintenance.getRetention(request.auth),
  );

  app.put(
    '/api/settings',
    {
      config: { access: 'admin' },
      schema: {
        operationId: 'updateSettings',
        summary: 'Change how long calls are kept (older calls are deleted by the next sweep)',
        body: UpdateSettingsBody,
        response: { 200: RetentionSettings, ...problems },
      },
    },
    (request) => services.maintenance.setRetention(request.auth, request.body.retentionDays),
  );
};
