// Standard Webhooks signatures (https://www.standardwebhooks.com) as an alternative to a bearer
// credential on /api/webhooks/*, for platforms that sign their deliveries instead:
//   webhook-id, webhook-timestamp (unix seconds), webhook-signature: "v1,<base64>" (space-
//   separated list), where the signature is HMAC-SHA256 over "id.timestamp.body" with the
//   tenant's secret (whsec_ + base64). Timestamps more than 5 minutes away either way are
//   refused; several secrets verify during a rotation's overlap window.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Transactor } from '../../db/transactor.js';
import { AppError, UnauthorizedError } from '../../errors.js';
import { ulid } from '../../lib/ids.js';
import type { Clock } from '../../lib/time.js';
import type { AuthContext } from '../identity/identity.js';
import type { WebhookSigningRepository } from './webhook-signing.repository.js';

export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = 'whsec_';
const WEBHOOK_ID = /^[A-Za-z0-9_:-]{1,256}$/;
// The same characters the API accepts in ids (ID_PATTERN): any org the CLI accepts.
const TENANT = /^[A-Za-z0-9_.:@-]{1,128}$/;

export interface SignedDelivery {
  readonly tenant: string | undefined;
  readonly id: string | undefined;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly body: Buffer;
}

export interface WebhookSigningDeps {
  readonly signing: WebhookSigningRepository;
  readonly transactor: Transactor;
  readonly clock: Clock;
}

export type WebhookSigningService = ReturnType<typeof createWebhookSigningService>;

export function createWebhookSigningService({ signing, transactor, clock }: WebhookSigningDeps) {
  return {
    /**
     * Makes a new secret for the tenant; the ones it replaces keep verifying for
     * `overlapHours`, so senders can switch without losing a delivery.
     */
    async createSecret(tenantId: string, overlapHours: number) {
      const now = clock();
      const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
      const row = {
        id: `whk_${ulid(now.getTime())}`,
        tenant_id: tenantId,
        secret,
        created_at: now.toISOString(),
        expires_at: null,
      };
      const overlapEnds = new Date(now.getTime() + overlapHours * 3600_000).toISOString();
      await transactor.write(async (trx) => {
        const repo = signing.inTransaction(trx);
        await repo.expireCurrent(tenantId, overlapEnds);
        await repo.create(row);
      });
      return { id: row.id, tenant: tenantId, secret, createdAt: row.created_at };
    },

    /** The tenant's secrets without the secrets themselves, newest first. */
    async listSecrets(tenantId: string) {
      return (await signing.list(tenantId)).map((row) => ({
        id: row.id,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
      }));
    },

    /** The AuthContext of a correctly signed delivery; 400 for missing headers, 401 otherwise. */
    async verify(delivery: SignedDelivery): Promise<AuthContext & { webhookId: string }> {
      const { tenant, id, timestamp, signature } = delivery;
      if (
        tenant === undefined ||
        id === undefined ||
        timestamp === undefined ||
        signature === undefined
      ) {
        throw new AppError(
          400,
          'invalid_webhook_headers',
          'Invalid request',
          'a signed webhook needs webhook-id, webhook-timestamp, webhook-signature and ?tenant=',
        );
      }
      const refuse = () => new UnauthorizedError('the webhook signature is not valid');
      if (!WEBHOOK_ID.test(id) || !TENANT.test(tenant) || !/^\d{1,12}$/.test(timestamp)) {
        throw refuse();
      }
      const now = clock();
      if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) {
        throw refuse();
      }
      const secrets = await signing.liveSecrets(tenant, now.toISOString());
      const offered = signature
        .split(' ')
        .filter((part) => part.startsWith('v1,'))
        .map((part) => Buffer.from(part.slice(3), 'base64'));
      const signedContent = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), delivery.body]);
      const valid = secrets.some((row) => {
        const key = Buffer.from(row.secret.slice(SECRET_PREFIX.length), 'base64');
        const expected = createHmac('sha256', key).update(signedContent).digest();
        // Constant-time comparison against every offered signature.
        return offered.some(
          (candidate) =>
            candidate.length === expected.length && timingSafeEqual(candidate, expected),
        );
      });
      if (!valid) throw refuse();
      return {
        kind: 'webhook_signature',
        // Secrets are made per organization (`webhook-secrets create --org`).
        tenantId: tenant,
        orgId: tenant,
        userId: null,
        scopes: ['calls:write'],
        isAdmin: false,
        credentialId: `webhook:${tenant}`,
        webhookId: id,
      };
    },
  };
}

/** Signs a delivery as a sender would: for tests and for the README's example. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}
