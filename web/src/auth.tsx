// The sign-in gate. The server says how it is set up (/dashboard-config.json, or the page's meta
// tag): in dev mode there is no sign-in at all; with a Clerk publishable key, Clerk's sign-in
// (clerk.tsx, loaded only then: Clerk's code is most of its weight); otherwise an organization
// API key, kept for this browser tab's session only (sessionStorage: gone when the tab closes,
// never sent anywhere else).
import { lazy, Suspense, useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, createApi } from './api';
import { SessionContext, type DashboardConfig } from './session';

const ClerkGate = lazy(() => import('./clerk'));

const KEY_STORAGE = 'callmind.apiKey';

/** The configuration the server wrote into the page (src/http/web.plugin.ts), if it did. */
const configInPage: DashboardConfig | null = (() => {
  const content = document.querySelector('meta[name="callmind-config"]')?.getAttribute('content');
  if (content === null || content === undefined) return null;
  try {
    return JSON.parse(content) as DashboardConfig;
  } catch {
    return null;
  }
})();

export function AuthGate({ children }: { children: ReactNode }) {
  const [config, setConfig] = useState<DashboardConfig | null>(configInPage);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    if (configInPage !== null) return;
    fetch('/dashboard-config.json')
      .then(async (response) => {
        if (!response.ok) throw new Error(`the server answered ${response.status}`);
        setConfig((await response.json()) as DashboardConfig);
      })
      .catch((error: unknown) =>
        setFailure(String(error instanceof Error ? error.message : error)),
      );
  }, []);

  if (failure !== null) {
    return (
      <main className="centered" role="alert">
        <h1>The dashboard could not reach its server</h1>
        <p>{failure}. Check that the Callmind server is running, then reload this page.</p>
      </main>
    );
  }
  if (config === null) return <CenteredLoading />;
  if (config.clerkPublishableKey !== undefined && !config.devMode) {
    return (
      <Suspense fallback={<CenteredLoading />}>
        <ClerkGate config={config} publishableKey={config.clerkPublishableKey}>
          {children}
        </ClerkGate>
      </Suspense>
    );
  }
  return <ApiKeyGate config={config}>{children}</ApiKeyGate>;
}

export function CenteredLoading() {
  return (
    <main className="centered" aria-busy="true">
      <p>Loading…</p>
    </main>
  );
}

function ApiKeyGate({ config, children }: { config: DashboardConfig; children: ReactNode }) {
  const [apiKey, setApiKey] = useState<string | null>(() => sessionStorage.getItem(KEY_STORAGE));

  const signOut = useCallback(() => {
    sessionStorage.removeItem(KEY_STORAGE);
    setApiKey(null);
  }, []);

  const api = useMemo(
    () =>
      createApi(
        async () => (config.devMode ? null : apiKey),
        () => {
          if (!config.devMode) signOut();
        },
      ),
    [config, apiKey, signOut],
  );

  const session = useMemo(
    () => ({
      api,
      config,
      account: config.devMode ? null : (
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      ),
    }),
    [api, config, signOut],
  );

  if (!config.devMode && apiKey === null) {
    return (
      <SignIn
        onSignedIn={(key) => {
          sessionStorage.setItem(KEY_STORAGE, key);
          setApiKey(key);
        }}
      />
    );
  }
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

function SignIn({ onSignedIn }: { onSignedIn: (key: string) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate.startsWith('cm_sk_')) {
      setError('An API key starts with cm_sk_. Create one with `callmind keys create`.');
      return;
    }
    setChecking(true);
    setError(null);
    try {
      await createApi(
        async () => candidate,
        () => {},
      ).get('/api/call-history?limit=1');
      onSignedIn(candidate);
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'This key was not accepted: it may be mistyped or revoked.'
          : failure instanceof ApiError && failure.status === 403
            ? 'This key cannot read calls (it lacks the calls:read scope).'
            : String(failure instanceof Error ? failure.message : failure),
      );
    } finally {
      setChecking(false);
    }
  }

  return (
    <main className="centered">
      <form className="card sign-in" onSubmit={(event) => void submit(event)}>
        <h1>Sign in to Callmind</h1>
        <p>
          Paste an organization API key. It is kept only in this tab and forgotten when the tab
          closes.
        </p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(event) => setKey(event.target.value)}
          aria-invalid={error !== null}
          aria-describedby={error !== null ? 'sign-in-error' : undefined}
        />
        {error !== null && (
          <p id="sign-in-error" className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={checking}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
