// Clerk session tokens signed locally with a 2048-bit key of our own (Clerk's PEM handling
// accepts only 2048-bit RSA keys with e=65537): the tests never touch the network.
import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';

export const TEST_ISSUER = 'https://clerk.callmind.test';
export const TEST_AZP = 'http://localhost:3001';

export interface SessionOptions {
  readonly userId: string;
  readonly orgId?: string | null;
  /** Org role without the `org:` prefix: admin or member. */
  readonly role?: 'admin' | 'member';
  /** Session token version: 2 (o.id, o.rol) or 1 (org_id, org_role). */
  readonly version?: 1 | 2;
  /** Claims to add or override (undefined removes one). */
  readonly claims?: Record<string, unknown>;
  readonly header?: Record<string, unknown>;
  /** Sign with another key pair (a foreign key). */
  readonly key?: KeyObject;
}

const b64url = (value: object | Buffer) =>
  (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');

export interface TestClerk {
  /** The PEM public key: CLERK_JWT_KEY. */
  readonly publicKeyPem: string;
  readonly env: Record<string, string>;
  session(options: SessionOptions): string;
  /** A token with `alg: none` and no signature. */
  unsigned(options: SessionOptions): string;
  /** HS256 signed with the public PEM as the HMAC secret (the algorithm-confusion attack). */
  hmacWithPublicKey(options: SessionOptions): string;
  readonly foreignKey: KeyObject;
}

function newKeyPair() {
  return generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
}

export function createTestClerk(): TestClerk {
  const { privateKey, publicKey } = newKeyPair();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const kid = `ins_test_${randomUUID().slice(0, 8)}`;

  function payload(options: SessionOptions): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const version = options.version ?? 2;
    const org =
      options.orgId === undefined || options.orgId === null
        ? {}
        : version === 2
          ? { o: { id: options.orgId, rol: options.role ?? 'admin', slg: 'test-org' } }
          : {
              org_id: options.orgId,
              org_role: `org:${options.role ?? 'admin'}`,
              org_slug: 'test-org',
            };
    const claims: Record<string, unknown> = {
      azp: TEST_AZP,
      exp: now + 60,
      iat: now,
      nbf: now - 5,
      iss: TEST_ISSUER,
      sid: `sess_${randomUUID().slice(0, 12)}`,
      sub: options.userId,
      ...(version === 2 ? { v: 2, sts: 'active' } : {}),
      ...org,
      ...options.claims,
    };
    for (const [key, value] of Object.entries(claims)) if (value === undefined) delete claims[key];
    return claims;
  }

  return {
    publicKeyPem,
    env: {
      CLERK_JWT_KEY: publicKeyPem,
      CLERK_ISSUER: TEST_ISSUER,
      CLERK_AUTHORIZED_PARTIES: TEST_AZP,
      // Tests send many bad credentials on purpose; the throttle has a test of its own.
      AUTH_FAILURES_PER_MINUTE: '0',
    },
    foreignKey: newKeyPair().privateKey,
    session(options) {
      const header = { alg: 'RS256', typ: 'JWT', kid, ...options.header };
      const signingInput = `${b64url(header)}.${b64url(payload(options))}`;
      const signature = sign('RSA-SHA256', Buffer.from(signingInput), options.key ?? privateKey);
      return `${signingInput}.${b64url(signature)}`;
    },
    unsigned(options) {
      return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload(options))}.`;
    },
    hmacWithPublicKey(options) {
      const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT', kid })}.${b64url(payload(options))}`;
      const signature = createHmac('sha256', publicKeyPem).update(signingInput).digest();
      return `${signingInput}.${b64url(signature)}`;
    },
  };
}
