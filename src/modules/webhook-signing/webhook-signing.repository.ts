// SQL for webhook signing secrets and processed delivery ids.
import type { Kysely, Transaction } from 'kysely';
import type { Database, WebhookSecretRow } from '../../db/types.js';

export type WebhookSigningRepository = ReturnType<typeof createWebhookSigningRepository>;

export function createWebhookSigningRepository(db: Kysely<Database> | Transaction<Database>) {
  return {
    inTransaction: (trx: Transaction<Database>) => createWebhookSigningRepository(trx),

    /** Secrets that still verify at `now`: the current one and any inside its overlap window. */
    liveSecrets(tenantId: string, now: string): Promise<WebhookSecretRow[]> {
      return db
        .selectFrom('webhook_secrets')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .orderBy('created_at', 'desc')
        .execute();
    },

    /** Starts the overlap window of every current secret of the tenant. */
    async expireCurrent(tenantId: string, expiresAt: string): Promise<void> {
      await db
        .updateTable('webhook_secrets')
        .set({ expires_at: expiresAt })
        .where('tenant_id', '=', tenantId)
        .where('expires_at', 'is', null)
        .execute();
    },

    async create(row: WebhookSecretRow): Promise<void> {
      await db.insertInto('webhook_secrets').values(row).execute();
    },

    list(tenantId: string): Promise<Array<Omit<WebhookSecretRow, 'secret'>>> {
      return db
        .selectFrom('webhook_secrets')
        .select(['id', 'tenant_id', 'created_at', 'expires_at'])
        .where('tenant_id', '=', tenantId)
        .orderBy('created_at', 'desc')
        .execute();
    },

    /**
     * Claims a delivery id before it is processed; false when the tenant has seen it. On
     * PostgreSQL a concurrent claim of the same id waits here until the first one commits.
     */
    async claimDelivery(tenantId: string, webhookId: string, now: string): Promise<boolean> {
      const inserted = await db
        .insertInto('webhook_deliveries')
        .values({ tenant_id: tenantId, webhook_id: webhookId, call_id: null, received_at: now })
        .onConflict((oc) => oc.columns(['tenant_id', 'webhook_id']).doNothing())
        .returning('webhook_id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async setDeliveryCall(tenantId: string, webhookId: string, callId: string): Promise<void> {
      await db
        .updateTable('webhook_deliveries')
        .set({ call_id: callId })
        .where('tenant_id', '=', tenantId)
        .where('webhook_id', '=', webhookId)
        .execute();
    },

    /** The call a processed delivery id went to (null if that call was since deleted). */
    async deliveryCall(tenantId: string, webhookId: string): Promise<string | null> {
      const row = await db
        .selectFrom('webhook_deliveries')
        .select('call_id')
        .where('tenant_id', '=', tenantId)
        .where('webhook_id', '=', webhookId)
        .executeTakeFirst();
      return row?.call_id ?? null;
    },
  };
}
