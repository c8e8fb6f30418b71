// A stand-in for a Clerk instance's Frontend API, answered inside the browser (Playwright's
// page.route): nothing of Clerk's can be reached from this machine. The dashboard runs Clerk's
// real browser SDK and components against it; the session tokens it hands out are signed by the
// test Clerk (clerk.ts), which the server verifies as it would Clerk's. The answers carry the
// fields Clerk's documented client, session, user and organization objects have.
import type { Page, Request } from 'playwright-core';
import type { TestClerk } from './clerk.js';

export const FRONTEND_API_HOST = 'clerk.callmind.test';
/** A production key naming FRONTEND_API_HOST (`pk_live_` + base64 of `host$`). */
export const TEST_PUBLISHABLE_KEY = `pk_live_${Buffer.from(`${FRONTEND_API_HOST}$`).toString('base64')}`;

export interface FakeUser {
  readonly userId: string;
  readonly email: string;
  readonly firstName: string;
  /** The organizations the person belongs to (as admin); the first is active at sign-in. */
  readonly organizations: ReadonlyArray<{ id: string; name: string }>;
}

export interface FakeFrontendApi {
  /** Every request the SDK made, as `METHOD /path`. */
  readonly requests: string[];
  /** The tokens handed out, newest last. */
  readonly tokens: string[];
}

const SESSION_ID = 'sess_dashboard_test';
const CLIENT_ID = 'client_dashboard_test';

export async function fakeClerkFrontendApi(
  page: Page,
  clerk: TestClerk,
  user: FakeUser | null,
): Promise<FakeFrontendApi> {
  let signedIn = user;
  let activeOrg: string | null = user?.organizations[0]?.id ?? null;
  const requests: string[] = [];
  const tokens: string[] = [];
  const now = Date.now();

  const token = (): { object: 'token'; jwt: string } => {
    const jwt = clerk.session({
      userId: signedIn!.userId,
      orgId: activeOrg,
      claims: { sid: SESSION_ID },
    });
    tokens.push(jwt);
    return { object: 'token', jwt };
  };

  const organization = (org: { id: string; name: string }) => ({
    object: 'organization',
    id: org.id,
    name: org.name,
    slug: org.id,
    image_url: '',
    has_image: false,
    members_count: 1,
    pending_invitations_count: 0,
    max_allowed_memberships: 5,
    admin_delete_enabled: true,
    public_metadata: {},
    created_at: now,
    updated_at: now,
  });

  const userJson = (person: FakeUser) => ({
    object: 'user',
    id: person.userId,
    first_name: person.firstName,
    last_name: null,
    username: null,
    image_url: '',
    has_image: false,
    primary_email_address_id: 'idn_primary',
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    email_addresses: [
      {
        object: 'email_address',
        id: 'idn_primary',
        email_address: person.email,
        verification: { status: 'verified', strategy: 'email_code' },
        linked_to: [],
      },
    ],
    phone_numbers: [],
    web3_wallets: [],
    external_accounts: [],
    enterprise_accounts: [],
    passkeys: [],
    organization_memberships: person.organizations.map((org) => ({
      object: 'organization_membership',
      id: `orgmem_${org.id}`,
      organization: organization(org),
      permissions: [],
      public_metadata: {},
      role: 'org:admin',
      created_at: now,
      updated_at: now,
    })),
    password_enabled: true,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    public_metadata: {},
    unsafe_metadata: {},
    last_sign_in_at: now,
    created_at: now,
    updated_at: now,
  });

  const client = () => ({
    object: 'client',
    id: CLIENT_ID,
    sign_in: null,
    sign_up: null,
    last_active_session_id: signedIn === null ? null : SESSION_ID,
    sessions:
      signedIn === null
        ? []
        : [
            {
              object: 'session',
              id: SESSION_ID,
              status: 'active',
              expire_at: now + 86_400_000,
              abandon_at: now + 7 * 86_400_000,
              last_active_at: now,
              last_active_organization_id: activeOrg,
              last_active_token: token(),
              actor: null,
              tasks: null,
              factor_verification_age: null,
              user: userJson(signedIn),
              public_user_data: {
                first_name: signedIn.firstName,
                last_name: null,
                image_url: '',
                has_image: false,
                identifier: signedIn.email,
              },
              created_at: now,
              updated_at: now,
            },
          ],
    created_at: now,
    updated_at: now,
  });

  const environment = {
    object: 'environment',
    auth_config: { object: 'auth_config', id: 'aac_test', single_session_mode: true },
    display_config: {
      object: 'display_config',
      id: 'display_config_test',
      application_name: 'Callmind',
      instance_environment_type: 'production',
      after_sign_out_all_sessions_url: '/',
      after_sign_out_one_session_url: '/',
      branded: false,
    },
    organization_settings: {
      enabled: true,
      max_allowed_memberships: 5,
      force_organization_selection: false,
      actions: { admin_delete: true },
      domains: { enabled: false, enrollment_modes: [], default_role: null },
    },
    maintenance_mode: false,
  };

  const answer = (request: Request): { status: number; body: unknown } => {
    const url = new URL(request.url());
    // The SDK sends DELETE and PATCH as POST with `_method` (a simple request: no preflight).
    const method = url.searchParams.get('_method') ?? request.method();
    const route = `${method} ${url.pathname}`;
    requests.push(route);
    if (route === 'GET /v1/environment') return { status: 200, body: environment };
    if (route === 'GET /v1/client') return { status: 200, body: { response: client() } };
    if (signedIn !== null && route === 'GET /v1/me/organization_memberships') {
      const memberships = userJson(signedIn).organization_memberships;
      return {
        status: 200,
        body: { response: { data: memberships, total_count: memberships.length } },
      };
    }
    if (
      route === 'GET /v1/me/organization_invitations' ||
      route === 'GET /v1/me/organization_suggestions'
    ) {
      return { status: 200, body: { response: { data: [], total_count: 0 } } };
    }
    if (signedIn !== null && route === `POST /v1/client/sessions/${SESSION_ID}/tokens`) {
      return { status: 200, body: token() };
    }
    if (signedIn !== null && route === `POST /v1/client/sessions/${SESSION_ID}/touch`) {
      const form = new URLSearchParams(request.postData() ?? '');
      if (form.has('active_organization_id')) {
        activeOrg = form.get('active_organization_id') || null;
      }
      return { status: 200, body: { response: client().sessions[0], client: client() } };
    }
    // Signing out of every session (the single-session mode the environment sets) or one.
    if (
      route === 'DELETE /v1/client/sessions' ||
      route === `DELETE /v1/client/sessions/${SESSION_ID}`
    ) {
      signedIn = null;
      return { status: 200, body: { response: null, client: client() } };
    }
    return { status: 404, body: { errors: [{ code: 'resource_not_found', message: route }] } };
  };

  await page.route(`https://${FRONTEND_API_HOST}/**`, async (route) => {
    const origin = route.request().headers()['origin'] ?? '*';
    const { status, body } = answer(route.request());
    await route.fulfill({
      status,
      contentType: 'application/json',
      headers: {
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
      },
      body: JSON.stringify(body),
    });
  });

  return { requests, tokens };
}
