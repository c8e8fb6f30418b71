import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, Nullable, StringEnum } from '../../http/schema-helpers.js';
import { SCOPES } from '../identity/identity.js';

export const CreateApiKeyBody = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 200,
      format: 'text',
      description: 'What the key is for',
    }),
    scopes: Type.Optional(
      Type.Array(StringEnum(SCOPES), {
        minItems: 1,
        uniqueItems: true,
        description: 'Default: calls:read and calls:write',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateApiKeyBody = Static<typeof CreateApiKeyBody>;

export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(StringEnum(SCOPES)),
  prefix: Type.String({ description: 'The first characters of the key, to tell keys apart' }),
  orgId: Nullable(Type.String()),
  userId: Nullable(Type.String({ description: 'The user the key acts as, if any' })),
  createdBy: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Nullable(Type.String({ format: 'date-time' })),
  revokedAt: Nullable(Type.String({ format: 'date-time' })),
});
export type ApiKey = Static<typeof ApiKey>;

export const CreatedApiKey = Type.Object({
  ...ApiKey.properties,
  key: Type.String({ description: 'The secret: shown this once, never again' }),
});
export type CreatedApiKey = Static<typeof CreatedApiKey>;

export const ApiKeyList = Type.Object({ data: Type.Array(ApiKey) });
export const ApiKeyIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, pattern: ID_PATTERN }),
});
