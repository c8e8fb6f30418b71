// Clerk session tokens (people signed in to the dashboard, or a backend acting as its user).
// @clerk/backend's verifyToken checks the signature (RS256/384/512 only: `alg: none` and
// HS256-with-the-PEM are refused), exp, nbf and azp; it does NOT check `iss`, the presence of
// `sid`, or pending sessions, so those are checked here. The package is loaded with the first
// session token rather than at start: a server without Clerk never needs its 2 MiB of heap.
import { ServiceUnavailableError, UnauthorizedError } from '../../errors.js';
import { SCOPES, type AuthContext, type CredentialVerifier } from './identity.js';

export interface ClerkVerifierOptions {
  readonly jwtKey?: string | undefined;
  readonly secretKey?: string | undefined;
  readonly issuer?: string | undefined;
  readonly authorizedParties: readonly string[];
}

/** The claims we read, in both session-token versions. */
interface SessionClaims {
  sub?: unknown;
  sid?: unknown;
  iss?: unknown;
  sts?: unknown;
  v?: unknown;
  /** v2: the active organization. */
  o?: { id?: unknown; rol?: unknown };
  /** v1: the active organization. */
  org_id?: unknown;
  org_role?: unknown;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** v1 (`org_id`, `org_role: "org:admin"`) and v2 (`v: 2`, `o.id`, `o.rol: "admin"`) alike. */
export function sessionIdentity(claims: SessionClaims): {
  userId: string;
  orgId: string | null;
  orgRole: string | null;
} {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw invalid();
  const v2 = claims.v === 2;
  const orgId = v2 ? claims.o?.id : claims.org_id;
  const rawRole = v2 ? claims.o?.rol : claims.org_role;
  const orgRole = typeof rawRole === 'string' ? (v2 ? `org:${rawRole}` : rawRole) : null;
  return {
    userId: claims.sub,
    orgId: typeof orgId === 'string' && orgId !== '' ? orgId : null,
    orgRole,
  };
}

const invalid = () => new UnauthorizedError('the credential is not valid');

export function createClerkVerifier(options: ClerkVerifierOptions): CredentialVerifier {
  return {
    async verify(token) {
      if (!JWT_SHAPE.test(token)) return undefined; // not a JWT: perhaps an API key
      let claims: SessionClaims;
      const { verifyToken } = await import('@clerk/backend');
      try {
        claims = await verifyToken(token, {
          ...(options.jwtKey !== undefined ? { jwtKey: options.jwtKey } : {}),
          ...(options.secretKey !== undefined ? { secretKey: options.secretKey } : {}),
          ...(options.authorizedParties.length > 0
            ? { authorizedParties: [...options.authorizedParties] }
            : {}),
        });
      } catch (error) {
        // With CLERK_SECRET_KEY the signing keys come from Clerk: when Clerk cannot be reached
        // the token is not known to be bad, and the caller should retry rather than sign in again.
        if ((error as { reason?: unknown }).reason === 'jwk-remote-failed-to-load') {
          throw new ServiceUnavailableError('could not fetch the session signing keys from Clerk');
        }
        // Expired, not yet valid, wrong key, wrong algorithm, wrong azp: all the same to callers.
        throw invalid();
      }
      if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalid();
      if (typeof claims.sid !== 'string' || claims.sid === '') throw invalid();
      // A session with pending tasks (e.g. choosing an organization) is not signed in yet.
      if (claims.sts === 'pending') throw invalid();
      const { userId, orgId, orgRole } = sessionIdentity(claims);
      const context: AuthContext = {
        kind: 'clerk_session',
        tenantId: orgId ?? userId,
        userId,
        orgId,
        scopes: SCOPES,
        // In a personal tenant the user owns everything; in an org only admins manage keys.
        isAdmin: orgId === null || orgRole === 'org:admin',
        // Per user and tenant: one person's traffic in one org does not spend another's budget.
        credentialId: `session:${orgId ?? userId}:${userId}`,
      };
      return context;
    },
  };
}
