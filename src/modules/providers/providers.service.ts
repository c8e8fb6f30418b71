// Provider adapters: native Twilio, Vapi and Retell webhooks become ordinary ingest writes, so
// every ingest rule (idempotent on callSid, order-tolerant, no status regression, the events
// timeline) applies unchanged. This service holds each tenant's provider secrets (set by an
// admin, never shown again), checks a delivery's signature with them, and hands the adapter's
// write to the calls service.
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import type { Transactor } from '../../db/transactor.js';
import { AppError, UnauthorizedError, ValidationError } from '../../errors.js';
import { createValidatorCompiler, toFieldErrors } from '../../http/validation.js';
import { ulid } from '../../lib/ids.js';
import type { Clock } from '../../lib/time.js';
import {
  CallCompletedWebhookBody,
  CallStartedWebhookBody,
  CreateCallBody,
} from '../calls/calls.schemas.js';
import type { CallService, IngestResult } from '../calls/calls.service.js';
import { DEV_TENANT_ID, type AuthContext } from '../identity/identity.js';
import { renameFields, type FieldSources, type ProviderWrite } from './provider-write.js';
import type { ProviderRepository } from './providers.repository.js';
import type { ProviderName, ProviderSecret } from './providers.schemas.js';
import { verifyRetellSignature } from './retell.adapter.js';
import { verifyTwilioSignature } from './twilio.adapter.js';
import { verifyVapiSecret } from './vapi.adapter.js';

// The same characters the API accepts in ids (ID_PATTERN), as for signed webhooks.
const TENANT = /^[A-Za-z0-9_.:@-]{1,128}$/;
const DEFAULT_OVERLAP_HOURS = 24;

/** What each provider's secret looks like; checked when an admin sets one. */
const SECRET_SHAPES: Readonly<Record<ProviderName, { pattern: RegExp; message: string }>> = {
  twilio: {
    pattern: /^[0-9a-fA-F]{32}$/,
    message: 'must be the Twilio account auth token (32 hexadecimal characters)',
  },
  vapi: {
    pattern: /^[\x21-\x7e]{16,256}$/,
    message: 'must be 16 to 256 printable ASCII characters without spaces',
  },
  retell: {
    pattern: /^[\x21-\x7e]{16,256}$/,
    message: 'must be 16 to 256 printable ASCII characters without spaces (the Retell API key)',
  },
};

const LABELS: Readonly<Record<ProviderName, string>> = {
  twilio: 'X-Twilio-Signature',
  vapi: 'X-Vapi-Secret',
  retell: 'X-Retell-Signature',
};

/** One delivery as the route received it, for its signature to be checked. */
export interface ProviderDelivery {
  /** ?tenant=: whose secret signed it (dev mode: the local tenant when absent). */
  readonly tenant: string | undefined;
  /** The provider's signature header (x-twilio-signature, x-vapi-secret, x-retell-signature). */
  readonly signature: string | undefined;
  /** The body's bytes as received. */
  readonly body: Buffer;
  /** Twilio: the form parameters, and the URLs it may have called (see twilioUrlVariants). */
  readonly params?: Readonly<Record<string, string>>;
  readonly urls?: readonly string[];
}

export interface ProviderServiceDeps {
  readonly secrets: ProviderRepository;
  readonly calls: Pick<CallService, 'ingest'>;
  readonly transactor: Transactor;
  readonly clock: Clock;
  /** Dev mode: the local tenant needs no ?tenant=, and its secrets may come from the env. */
  readonly devMode: boolean;
  readonly devSecrets: Config['providers']['devSecrets'];
}

export type ProviderService = ReturnType<typeof createProviderService>;

const validatorFor = (() => {
  const compile = createValidatorCompiler();
  const compiled = (schema: object) =>
    compile({ schema, method: 'POST', url: '/api/webhooks', httpPart: 'body' });
  return {
    started: compiled(CallStartedWebhookBody),
    completed: compiled(CallCompletedWebhookBody),
    create: compiled(CreateCallBody),
  };
})();

export function createProviderService({
  secrets,
  calls,
  transactor,
  clock,
  devMode,
  devSecrets,
}: ProviderServiceDeps) {
  return {
    /**
     * The AuthContext of a delivery signed with one of the tenant's secrets for the provider.
     * An unknown tenant, a tenant without a secret and a bad signature get the same 401, in
     * about the same time (a stand-in secret is checked when there is none).
     */
    async authenticate(provider: ProviderName, delivery: ProviderDelivery): Promise<AuthContext> {
      // Neither a bearer credential nor a signature: as any /api route without a credential.
      if (delivery.signature === undefined || delivery.signature === '') {
        throw new UnauthorizedError(
          `send the ${LABELS[provider]} header (or Authorization: Bearer <credential>)`,
        );
      }
      const tenant = delivery.tenant ?? (devMode ? DEV_TENANT_ID : undefined);
      if (tenant === undefined) {
        throw new ValidationError([
          {
            field: 'tenant',
            message: `is required: the organization whose ${provider} secret signs these webhooks`,
          },
        ]);
      }
      const refuse = () =>
        new UnauthorizedError(`the ${LABELS[provider]} header is missing or not valid`);
      if (!TENANT.test(tenant)) throw refuse();
      const now = clock();
      const rows = await secrets.liveSecrets(tenant, provider, now.toISOString());
      const keys = rows.map((row) => row.secret);
      const fromEnv = devSecrets[provider];
      if (devMode && tenant === DEV_TENANT_ID && fromEnv !== undefined) keys.push(fromEnv);
      const candidates = keys.length > 0 ? keys : [randomUUID()];
      let valid: boolean;
      switch (provider) {
        case 'twilio':
          valid = verifyTwilioSignature(
            candidates,
            delivery.signature,
            delivery.urls ?? [],
            delivery.params ?? {},
          );
          break;
        case 'vapi':
          valid = verifyVapiSecret(candidates, delivery.signature);
          break;
        case 'retell':
          valid = verifyRetellSignature(candidates, delivery.signature, delivery.body, now);
          break;
      }
      if (!valid || keys.length === 0) throw refuse();
      const owner = rows[0];
      return {
        kind: 'webhook_signature',
        tenantId: tenant,
        orgId: owner?.org_id ?? null,
        userId: owner?.user_id ?? null,
        scopes: ['calls:write'],
        isAdmin: false,
        credentialId: `${provider}:${tenant}`,
      };
    },

    /**
     * Applies an adapter's write: checked against the ingest schema of its kind (problems name
     * the provider's fields), then ingested as the generic webhooks are.
     */
    async apply(
      auth: AuthContext,
      provider: ProviderName,
      write: ProviderWrite,
    ): Promise<Pick<IngestResult, 'call' | 'created' | 'outcome'>> {
      if (write.kind === 'ignored')
        return { call: undefined, created: false, outcome: 'duplicate' };
      const validate = validatorFor[write.kind];
      if (validate(write.body) !== true) {
        throw new ValidationError(
          renameFields(toFieldErrors(validate.errors ?? []), write.sources),
        );
      }
      const { sequence, deliveryId } = write;
      try {
        return await calls.ingest(
          auth,
          write.kind,
          write.body,
          deliveryId === undefined ? undefined : { webhookId: deliveryId },
          sequence === undefined ? undefined : { provider, sequence },
        );
      } catch (error) {
        throw renamed(error, write.sources);
      }
    },

    /**
     * Sets the provider's secret for the caller's tenant. The one it replaces keeps verifying
     * for `overlapHours` (default 24), so the provider can be switched over without losing a
     * delivery; 0 ends it now (a leaked secret).
     */
    async setSecret(
      auth: AuthContext,
      provider: ProviderName,
      secret: string,
      overlapHours = DEFAULT_OVERLAP_HOURS,
    ): Promise<ProviderSecret> {
      const shape = SECRET_SHAPES[provider];
      if (!shape.pattern.test(secret)) {
        throw new ValidationError([{ field: 'secret', message: shape.message }]);
      }
      const now = clock();
      const row = {
        id: `prs_${ulid(now.getTime())}`,
        tenant_id: auth.tenantId,
        org_id: auth.orgId,
        // A delivery acts as the organization, or as the user whose personal tenant it is.
        user_id: auth.orgId === null ? auth.userId : null,
        provider,
        secret,
        hint: `…${secret.slice(-4)}`,
        created_at: now.toISOString(),
        expires_at: null,
      };
      const overlapEnds = new Date(now.getTime() + overlapHours * 3600_000).toISOString();
      await transactor.write(async (trx) => {
        const repo = secrets.inTransaction(trx);
        await repo.expireCurrent(auth.tenantId, provider, overlapEnds);
        await repo.create(row);
      });
      return { provider, id: row.id, hint: row.hint, createdAt: row.created_at, expiresAt: null };
    },

    /** The tenant's provider secrets, without the secrets. */
    async listSecrets(auth: AuthContext): Promise<ProviderSecret[]> {
      return (await secrets.list(auth.tenantId)).map((row) => ({
        provider: row.provider as ProviderName,
        id: row.id,
        hint: row.hint,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
      }));
    },

    /** Forgets every secret of the provider: its deliveries are refused from now on. */
    async removeSecrets(auth: AuthContext, provider: ProviderName): Promise<void> {
      await transactor.write((trx) => secrets.inTransaction(trx).delete(auth.tenantId, provider));
    },
  };
}

/** An AppError naming our fields, renamed to the provider's; any other error as it is. */
function renamed(error: unknown, sources: FieldSources): unknown {
  if (!(error instanceof AppError) || error.errors.length === 0) return error;
  const errors = renameFields(error.errors, sources);
  if (error instanceof ValidationError) return new ValidationError(errors);
  return new AppError(error.status, error.code, error.title, error.message, errors, error.headers);
}
