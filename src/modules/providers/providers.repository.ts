// SQL for the provider adapters: each tenant's provider secrets, and the last Twilio
// SequenceNumber applied to each call.
import type { Kysely, Transaction } from 'kysely';
import type { Database, ProviderSecretRow } from '../../db/types.js';

export type ProviderRepository = ReturnType<typeof createProviderRepository>;

/** A secret's row without the secret. */
export type ProviderSecretListing = Omit<ProviderSecretRow, 'secret'>;

const LISTED = [
  'id',
  'tenant_id',
  'org_id',
  'user_id',
  'provider',
  'hint',
  'created_at',
  'expires_at',
] as const;

export function createProviderRepository(db: Kysely<Database> | Transaction<Database>) {
  return {
    inTransaction: (trx: Transaction<Database>) => createProviderRepository(trx),

    /** The provider's secrets that still verify at `now`: the current one and any in overlap. */
    liveSecrets(tenantId: string, provider: string, now: string): Promise<ProviderSecretRow[]> {
      return db
        .selectFrom('provider_secrets')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('provider', '=', provider)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .orderBy('created_at', 'desc')
        .execute();
    },

    /** Starts the overlap window of the provider's current secret. */
    async expireCurrent(tenantId: string, provider: string, expiresAt: string): Promise<void> {
      await db
        .updateTable('provider_secrets')
        .set({ expires_at: expiresAt })
        .where('tenant_id', '=', tenantId)
        .where('provider', '=', provider)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', expiresAt)]))
        .execute();
    },

    async create(row: ProviderSecretRow): Promise<void> {
      await db.insertInto('provider_secrets').values(row).execute();
    },

    list(tenantId: string): Promise<ProviderSecretListing[]> {
      return db
        .selectFrom('provider_secrets')
        .select(LISTED)
        .where('tenant_id', '=', tenantId)
        .orderBy('provider')
        .orderBy('created_at', 'desc')
        .execute();
    },

    /** Removes every secret of the provider, current and in overlap; how many there were. */
    async delete(tenantId: string, provider: string): Promise<number> {
      const result = await db
        .deleteFrom('provider_secrets')
        .where('tenant_id', '=', tenantId)
        .where('provider', '=', provider)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /**
     * Records `sequence` as the call's last applied callback, in one statement: true when it is
     * the first or higher than the stored one, false (nothing changed) when it is not. On
     * PostgreSQL a concurrent claim of the same call waits here until the first one commits.
     */
    async claimSequence(
      tenantId: string,
      provider: string,
      callSid: string,
      sequence: number,
      now: string,
    ): Promise<boolean> {
      const claimed = await db
        .insertInto('provider_call_sequences')
        .values({
          tenant_id: tenantId,
          provider,
          call_sid: callSid,
          sequence,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'provider', 'call_sid'])
            .doUpdateSet((eb) => ({
              sequence: eb.ref('excluded.sequence'),
              updated_at: eb.ref('excluded.updated_at'),
            }))
            .where('provider_call_sequences.sequence', '<', (eb) => eb.ref('excluded.sequence')),
        )
        .returning('call_sid')
        .executeTakeFirst();
      return claimed !== undefined;
    },
  };
}
