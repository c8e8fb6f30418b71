// SQL for API keys. The column lists never include secret_hash except where a key is looked up.
import type { Kysely, Transaction } from 'kysely';
import type { ApiKeyRow, Database, NewApiKeyRow } from '../../db/types.js';

const PUBLIC_COLUMNS = [
  'id',
  'tenant_id',
  'org_id',
  'user_id',
  'name',
  'scopes',
  'display_prefix',
  'created_by',
  'created_at',
  'last_used_at',
  'revoked_at',
] as const;

export type PublicApiKeyRow = Omit<ApiKeyRow, 'secret_hash'>;
export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;

export function createApiKeyRepository(db: Kysely<Database> | Transaction<Database>) {
  return {
    inTransaction: (trx: Transaction<Database>) => createApiKeyRepository(trx),

    async create(row: NewApiKeyRow): Promise<PublicApiKeyRow> {
      return db
        .insertInto('api_keys')
        .values(row)
        .returning(PUBLIC_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    /** The live (not revoked) key with this hash, whichever tenant it belongs to. */
    findActiveByHash(secretHash: string): Promise<PublicApiKeyRow | undefined> {
      return db
        .selectFrom('api_keys')
        .select(PUBLIC_COLUMNS)
        .where('secret_hash', '=', secretHash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
    },

    list(tenantId: string): Promise<PublicApiKeyRow[]> {
      return db
        .selectFrom('api_keys')
        .select(PUBLIC_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .execute();
    },

    /** Whether any live key exists: production refuses to start with no way to authenticate. */
    async anyActive(): Promise<boolean> {
      const row = await db
        .selectFrom('api_keys')
        .select('id')
        .where('revoked_at', 'is', null)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },

    /** Marks the key revoked (once); false when the tenant has no key with that id. */
    async revoke(tenantId: string | undefined, id: string, now: string): Promise<boolean> {
      let query = db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id);
      if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
      const revoked = await query.where('revoked_at', 'is', null).executeTakeFirst();
      if (revoked.numUpdatedRows > 0n) return true;
      let exists = db.selectFrom('api_keys').select('id').where('id', '=', id);
      if (tenantId !== undefined) exists = exists.where('tenant_id', '=', tenantId);
      return (await exists.executeTakeFirst()) !== undefined;
    },

    async touch(id: string, now: string): Promise<void> {
      await db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
    },
  };
}
