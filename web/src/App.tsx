import { AuthGate } from './auth';
import { AgentsPage } from './pages/AgentsPage';
import { AnalyticsPage } from './pages/AnalyticsPage';
import { ApiKeysPage } from './pages/ApiKeysPage';
import { CallPage } from './pages/CallPage';
import { CallsPage } from './pages/CallsPage';
import { Link, useLocation } from './router';
import { useSession } from './session';

const NAV = [
  {
    to: '/',
    label: 'Calls',
    current: (path: string) => path === '/' || path.startsWith('/calls/'),
  },
  { to: '/analytics', label: 'Analytics', current: (path: string) => path === '/analytics' },
  { to: '/agents', label: 'Agents', current: (path: string) => path === '/agents' },
  {
    to: '/settings/api-keys',
    label: 'API keys',
    current: (path: string) => path === '/settings/api-keys',
  },
];

/** A path segment decoded, or undefined when it is not valid %-encoding (a mangled link). */
function decodeSegment(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function Shell() {
  const { path } = useLocation();
  const { config, account } = useSession();
  const callId = decodeSegment(/^\/calls\/([^/]+)$/.exec(path)?.[1]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      {config.devMode && (
        <div className="dev-banner" role="note">
          Dev mode: this server asks for no sign-in, and anyone who can reach it sees every call.
          Set <code>AUTH_REQUIRED=1</code> before exposing it.
        </div>
      )}
      <header className="top-bar">
        <Link to="/" className="brand">
          Callmind
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to} aria-current={item.current(path) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        {account !== null && <div className="account">{account}</div>}
      </header>
      <main id="main" tabIndex={-1}>
        {path === '/' ? (
          <CallsPage />
        ) : path === '/analytics' ? (
          <AnalyticsPage />
        ) : path === '/agents' ? (
          <AgentsPage />
        ) : path === '/settings/api-keys' ? (
          <ApiKeysPage />
        ) : callId !== undefined ? (
          <CallPage key={callId} id={callId} />
        ) : (
          <section className="empty-state">
            <h1>Page not found</h1>
            <p>
              There is nothing at <code>{path}</code>. <Link to="/">See the calls</Link>.
            </p>
          </section>
        )}
      </main>
    </>
  );
}

export function App() {
  return (
    <AuthGate>
      <Shell />
    </AuthGate>
  );
}
