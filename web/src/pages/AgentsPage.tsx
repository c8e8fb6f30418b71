// `/agents`: the tenant's agents (the ids calls carry as agentId), and a form to add one.
import { useEffect, useState, type FormEvent } from 'react';
import type { Agent } from '../../../src/modules/agents/agents.schemas';
import { describeError } from '../api';
import { useApi } from '../session';
import { formatDateTime } from '../format';
import { Link } from '../router';
import { LoadFailed, Loading } from '../components/LoadStates';

type Load =
  { state: 'loading' } | { state: 'failed'; error: string } | { state: 'ready'; agents: Agent[] };

export function AgentsPage() {
  const api = useApi();
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    api
      .get<{ data: Agent[] }>('/api/agents', controller.signal)
      .then((list) => setLoad({ state: 'ready', agents: list.data }))
      .catch((error: unknown) => {
        if (!controller.signal.aborted) setLoad({ state: 'failed', error: describeError(error) });
      });
    return () => controller.abort();
  }, [api, reloads]);

  return (
    <section>
      <h1>Agents</h1>
      <p className="muted">
        Each call names its agent by id (<code>agentId</code>). Add an agent before its calls
        arrive; in dev mode, a new id is added when its first call comes in.
      </p>
      <CreateAgent onCreated={() => setReloads((n) => n + 1)} />
      {load.state === 'loading' && <Loading what="agents" />}
      {load.state === 'failed' && (
        <LoadFailed what="The agents" error={load.error} onRetry={() => setReloads((n) => n + 1)} />
      )}
      {load.state === 'ready' && load.agents.length === 0 && (
        <div className="empty-state">
          <h2>No agents yet</h2>
          <p>Add one above with the id your voice platform sends as agentId.</p>
        </div>
      )}
      {load.state === 'ready' && load.agents.length > 0 && (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="visually-hidden">Agents</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Added</th>
                <th scope="col">Calls</th>
              </tr>
            </thead>
            <tbody>
              {load.agents.map((agent) => (
                <tr key={agent.id}>
                  <td>{agent.name}</td>
                  <td className="mono">{agent.id}</td>
                  <td>{formatDateTime(agent.createdAt)}</td>
                  <td>
                    <Link to={`/?agentId=${encodeURIComponent(agent.id)}`}>See its calls</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CreateAgent({ onCreated }: { onCreated: () => void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.send('POST', '/api/agents', {
        name: name.trim(),
        ...(id.trim() === '' ? {} : { id: id.trim() }),
      });
      setName('');
      setId('');
      onCreated();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card inline-form" onSubmit={(event) => void submit(event)}>
      <h2>Add an agent</h2>
      <label className="filter">
        <span>Name</span>
        <input required value={name} onChange={(event) => setName(event.target.value)} />
      </label>
      <label className="filter">
        <span>Id (optional)</span>
        <input
          value={id}
          placeholder="agent_support"
          onChange={(event) => setId(event.target.value)}
          className="mono"
        />
      </label>
      <button type="submit" disabled={busy || name.trim() === ''}>
        {busy ? 'Adding…' : 'Add agent'}
      </button>
      {error !== null && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
