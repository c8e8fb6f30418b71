// `/calls/{id}`: everything about one call: its facts, the recording, the transcript as a
// conversation (searchable, the term highlighted), what was collected, and its timeline; and
// deleting it, after a confirmation.
import { useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, type Call, type CallEvent, describeError } from '../api';
import { useApi } from '../session';
import { findTerms, Highlighted } from '../components/Highlighted';
import { StatusBadge } from '../components/StatusBadge';
import {
  END_REASON_LABELS,
  formatCost,
  formatDuration,
  formatFullDateTime,
  isLive,
  shownDuration,
} from '../format';
import { useLiveCalls, useStreamSettled } from '../live';
import { Link, navigate, useLocation } from '../router';
import { useNow } from '../useNow';
import { LoadFailed, Loading } from '../components/LoadStates';

type Load =
  | { state: 'loading' }
  | { state: 'missing' }
  | { state: 'failed'; error: string }
  | { state: 'ready'; call: Call; events: CallEvent[] };

export function CallPage({ id }: { id: string }) {
  const api = useApi();
  const { search } = useLocation();
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [reloads, setReloads] = useState(0);

  // This call changing elsewhere (its end arriving) shows here without a reload.
  const live = useLiveCalls({
    onCall(call) {
      if (call.id === id) setReloads((n) => n + 1);
    },
    onDeleted(deleted) {
      if (deleted === id) setLoad({ state: 'missing' });
    },
    onRefresh() {
      setReloads((n) => n + 1);
    },
  });
  // Read once the stream listens (or after a second without it), as the list does: a change
  // made between a read and the stream's start would be heard by neither.
  const settled = useStreamSettled(live);

  useEffect(() => {
    if (!settled) return;
    const controller = new AbortController();
    const path = `/api/call-history/${encodeURIComponent(id)}`;
    Promise.all([
      api.get<Call>(path, controller.signal),
      api.get<{ data: CallEvent[] }>(`${path}/events`, controller.signal),
    ])
      .then(([call, events]) => setLoad({ state: 'ready', call, events: events.data }))
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setLoad(
          error instanceof ApiError && error.status === 404
            ? { state: 'missing' }
            : { state: 'failed', error: describeError(error) },
        );
      });
    return () => controller.abort();
  }, [api, id, reloads, settled]);

  const now = useNow(load.state === 'ready' && isLive(load.call.status) ? 1000 : null);

  if (load.state === 'loading') return <Loading what="the call" />;
  if (load.state === 'missing') {
    return (
      <section className="empty-state">
        <h1>No such call</h1>
        <p>
          It may have been deleted, or the link is wrong. <Link to="/">Back to the calls</Link>
        </p>
      </section>
    );
  }
  if (load.state === 'failed') {
    return (
      <LoadFailed what="The call" error={load.error} onRetry={() => setReloads((n) => n + 1)} />
    );
  }
  const { call, events } = load;
  return (
    <article className="call-page">
      <p className="back">
        <Link to="/">← All calls</Link>
      </p>
      <header className="call-heading">
        <h1>
          {call.callerName ?? call.callerNumber ?? 'Unknown caller'}
          <StatusBadge status={call.status} />
        </h1>
        <p className="subtitle">
          {call.direction === 'inbound' ? 'Inbound' : 'Outbound'} call with{' '}
          {call.agentId || 'an agent not yet known'}, {formatFullDateTime(call.startedAt)}
        </p>
      </header>

      <section aria-labelledby="facts-heading" className="card">
        <h2 id="facts-heading">Facts</h2>
        <dl className="facts">
          <Fact
            label="Caller"
            value={[call.callerName, call.callerNumber].filter(Boolean).join(' · ') || '—'}
          />
          <Fact label="Agent" value={call.agentId || '—'} />
          <Fact label="Started" value={formatFullDateTime(call.startedAt)} />
          <Fact label="Ended" value={call.endedAt ? formatFullDateTime(call.endedAt) : '—'} />
          <Fact label="Duration" value={formatDuration(shownDuration(call, now))} />
          <Fact label="Sentiment" value={call.sentiment ?? '—'} />
          <Fact label="Cost" value={formatCost(call.cost)} />
          <Fact
            label="End reason"
            value={call.endReason ? (END_REASON_LABELS[call.endReason] ?? call.endReason) : '—'}
          />
          <Fact label="Call SID" value={call.callSid} mono />
          <Fact label="Topics" value={call.topics.length > 0 ? call.topics.join(', ') : '—'} />
        </dl>
        {call.summary !== null && (
          <>
            <h3>Summary</h3>
            <p className="summary">{call.summary}</p>
          </>
        )}
      </section>

      <section aria-labelledby="recording-heading" className="card">
        <h2 id="recording-heading">Recording</h2>
        {call.recordingUrl !== null && isWebUrl(call.recordingUrl) ? (
          <audio controls preload="none" src={call.recordingUrl} className="player">
            <a href={call.recordingUrl}>Download the recording</a>
          </audio>
        ) : (
          <p className="muted">No recording was sent for this call.</p>
        )}
      </section>

      <Transcript transcript={call.transcript} initialTerm={search.get('q') ?? ''} />

      {Object.keys(call.collectedData).length > 0 && (
        <section aria-labelledby="collected-heading" className="card">
          <h2 id="collected-heading">Collected data</h2>
          <dl className="facts">
            {Object.entries(call.collectedData).map(([key, value]) => (
              <Fact
                key={key}
                label={key}
                value={typeof value === 'string' ? value : JSON.stringify(value)}
                mono={typeof value !== 'string'}
              />
            ))}
          </dl>
        </section>
      )}

      <section aria-labelledby="timeline-heading" className="card">
        <h2 id="timeline-heading">Timeline</h2>
        <ol className="timeline">
          {events.map((event) => (
            <li key={event.id}>
              <time dateTime={event.receivedAt}>{formatFullDateTime(event.receivedAt)}</time>{' '}
              <strong>{EVENT_LABELS[event.kind] ?? event.kind}</strong>
              {event.statusBefore !== event.statusAfter && (
                <>
                  {' '}
                  {event.statusBefore ? `${event.statusBefore} → ` : ''}
                  {event.statusAfter}
                </>
              )}
              {event.outcome === 'merged' && <span className="muted"> (merged)</span>}
            </li>
          ))}
        </ol>
      </section>

      <DeleteCall id={call.id} />
    </article>
  );
}

/**
 * Whether a URL is http(s): the API accepts no other recording URL, but an import might hold
 * one, and no other scheme belongs in a player or a link.
 */
function isWebUrl(url: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

const EVENT_LABELS: Record<string, string> = {
  create: 'Created by the API',
  started: 'Started webhook',
  completed: 'Completed webhook',
  status_update: 'Status update',
  sweep: 'Ended by the server (no final event)',
};

function Fact({ label, value, mono = false }: { label: string; value: string; mono?: boolean }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd className={mono ? 'mono' : undefined}>{value}</dd>
    </div>
  );
}

/** A transcript's lines as turns: "Agent: …" and "Caller: …" (or the line as it is). */
function turnsOf(transcript: string): Array<{ speaker: 'agent' | 'caller' | null; text: string }> {
  return transcript
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = /^\s*(agent|assistant|bot|ai|caller|customer|user|human)\s*:\s*(.*)$/i.exec(
        line,
      );
      if (match === null) return { speaker: null, text: line };
      const who = match[1]!.toLowerCase();
      return {
        speaker: ['agent', 'assistant', 'bot', 'ai'].includes(who) ? 'agent' : 'caller',
        text: match[2]!,
      };
    });
}

function Transcript({
  transcript,
  initialTerm,
}: {
  transcript: string | null;
  initialTerm: string;
}) {
  const [term, setTerm] = useState(initialTerm);
  const turns = useMemo(() => (transcript === null ? [] : turnsOf(transcript)), [transcript]);
  const hits = useMemo(
    () => turns.map((turn) => (term.trim() === '' ? [] : findTerms(turn.text, term))),
    [turns, term],
  );
  const count = hits.reduce((sum, ranges) => sum + ranges.length, 0);
  const firstHit = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (initialTerm !== '') firstHit.current?.scrollIntoView({ block: 'center' });
  }, [initialTerm]);
  const firstIndex = hits.findIndex((ranges) => ranges.length > 0);
  return (
    <section aria-labelledby="transcript-heading" className="card">
      <h2 id="transcript-heading">Transcript</h2>
      {transcript === null ? (
        <p className="muted">No transcript was sent for this call.</p>
      ) : (
        <>
          <div className="transcript-search" role="search">
            <label htmlFor="transcript-term">Find in the transcript</label>
            <input
              id="transcript-term"
              type="search"
              value={term}
              onChange={(event) => setTerm(event.target.value)}
            />
            <span aria-live="polite" className="muted">
              {term.trim() === '' ? '' : `${count} ${count === 1 ? 'match' : 'matches'}`}
            </span>
          </div>
          <ol className="conversation">
            {turns.map((turn, index) => (
              <li
                key={index}
                ref={index === firstIndex ? firstHit : undefined}
                className={`turn ${turn.speaker ?? 'plain'}`}
              >
                {turn.speaker !== null && (
                  <span className="speaker">{turn.speaker === 'agent' ? 'Agent' : 'Caller'}</span>
                )}
                <p>
                  <Highlighted text={turn.text} highlights={hits[index] ?? []} />
                </p>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

function DeleteCall({ id }: { id: string }) {
  const api = useApi();
  const dialog = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await api.send('DELETE', `/api/call-history/${encodeURIComponent(id)}`);
      dialog.current?.close();
      navigate('/');
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby="danger-heading" className="card danger">
      <h2 id="danger-heading">Delete this call</h2>
      <p>Its record, transcript, timeline and search entries go for good.</p>
      <button type="button" className="danger-button" onClick={() => dialog.current?.showModal()}>
        Delete call…
      </button>
      <dialog ref={dialog} aria-labelledby="confirm-heading">
        <h2 id="confirm-heading">Delete this call for good?</h2>
        <p>This cannot be undone.</p>
        {error !== null && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={() => dialog.current?.close()} autoFocus>
            Keep it
          </button>
          <button
            type="button"
            className="danger-button"
            disabled={busy}
            onClick={() => void confirm()}
          >
            {busy ? 'Deleting…' : 'Delete'}
          </button>
        </div>
      </dialog>
    </section>
  );
}
