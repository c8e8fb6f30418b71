// `/`: the calls, newest first, with every filter of the API in the query string (same names,
// so a view can be shared), a search with highlighted matches, endless scroll over cursors, and
// live updates from the stream.
import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type FormEvent,
} from 'react';
import { queryString, type CallPage as Page, type ListedCall, describeError } from '../api';
import { useApi } from '../session';
import { Highlighted } from '../components/Highlighted';
import { StatusBadge } from '../components/StatusBadge';
import {
  CALL_STATUSES,
  DIRECTIONS,
  END_REASONS,
  SENTIMENTS,
  type CallStatus,
  type EndReason,
} from '../../../src/modules/calls/call-values';
import {
  END_REASON_LABELS,
  formatCost,
  formatDateTime,
  formatDuration,
  isLive,
  shownDuration,
  STATUS_LABELS,
} from '../format';
import { useLiveCalls, useStreamSettled } from '../live';
import { Link, navigate, useLocation } from '../router';
import { useNow } from '../useNow';
import { LoadFailed, Loading } from '../components/LoadStates';

/** The list's filters, by their API names. */
const FILTERS = [
  'q',
  'status',
  'direction',
  'sentiment',
  'agentId',
  'from',
  'to',
  'minDuration',
  'maxDuration',
  'minCost',
  'maxCost',
  'callerNumber',
  'topic',
  'endReason',
  'hasRecording',
  'hasTranscript',
] as const;
type FilterName = (typeof FILTERS)[number];

const PAGE_SIZE = 50;

/** The filters in the URL (collectedData.KEY too), as the API takes them. */
export function filtersOf(search: URLSearchParams): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const [name, value] of search) {
    if (value === '') continue;
    if ((FILTERS as readonly string[]).includes(name) || name.startsWith('collectedData.')) {
      filters[name] = value;
    }
  }
  return filters;
}

/**
 * Whether a call the stream sent belongs in this view, decided here for the filters that can
 * be (undefined: cannot tell, e.g. a search; the view offers to reload instead).
 */
function belongs(call: ListedCall, filters: Record<string, string>): boolean | undefined {
  const listOf = (name: string) => filters[name]?.split(',').map((v) => v.trim());
  for (const name of Object.keys(filters)) {
    if (!['status', 'direction', 'sentiment', 'agentId', 'from', 'to'].includes(name)) {
      return undefined;
    }
  }
  const within = (name: 'status' | 'direction' | 'sentiment' | 'agentId') => {
    const allowed = listOf(name);
    return allowed === undefined || allowed.includes(String(call[name]));
  };
  if (!within('status') || !within('direction') || !within('sentiment') || !within('agentId')) {
    return false;
  }
  if (filters.from && Date.parse(call.startedAt) < Date.parse(filters.from)) return false;
  if (filters.to && Date.parse(call.startedAt) >= Date.parse(filters.to)) return false;
  return true;
}

/** A change to the list's state, from the stream or the next page. */
type ViewChange = (current: { load: Load; unseen: number }) => { load: Load; unseen: number };

type Load =
  | { state: 'loading' }
  | { state: 'failed'; error: string }
  | { state: 'ready'; calls: ListedCall[]; nextCursor: string | null; total?: number };

export function CallsPage() {
  const api = useApi();
  const { search } = useLocation();
  const filters = useMemo(() => filtersOf(search), [search]);
  const filterKey = JSON.stringify(filters);
  const [loadingMore, setLoadingMore] = useState(false);
  const [reloads, setReloads] = useState(0);
  const reload = useCallback(() => setReloads((n) => n + 1), []);

  // The list as loaded for one request (these filters, this reload); a new request starts
  // from "loading" without an effect having to reset anything.
  const requestKey = `${filterKey}#${reloads}`;
  const [view, setView] = useState<{ key: string; load: Load; unseen: number }>({
    key: '',
    load: { state: 'loading' },
    unseen: 0,
  });
  const { load, unseen } =
    view.key === requestKey ? view : { load: { state: 'loading' } as Load, unseen: 0 };
  // Changes the stream sends while a request is still loading wait here, and apply to its
  // answer when it comes: that answer may have been read before they happened.
  const early = useRef<{ key: string; changes: ViewChange[] }>({ key: '', changes: [] });
  const shownKey = useRef('');
  useLayoutEffect(() => {
    shownKey.current = view.key;
  });
  const update = useCallback(
    (change: ViewChange) => {
      if (shownKey.current !== requestKey) {
        if (early.current.key !== requestKey) early.current = { key: requestKey, changes: [] };
        early.current.changes.push(change);
        return;
      }
      setView((current) =>
        current.key === requestKey ? { key: requestKey, ...change(current) } : current,
      );
    },
    [requestKey],
  );
  const [moreError, setMoreError] = useState<string | null>(null);

  const live = useLiveCalls({
    onCall(call) {
      const fits = belongs(call, filters);
      update(({ load: current, unseen: count }) => {
        if (current.state !== 'ready') return { load: current, unseen: count };
        // A search or a filter this page cannot check: offer to read the list again.
        if (fits === undefined && !current.calls.some((shown) => shown.id === call.id)) {
          return { load: current, unseen: count + 1 };
        }
        return { load: withCall(current, call, fits), unseen: count };
      });
    },
    onDeleted(id) {
      update(({ load: current, unseen: count }) => ({
        load: current.state === 'ready' ? withoutCall(current, id) : current,
        unseen: count,
      }));
    },
    onRefresh: reload,
  });
  // Read before the stream listens, the first page could miss a change made between the read
  // and the subscription; so it waits for the stream (a round trip), or a moment without it.
  const settled = useStreamSettled(live);

  // The first page, again whenever the filters change or a reload is asked for.
  useEffect(() => {
    if (!settled) return;
    const controller = new AbortController();
    const key = `${filterKey}#${reloads}`;
    api
      .get<Page>(
        `/api/call-history${queryString({ ...filters, limit: String(PAGE_SIZE), includeTotal: 'true' })}`,
        controller.signal,
      )
      .then((page) => {
        const waiting = early.current.key === key ? early.current.changes : [];
        early.current = { key: '', changes: [] };
        const loaded = {
          load: {
            state: 'ready',
            calls: page.data,
            nextCursor: page.nextCursor,
            total: page.total,
          } as Load,
          unseen: 0,
        };
        setView({ key, ...waiting.reduce((state, change) => change(state), loaded) });
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setView({ key, load: { state: 'failed', error: describeError(error) }, unseen: 0 });
      });
    return () => controller.abort();
    // filterKey stands for the filters' content.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filterKey, reloads, settled]);

  const loadMore = useCallback(async () => {
    if (load.state !== 'ready' || load.nextCursor === null || loadingMore) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await api.get<Page>(
        `/api/call-history${queryString({ ...filters, limit: String(PAGE_SIZE), cursor: load.nextCursor })}`,
      );
      update(({ load: current, unseen: count }) => {
        if (current.state !== 'ready') return { load: current, unseen: count };
        const known = new Set(current.calls.map((call) => call.id));
        return {
          load: {
            ...current,
            calls: [...current.calls, ...page.data.filter((call) => !known.has(call.id))],
            nextCursor: page.nextCursor,
          },
          unseen: count,
        };
      });
    } catch (error) {
      // The calls already shown stay; the next page can be asked for again.
      setMoreError(describeError(error));
    } finally {
      setLoadingMore(false);
    }
  }, [api, filters, load, loadingMore, update]);

  // Endless scroll: the next page when the end of the list comes into view.
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = sentinel.current;
    if (element === null) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) void loadMore();
      },
      { rootMargin: '400px' },
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, [loadMore]);

  const calls = load.state === 'ready' ? load.calls : [];
  const now = useNow(calls.some((call) => isLive(call.status)) ? 1000 : null);
  const filtered = Object.keys(filters).length > 0;

  return (
    <section className="calls-page">
      <div className="page-heading">
        <h1>Calls</h1>
        <p className="live-status" aria-live="polite">
          <span className={`dot ${live}`} aria-hidden="true" />
          {live === 'live'
            ? 'Live'
            : live === 'connecting'
              ? 'Connecting…'
              : live === 'reconnecting'
                ? 'Reconnecting…'
                : 'Live updates unavailable'}
        </p>
        <ExportButton filters={filters} disabled={load.state !== 'ready' || calls.length === 0} />
      </div>
      <FilterBar filters={filters} path="/" />
      {unseen > 0 && (
        <button type="button" className="new-calls" onClick={reload}>
          {unseen} new or changed {unseen === 1 ? 'call' : 'calls'}: show
        </button>
      )}
      {load.state === 'loading' && <Loading what="calls" />}
      {load.state === 'failed' && (
        <LoadFailed what="The calls" error={load.error} onRetry={reload} />
      )}
      {load.state === 'ready' && calls.length === 0 && (
        <div className="empty-state">
          {filtered ? (
            <>
              <h2>No calls match these filters</h2>
              <p>
                Widen the dates or remove a filter. <Link to="/">Clear all filters</Link>
              </p>
            </>
          ) : (
            <>
              <h2>No calls yet</h2>
              <p>
                Calls appear here as your phone system or voice agent sends them, live. Send one
                with <code>POST /api/call-history</code> (see the README's examples).
              </p>
            </>
          )}
        </div>
      )}
      {load.state === 'ready' && calls.length > 0 && (
        <>
          <p className="count">
            {load.total !== undefined
              ? `${load.total.toLocaleString()} ${load.total === 1 ? 'call' : 'calls'}`
              : null}
          </p>
          <div className="table-wrap">
            <table className="calls-table">
              <caption className="visually-hidden">Calls, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">Agent</th>
                  <th scope="col">Caller</th>
                  <th scope="col">Direction</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="number">
                    Duration
                  </th>
                  <th scope="col">Sentiment</th>
                  <th scope="col" className="number">
                    Cost
                  </th>
                </tr>
              </thead>
              <tbody>
                {calls.map((call) => (
                  <CallRow key={call.id} call={call} now={now} q={filters.q} />
                ))}
              </tbody>
            </table>
          </div>
          <div ref={sentinel} className="sentinel" />
          {loadingMore && <p className="loading">Loading more…</p>}
          {moreError !== null && (
            <LoadFailed what="The next calls" error={moreError} onRetry={() => void loadMore()} />
          )}
          {load.nextCursor === null && calls.length > PAGE_SIZE && (
            <p className="end">That is every matching call.</p>
          )}
        </>
      )}
    </section>
  );
}

/** The list without a call it shows (deleted, or no longer matching), its total one less. */
function withoutCall(current: Extract<Load, { state: 'ready' }>, id: string): Load {
  const calls = current.calls.filter((call) => call.id !== id);
  if (calls.length === current.calls.length) return current;
  return {
    ...current,
    calls,
    ...(current.total === undefined ? {} : { total: Math.max(0, current.total - 1) }),
  };
}

/** The list after the stream sent `call`: changed in place, added where it starts, or gone. */
function withCall(
  current: Extract<Load, { state: 'ready' }>,
  call: ListedCall,
  fits: boolean | undefined,
): Load {
  const calls = [...current.calls];
  const index = calls.findIndex((shown) => shown.id === call.id);
  if (index >= 0) {
    const before = calls[index]!;
    // A change that arrived while the list was read may be older than what the list holds.
    if (before.updatedAt > call.updatedAt) return current;
    if (fits === false) return withoutCall(current, call.id);
    // The stream's record has no search matches: keep the ones the list found.
    calls[index] = before.matches ? { ...call, matches: before.matches } : call;
    return { ...current, calls };
  }
  if (fits !== true) return current;
  // Newest first: a new call goes where its start puts it among those loaded (past the last
  // one loaded, the next page will bring it).
  const at = calls.findIndex((other) => other.startedAt < call.startedAt);
  if (at === -1 && current.nextCursor !== null) return current;
  calls.splice(at === -1 ? calls.length : at, 0, call);
  return {
    ...current,
    calls,
    ...(current.total === undefined ? {} : { total: current.total + 1 }),
  };
}

function CallRow({ call, now, q }: { call: ListedCall; now: number; q: string | undefined }) {
  // A search goes with the call, whose transcript then shows where it matched.
  const href = `/calls/${encodeURIComponent(call.id)}${queryString({ q })}`;
  return (
    <>
      <tr data-call-id={call.id}>
        <td data-label="Started">
          <Link to={href}>{formatDateTime(call.startedAt)}</Link>
        </td>
        <td data-label="Agent">{call.agentId || '—'}</td>
        <td data-label="Caller">
          <div>
            <span className="caller-name">{call.callerName ?? 'Unknown caller'}</span>
            {call.callerNumber !== null && (
              <span className="caller-number">{call.callerNumber}</span>
            )}
          </div>
        </td>
        <td data-label="Direction">{call.direction === 'inbound' ? 'Inbound' : 'Outbound'}</td>
        <td data-label="Status">
          <StatusBadge status={call.status} />
        </td>
        <td data-label="Duration" className="number">
          {formatDuration(shownDuration(call, now))}
        </td>
        <td data-label="Sentiment">{call.sentiment ?? '—'}</td>
        <td data-label="Cost" className="number">
          {formatCost(call.cost)}
        </td>
      </tr>
      {call.matches !== undefined && call.matches.length > 0 && (
        <tr className="matches-row">
          <td colSpan={8}>
            {call.matches.map((match, index) => (
              <p key={index} className="match">
                <span className="match-field">{match.field}</span>{' '}
                <Highlighted text={match.text} highlights={match.highlights} />
              </p>
            ))}
          </td>
        </tr>
      )}
    </>
  );
}

/** A date input's day as the start of that day in the browser's zone, as ISO. */
const dayToIso = (day: string) => (day === '' ? '' : new Date(`${day}T00:00`).toISOString());
const isoToDay = (iso: string | undefined) => {
  if (iso === undefined) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
};

/** The filters of the API as a form; changing one rewrites the URL of `path`. */
export function FilterBar({
  filters,
  path,
  extra = {},
}: {
  filters: Record<string, string>;
  path: string;
  /** Parameters of the page that are not filters (the analytics' bucket), kept as they are. */
  extra?: Record<string, string>;
}) {
  const set = (changes: Record<string, string | undefined>) => {
    const next: Record<string, string | undefined> = { ...filters, ...extra, ...changes };
    navigate(`${path}${queryString(next)}`, { replace: true });
  };
  const select = (
    name: FilterName,
    label: string,
    options: readonly string[],
    labels?: (v: string) => string,
  ) => (
    <label className="filter">
      <span>{label}</span>
      <select value={filters[name] ?? ''} onChange={(event) => set({ [name]: event.target.value })}>
        <option value="">Any</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {labels ? labels(option) : option}
          </option>
        ))}
      </select>
    </label>
  );
  const text = (
    name: FilterName,
    label: string,
    type = 'text',
    props: Record<string, string> = {},
  ) => (
    <label className="filter">
      <span>{label}</span>
      <input
        type={type}
        defaultValue={filters[name] ?? ''}
        key={`${name}:${filters[name] ?? ''}`}
        {...props}
        onBlur={(event) => set({ [name]: event.target.value.trim() })}
        onKeyDown={(event) => {
          if (event.key === 'Enter') set({ [name]: event.currentTarget.value.trim() });
        }}
      />
    </label>
  );
  const collected = Object.entries(filters).find(([name]) => name.startsWith('collectedData.'));
  const moreCount = Object.keys(filters).filter(
    (name) => !['q', 'status', 'direction', 'sentiment', 'agentId', 'from', 'to'].includes(name),
  ).length;
  return (
    <div className="filters">
      <SearchBox key={filters.q ?? ''} initial={filters.q ?? ''} onSearch={(q) => set({ q })} />
      <div className="filter-row">
        {select('status', 'Status', CALL_STATUSES, (v) => STATUS_LABELS[v as CallStatus])}
        {select('direction', 'Direction', DIRECTIONS)}
        {select('sentiment', 'Sentiment', SENTIMENTS)}
        {text('agentId', 'Agent')}
        <label className="filter">
          <span>From</span>
          <input
            type="date"
            value={isoToDay(filters.from)}
            onChange={(event) => set({ from: dayToIso(event.target.value) })}
          />
        </label>
        <label className="filter">
          <span>Before</span>
          <input
            type="date"
            value={isoToDay(filters.to)}
            onChange={(event) => set({ to: dayToIso(event.target.value) })}
          />
        </label>
      </div>
      <details className="more-filters" open={moreCount > 0 ? true : undefined}>
        <summary>More filters{moreCount > 0 ? ` (${moreCount})` : ''}</summary>
        <div className="filter-row">
          {text('minDuration', 'Min duration (s)', 'number', { min: '0' })}
          {text('maxDuration', 'Max duration (s)', 'number', { min: '0' })}
          {text('minCost', 'Min cost ($)', 'number', { min: '0', step: '0.01' })}
          {text('maxCost', 'Max cost ($)', 'number', { min: '0', step: '0.01' })}
          {text('callerNumber', 'Caller number', 'tel')}
          {text('topic', 'Topic')}
          {select('endReason', 'End reason', END_REASONS, (v) => END_REASON_LABELS[v as EndReason])}
          {select('hasRecording', 'Recording', ['true', 'false'], (v) =>
            v === 'true' ? 'With' : 'Without',
          )}
          {select('hasTranscript', 'Transcript', ['true', 'false'], (v) =>
            v === 'true' ? 'With' : 'Without',
          )}
          <label className="filter">
            <span>Collected data (key=value)</span>
            <input
              type="text"
              placeholder="plan=pro"
              defaultValue={
                collected ? `${collected[0].slice('collectedData.'.length)}=${collected[1]}` : ''
              }
              key={collected ? collected.join('=') : 'none'}
              onKeyDown={(event) => {
                if (event.key !== 'Enter') return;
                const [key, ...rest] = event.currentTarget.value.split('=');
                const cleared = Object.fromEntries(
                  Object.keys(filters)
                    .filter((name) => name.startsWith('collectedData.'))
                    .map((name) => [name, undefined]),
                );
                set(
                  key && rest.length > 0
                    ? { ...cleared, [`collectedData.${key.trim()}`]: rest.join('=').trim() }
                    : cleared,
                );
              }}
            />
          </label>
        </div>
      </details>
      {Object.keys(filters).length > 0 && (
        <p className="clear-filters">
          <Link to={`${path}${queryString(extra)}`}>Clear all filters</Link>
        </p>
      )}
    </div>
  );
}

/** The search box: what is typed is searched on Enter or the button, not at every key. */
function SearchBox({ initial, onSearch }: { initial: string; onSearch: (q: string) => void }) {
  const [q, setQ] = useState(initial);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSearch(q.trim());
  };
  return (
    <form role="search" className="search" onSubmit={submit}>
      <label htmlFor="search-calls" className="visually-hidden">
        Search transcripts, summaries, names, topics and collected data
      </label>
      <input
        id="search-calls"
        type="search"
        placeholder="Search transcripts, summaries, names…"
        value={q}
        onChange={(event) => setQ(event.target.value)}
      />
      <button type="submit">Search</button>
    </form>
  );
}

function ExportButton({
  filters,
  disabled,
}: {
  filters: Record<string, string>;
  disabled: boolean;
}) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function download() {
    setBusy(true);
    setError(null);
    try {
      const response = await api.raw(
        `/api/call-history/export${queryString({ ...filters, format: 'csv' })}`,
      );
      const blob = await response.blob();
      const name =
        /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ??
        'calls.csv';
      const url = URL.createObjectURL(blob);
      const anchor = document.createElement('a');
      anchor.href = url;
      anchor.download = name;
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="export">
      <button type="button" onClick={() => void download()} disabled={disabled || busy}>
        {busy ? 'Exporting…' : 'Export CSV'}
      </button>
      {error !== null && (
        <p className="error" role="alert">
          Export failed: {error}
        </p>
      )}
    </div>
  );
}
