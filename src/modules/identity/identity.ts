// Who is calling. Every route reads `request.auth` (one shape whatever the credential) and
// passes it to services, which scope every query to `tenantId`.
import { UnauthorizedError } from '../../errors.js';

export type CredentialKind = 'dev' | 'clerk_session' | 'api_key';

export interface AuthContext {
  readonly kind: CredentialKind;
  /** The tenant every read and write is scoped to: the active org, else the user. */
  readonly tenantId: string;
  readonly userId: string | null;
  readonly orgId: string | null;
}

/** Turns a request's headers into an AuthContext, or throws UnauthorizedError. */
export interface Authenticator {
  readonly mode: 'dev' | 'required';
  authenticate(
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): Promise<AuthContext>;
}

/** The single tenant of dev mode: every request acts as it, whatever token it carries. */
export const DEV_TENANT_ID = 'local';

export function createDevAuthenticator(): Authenticator {
  const context: AuthContext = Object.freeze({
    kind: 'dev',
    tenantId: DEV_TENANT_ID,
    userId: null,
    orgId: null,
  });
  return {
    mode: 'dev',
    // The guide's examples send placeholder tokens ("YOUR_TOKEN"); dev mode ignores them.
    authenticate: () => Promise.resolve(context),
  };
}

/** Checks one kind of bearer credential; undefined when the token is not of its kind. */
export interface CredentialVerifier {
  verify(token: string): Promise<AuthContext | undefined>;
}

/**
 * Authentication required: a request needs a Bearer credential that one of `verifiers`
 * accepts. With no verifiers configured every request is refused.
 */
export function createRequiredAuthenticator(
  verifiers: readonly CredentialVerifier[],
): Authenticator {
  return {
    mode: 'required',
    async authenticate(headers) {
      const header = headers.authorization;
      const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      if (match === null) throw new UnauthorizedError('send Authorization: Bearer <credential>');
      for (const verifier of verifiers) {
        const context = await verifier.verify(match[1]!);
        if (context !== undefined) return context;
      }
      throw new UnauthorizedError('the credential is not valid');
    },
  };
}
