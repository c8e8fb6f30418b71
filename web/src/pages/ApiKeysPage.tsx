// `/settings/api-keys`: the organization's API keys. A new key's secret is shown once, when it
// is made; the list shows only prefixes. Revoking takes effect on the key's next request.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ApiKey, CreatedApiKey } from '../../../src/modules/api-keys/api-keys.schemas';
import type { Scope } from '../../../src/modules/identity/identity';
import { ApiError, describeError } from '../api';
import { useApi } from '../session';
import { formatDateTime } from '../format';
import { LoadFailed, Loading } from '../components/LoadStates';

const SCOPE_CHOICES: ReadonlyArray<{ scope: Scope; label: string }> = [
  { scope: 'calls:read', label: 'Read calls (dashboard, exports)' },
  { scope: 'calls:write', label: 'Write calls (your phone system, webhooks)' },
];

type Load =
  | { state: 'loading' }
  | { state: 'failed'; error: string; forbidden: boolean }
  | { state: 'ready'; keys: ApiKey[] };

export function ApiKeysPage() {
  const api = useApi();
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [reloads, setReloads] = useState(0);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api
      .get<{ data: ApiKey[] }>('/api/api-keys', controller.signal)
      .then((list) => setLoad({ state: 'ready', keys: list.data }))
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setLoad({
          state: 'failed',
          error: describeError(error),
          forbidden: error instanceof ApiError && error.status === 403,
        });
      });
    return () => controller.abort();
  }, [api, reloads]);

  return (
    <section>
      <h1>API keys</h1>
      <p className="muted">
        Keys let your backend send calls and read them. Each is shown once, when it is made.
      </p>
      {load.state === 'failed' && load.forbidden ? (
        <div className="empty-state" role="alert">
          <h2>Only an admin of the organization can manage its keys</h2>
          <p>Ask an admin to make a key for you.</p>
        </div>
      ) : (
        <CreateKey
          onCreated={(key) => {
            setCreated(key);
            setReloads((n) => n + 1);
          }}
        />
      )}
      {created !== null && (
        <NewKey key={created.id} created={created} onDone={() => setCreated(null)} />
      )}
      {load.state === 'loading' && <Loading what="keys" />}
      {load.state === 'failed' && !load.forbidden && (
        <LoadFailed what="The keys" error={load.error} onRetry={() => setReloads((n) => n + 1)} />
      )}
      {load.state === 'ready' && load.keys.length === 0 && (
        <div className="empty-state">
          <h2>No API keys yet</h2>
          <p>Make one above for your phone system or voice agent.</p>
        </div>
      )}
      {load.state === 'ready' && load.keys.length > 0 && (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="visually-hidden">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Scopes</th>
                <th scope="col">Made</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {load.keys.map((key) => (
                <KeyRow key={key.id} apiKey={key} onRevoked={() => setReloads((n) => n + 1)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function KeyRow({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked: () => void }) {
  const api = useApi();
  const [error, setError] = useState<string | null>(null);
  async function revoke() {
    if (!window.confirm(`Revoke "${apiKey.name}"? Requests with it fail from now on.`)) return;
    try {
      await api.send('DELETE', `/api/api-keys/${encodeURIComponent(apiKey.id)}`);
      onRevoked();
    } catch (failure) {
      setError(describeError(failure));
    }
  }
  return (
    <tr data-key-id={apiKey.id}>
      <td>{apiKey.name}</td>
      <td className="mono">{apiKey.prefix}…</td>
      <td>{apiKey.scopes.join(', ')}</td>
      <td>{formatDateTime(apiKey.createdAt)}</td>
      <td>{apiKey.lastUsedAt ? formatDateTime(apiKey.lastUsedAt) : 'Never'}</td>
      <td>
        {apiKey.revokedAt !== null ? (
          <span className="muted">Revoked {formatDateTime(apiKey.revokedAt)}</span>
        ) : (
          <button type="button" className="danger-button" onClick={() => void revoke()}>
            Revoke<span className="visually-hidden"> {apiKey.name}</span>
          </button>
        )}
        {error !== null && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

function CreateKey({ onCreated }: { onCreated: (key: CreatedApiKey) => void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['calls:read', 'calls:write']);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onCreated(
        await api.send<CreatedApiKey>('POST', '/api/api-keys', { name: name.trim(), scopes }),
      );
      setName('');
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card inline-form" onSubmit={(event) => void submit(event)}>
      <h2>Make a key</h2>
      <label className="filter">
        <span>Name</span>
        <input
          required
          value={name}
          placeholder="Production voice agent"
          onChange={(event) => setName(event.target.value)}
        />
      </label>
      <fieldset className="scopes">
        <legend>It may</legend>
        {SCOPE_CHOICES.map(({ scope, label }) => (
          <label key={scope}>
            <input
              type="checkbox"
              checked={scopes.includes(scope)}
              onChange={(event) =>
                setScopes((current) =>
                  event.target.checked ? [...current, scope] : current.filter((s) => s !== scope),
                )
              }
            />{' '}
            {label}
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={busy || name.trim() === '' || scopes.length === 0}>
        {busy ? 'Making…' : 'Make key'}
      </button>
      {error !== null && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function NewKey({ created, onDone }: { created: CreatedApiKey; onDone: () => void }) {
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => field.current?.select(), []);
  return (
    <div className="card new-key" role="status">
      <h2>Your new key “{created.name}”</h2>
      <p>Copy it now: it is not shown again.</p>
      <label htmlFor="new-key-secret" className="visually-hidden">
        The new API key
      </label>
      <input id="new-key-secret" ref={field} readOnly value={created.key} className="mono" />
      <div className="dialog-actions">
        <button
          type="button"
          onClick={() =>
            void navigator.clipboard
              ?.writeText(created.key)
              .then(() => setCopied(true))
              .catch(() => field.current?.select())
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}
