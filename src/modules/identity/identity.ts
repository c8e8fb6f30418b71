// Who is calling. Every route reads `request.auth` (one shape whatever the credential) and
// passes it to services, which scope every query to `tenantId`.
import { UnauthorizedError } from '../../errors.js';

export type CredentialKind = 'dev' | 'operator' | 'clerk_session' | 'api_key' | 'webhook_signature';

export const SCOPES = ['calls:read', 'calls:write'] as const;
export type Scope = (typeof SCOPES)[number];

export interface AuthContext {
  readonly kind: CredentialKind;
  /** The tenant every read and write is scoped to: the active org, else the user. */
  readonly tenantId: string;
  readonly userId: string | null;
  readonly orgId: string | null;
  /** What the credential may do. People's sessions may do everything their tenant allows. */
  readonly scopes: readonly Scope[];
  /** Org admins (and a user in their personal tenant) manage API keys and webhook secrets. */
  readonly isAdmin: boolean;
  /** Stable id of the credential, for rate limits: never the secret itself. */
  readonly credentialId: string;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Turns a request's bearer credential into an AuthContext, or throws UnauthorizedError. */
export interface Authenticator {
  readonly mode: 'dev' | 'required';
  authenticate(headers: Headers): Promise<AuthContext>;
}

/** The single tenant of dev mode: every request acts as it, whatever token it carries. */
export const DEV_TENANT_ID = 'local';

export const DEV_AUTH_CONTEXT: AuthContext = Object.freeze({
  kind: 'dev',
  tenantId: DEV_TENANT_ID,
  userId: null,
  orgId: null,
  scopes: SCOPES,
  isAdmin: true,
  credentialId: 'dev',
});

/**
 * Someone with the database itself in hand (the `callmind` CLI) acting for a tenant: an org, a
 * user, or the dev tenant. Not a credential anyone can send over HTTP.
 */
export function operatorAuthContext(tenant: {
  readonly orgId: string | null;
  readonly userId: string | null;
}): AuthContext {
  return {
    kind: 'operator',
    tenantId: tenant.orgId ?? tenant.userId ?? DEV_TENANT_ID,
    userId: tenant.userId,
    orgId: tenant.orgId,
    scopes: SCOPES,
    isAdmin: true,
    credentialId: 'operator',
  };
}

export function createDevAuthenticator(): Authenticator {
  return {
    mode: 'dev',
    // The guide's examples send placeholder tokens ("YOUR_TOKEN"); dev mode ignores them.
    authenticate: () => Promise.resolve(DEV_AUTH_CONTEXT),
  };
}

/**
 * Checks one kind of bearer credential: undefined when the token is not of its kind (another
 * verifier may know it), an AuthContext when it is valid, UnauthorizedError when it is of its
 * kind but not valid.
 */
export interface CredentialVerifier {
  verify(token: string): Promise<AuthContext | undefined>;
}

/** The bearer token of an Authorization header, if it has one. */
export function bearerToken(headers: Headers): string | undefined {
  const header = headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

/**
 * Authentication required: a request needs a Bearer credential that one of `verifiers`
 * accepts. Every failure gets the same answer, whatever the reason, so nothing is learned
 * about which keys or sessions exist.
 */
export function createRequiredAuthenticator(
  verifiers: readonly CredentialVerifier[],
): Authenticator {
  return {
    mode: 'required',
    async authenticate(headers) {
      const token = bearerToken(headers);
      if (token === undefined)
        throw new UnauthorizedError('send Authorization: Bearer <credential>');
      for (const verifier of verifiers) {
        const context = await verifier.verify(token);
        if (context !== undefined) return context;
      }
      throw new UnauthorizedError('the credential is not valid');
    },
  };
}
