// Org API keys: credentials for machines (telephony backends), made by org admins, shown once,
// stored only as a hash, revocable with immediate effect.
import type { Transactor } from '../../db/transactor.js';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../../errors.js';
import {
  API_KEY_PREFIX,
  displayPrefix,
  generateApiKey,
  hashApiKey,
  looksLikeApiKey,
} from '../../lib/api-key.js';
import { ulid } from '../../lib/ids.js';
import type { Clock } from '../../lib/time.js';
import {
  SCOPES,
  type AuthContext,
  type CredentialVerifier,
  type Scope,
} from '../identity/identity.js';
import type { ApiKeyRepository, PublicApiKeyRow } from './api-keys.repository.js';
import type { ApiKey, CreateApiKeyBody, CreatedApiKey } from './api-keys.schemas.js';

/** lastUsedAt is refreshed at most this often per key: a write per request would cost ingest. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export interface ApiKeyServiceDeps {
  readonly keys: ApiKeyRepository;
  readonly transactor: Transactor;
  readonly clock: Clock;
}

/** Who a new key belongs to and acts as. */
export interface ApiKeyOwner {
  readonly tenantId: string;
  readonly orgId: string | null;
  /** The user the key acts as within the org, if any. */
  readonly userId: string | null;
  readonly createdBy: string | null;
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

export function createApiKeyService({ keys, transactor, clock }: ApiKeyServiceDeps) {
  async function create(owner: ApiKeyOwner, name: string, scopes: readonly Scope[]) {
    const key = generateApiKey();
    const now = clock().toISOString();
    const row = await transactor.write((trx) =>
      keys.inTransaction(trx).create({
        id: `key_${ulid()}`,
        tenant_id: owner.tenantId,
        org_id: owner.orgId,
        user_id: owner.userId,
        name,
        scopes: [...new Set(scopes)].join(' '),
        secret_hash: hashApiKey(key),
        display_prefix: displayPrefix(key),
        created_by: owner.createdBy,
        created_at: now,
      }),
    );
    return { ...toApiKey(row), key };
  }

  return {
    /** POST /api/api-keys: an admin makes a key for their tenant. */
    async createForRequest(auth: AuthContext, body: CreateApiKeyBody): Promise<CreatedApiKey> {
      assertAdmin(auth);
      // An org admin's key acts for the org; a key made in a personal tenant acts as its user.
      return create(
        {
          tenantId: auth.tenantId,
          orgId: auth.orgId,
          userId: auth.orgId === null ? auth.userId : null,
          createdBy: auth.userId,
        },
        body.name,
        body.scopes ?? SCOPES,
      );
    },

    /** The CLI's `keys create`: an operator with database access makes a key for a tenant. */
    createForOperator(owner: ApiKeyOwner, name: string, scopes: readonly Scope[]) {
      return create(owner, name, scopes);
    },

    async list(auth: AuthContext): Promise<ApiKey[]> {
      assertAdmin(auth);
      return (await keys.list(auth.tenantId)).map(toApiKey);
    },

    async listForTenant(tenantId: string): Promise<ApiKey[]> {
      return (await keys.list(tenantId)).map(toApiKey);
    },

    async revoke(auth: AuthContext, id: string): Promise<void> {
      assertAdmin(auth);
      const now = clock().toISOString();
      const found = await transactor.write((trx) =>
        keys.inTransaction(trx).revoke(auth.tenantId, id, now),
      );
      if (!found) throw new NotFoundError('api_key_not_found', `no API key with id ${id}`);
    },

    /** The CLI's `keys revoke ID`: by id alone, as an operator. */
    async revokeAsOperator(id: string): Promise<void> {
      const now = clock().toISOString();
      const found = await transactor.write((trx) =>
        keys.inTransaction(trx).revoke(undefined, id, now),
      );
      if (!found) throw new NotFoundError('api_key_not_found', `no API key with id ${id}`);
    },

    anyActive: () => keys.anyActive(),

    /** Bearer `cm_sk_…` credentials. Looked up on every request: revocation is immediate. */
    verifier(): CredentialVerifier {
      return {
        async verify(token) {
          if (!token.startsWith(API_KEY_PREFIX)) return undefined;
          // A typo or a forged key fails here, before any database look-up.
          if (!looksLikeApiKey(token)) throw new UnauthorizedError('the credential is not valid');
          const row = await keys.findActiveByHash(hashApiKey(token));
          if (row === undefined) throw new UnauthorizedError('the credential is not valid');
          const now = clock();
          if (
            row.last_used_at === null ||
            now.getTime() - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS
          ) {
            const at = now.toISOString();
            await transactor.write((trx) => keys.inTransaction(trx).touch(row.id, at));
          }
          return {
            kind: 'api_key',
            tenantId: row.tenant_id,
            userId: row.user_id,
            orgId: row.org_id,
            scopes: parseScopes(row.scopes),
            isAdmin: false,
            credentialId: row.id,
          };
        },
      };
    },
  };
}

function assertAdmin(auth: AuthContext): void {
  if (!auth.isAdmin) {
    throw new ForbiddenError('admin_required', 'only an admin of the organization can do this');
  }
}

function parseScopes(text: string): Scope[] {
  return text.split(' ').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));
}

function toApiKey(row: PublicApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    scopes: parseScopes(row.scopes),
    prefix: row.display_prefix,
    orgId: row.org_id,
    userId: row.user_id,
    createdBy: row.created_by,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}
