// Sign-in with Clerk, when the server has a publishable key (CLERK_PUBLISHABLE_KEY). Clerk's
// browser SDK and its sign-in components are bundled (the Clerk and ui props), not fetched from
// Clerk's CDN; the browser talks only to this server and to the instance's Frontend API. Every
// request carries the session's short-lived token (getToken refreshes it); the server verifies
// it and takes the tenant from its active organization, or the person's own when none is.
import { Clerk } from '@clerk/clerk-js/no-rhc';
import { ClerkProvider, SignIn, UserButton, useAuth, useClerk, useUser } from '@clerk/react';
import { ui } from '@clerk/ui';
import { Fragment, useMemo, useState, type ReactNode } from 'react';
import { createApi } from './api';
import { CenteredLoading } from './auth';
import { SessionContext, type DashboardConfig } from './session';

interface ClerkGateProps {
  config: DashboardConfig;
  publishableKey: string;
  children: ReactNode;
}

export default function ClerkGate({ config, publishableKey, children }: ClerkGateProps) {
  return (
    <ClerkProvider publishableKey={publishableKey} Clerk={Clerk} ui={ui} afterSignOutUrl="/">
      <ClerkSession config={config}>{children}</ClerkSession>
    </ClerkProvider>
  );
}

function ClerkSession({ config, children }: { config: DashboardConfig; children: ReactNode }) {
  const { isLoaded, isSignedIn, getToken, orgId, userId } = useAuth();

  const session = useMemo(
    () => ({
      // A refused token is not fixed by signing in again here (Clerk holds the session): the
      // page shows the server's answer instead.
      api: createApi(
        () => getToken(),
        () => {},
      ),
      config,
      account: (
        <>
          <OrganizationPicker />
          <UserButton />
        </>
      ),
    }),
    [getToken, config],
  );

  // Clerk's SDK is bundled, so it always loads; when the Frontend API cannot be reached it
  // still reports itself ready and shows its sign-in (measured: it degrades, never errs).
  if (!isLoaded) return <CenteredLoading />;
  if (!isSignedIn) {
    return (
      <main className="centered">
        {/* Back to the page that was asked for (a shared link to a call, say) once signed in. */}
        <SignIn routing="hash" fallbackRedirectUrl={location.pathname + location.search} />
      </main>
    );
  }
  return (
    <SessionContext.Provider value={session}>
      {/* Another organization is another tenant: its pages start afresh. */}
      <Fragment key={orgId ?? userId}>{children}</Fragment>
    </SessionContext.Provider>
  );
}

/**
 * The organization whose calls are shown: a plain select rather than Clerk's switcher, whose
 * button is named "Open organization switcher" while it shows the organization's name (so
 * voice control cannot reach it by what it shows). Each organization is its own tenant.
 */
function OrganizationPicker() {
  const { user } = useUser();
  const { orgId } = useAuth();
  const { setActive } = useClerk();
  const [switching, setSwitching] = useState(false);
  const memberships = user?.organizationMemberships ?? [];
  if (memberships.length === 0) return null;
  return (
    <label className="org-picker">
      <span>Organization</span>
      <select
        value={orgId ?? ''}
        disabled={switching}
        onChange={(event) => {
          setSwitching(true);
          void setActive({ organization: event.target.value || null }).finally(() =>
            setSwitching(false),
          );
        }}
      >
        {/* The person's own calls: shown only while no organization is active. */}
        {orgId == null && <option value="">Personal account</option>}
        {memberships.map(({ organization }) => (
          <option key={organization.id} value={organization.id}>
            {organization.name}
          </option>
        ))}
      </select>
    </label>
  );
}
