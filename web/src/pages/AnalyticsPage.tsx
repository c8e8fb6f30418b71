// `/analytics`: the stats of the calls matching the same filters as the list, over a date range
// (the last 30 days unless the URL says otherwise): calls per day stacked by status, the
// sentiment split, how durations spread, cost over time, and calls per agent. Charts are plain
// SVG, each with its numbers in a table beside it for screen readers and for exact values.
import { useEffect, useMemo, useState } from 'react';
import type { CallStats } from '../../../src/modules/calls/calls.schemas';
import { useApi } from '../session';
import { formatCost, formatDuration, STATUS_LABELS } from '../format';
import { Link, navigate, useLocation } from '../router';
import { FilterBar, filtersOf } from './CallsPage';
import { queryString, describeError } from '../api';
import { CALL_STATUSES } from '../../../src/modules/calls/call-values';
import { LoadFailed, Loading } from '../components/LoadStates';

const DAY_MS = 86_400_000;
const BUCKETS = ['hour', 'day', 'week'] as const;
type Bucket = (typeof BUCKETS)[number];

const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** The last 30 days, to the end of today, in the browser's zone. */
function defaultRange(): { from: string; to: string } {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const to = new Date(today.getTime() + DAY_MS);
  to.setHours(0, 0, 0, 0);
  const from = new Date(today.getTime() - 29 * DAY_MS);
  from.setHours(0, 0, 0, 0);
  return { from: from.toISOString(), to: to.toISOString() };
}

type Load =
  { state: 'loading' } | { state: 'failed'; error: string } | { state: 'ready'; stats: CallStats };

export function AnalyticsPage() {
  const api = useApi();
  const { search } = useLocation();
  const filters = useMemo(() => filtersOf(search), [search]);
  const bucketParam = search.get('bucket');
  const bucket: Bucket = BUCKETS.includes(bucketParam as Bucket) ? (bucketParam as Bucket) : 'day';
  const ranged = filters.from !== undefined && filters.to !== undefined;
  const key = JSON.stringify([filters, bucket]);
  const [view, setView] = useState<{ key: string; load: Load }>({
    key: '',
    load: { state: 'loading' },
  });
  const load: Load = view.key === key ? view.load : { state: 'loading' };

  // A range always shows in the URL, so the view can be shared as it is.
  useEffect(() => {
    if (ranged) return;
    const range = defaultRange();
    navigate(
      `/analytics${queryString({ ...filters, from: filters.from ?? range.from, to: filters.to ?? range.to, bucket })}`,
      { replace: true },
    );
  }, [ranged, filters, bucket]);

  useEffect(() => {
    if (!ranged) return;
    const controller = new AbortController();
    api
      .get<CallStats>(
        `/api/call-history/stats${queryString({ ...filters, bucket, tz: timeZone })}`,
        controller.signal,
      )
      .then((stats) => setView({ key, load: { state: 'ready', stats } }))
      .catch((error: unknown) => {
        if (!controller.signal.aborted)
          setView({ key, load: { state: 'failed', error: describeError(error) } });
      });
    return () => controller.abort();
    // key stands for filters and bucket.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, key, ranged]);

  return (
    <section className="analytics">
      <div className="page-heading">
        <h1>Analytics</h1>
        <label className="filter">
          <span>Per</span>
          <select
            value={bucket}
            onChange={(event) =>
              navigate(`/analytics${queryString({ ...filters, bucket: event.target.value })}`, {
                replace: true,
              })
            }
          >
            {BUCKETS.map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </label>
      </div>
      <FilterBar filters={filters} path="/analytics" extra={{ bucket }} />
      {load.state === 'loading' && <Loading what="analytics" />}
      {load.state === 'failed' && (
        <LoadFailed
          what="The analytics"
          error={load.error}
          hint="A narrower date range or a larger bucket may help."
        />
      )}
      {load.state === 'ready' && load.stats.total === 0 && (
        <div className="empty-state">
          <h2>No calls in this range</h2>
          <p>Widen the dates or remove a filter.</p>
        </div>
      )}
      {load.state === 'ready' && load.stats.total > 0 && (
        <Charts stats={load.stats} filters={filters} />
      )}
    </section>
  );
}

function Charts({ stats, filters }: { stats: CallStats; filters: Record<string, string> }) {
  return (
    <>
      <div className="summary-tiles">
        <Tile label="Calls" value={stats.total.toLocaleString()} />
        <Tile
          label="Completed"
          value={`${Math.round((stats.byStatus.completed / stats.total) * 100)} %`}
        />
        <Tile label="Median duration" value={formatDuration(stats.duration.p50)} />
        <Tile label="90th percentile" value={formatDuration(stats.duration.p90)} />
        <Tile label="Cost" value={formatCost(stats.cost.total)} />
      </div>
      <div className="charts">
        <StatusSeries stats={stats} />
        <SentimentSplit stats={stats} />
        <DurationSpread stats={stats} />
        <CostSeries stats={stats} />
        <AgentTable stats={stats} filters={filters} />
      </div>
    </>
  );
}

function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div className="tile">
      <span className="tile-label">{label}</span>
      <span className="tile-value">{value}</span>
    </div>
  );
}

const bucketLabel = (iso: string, bucket: string) =>
  new Intl.DateTimeFormat(undefined, {
    month: 'short',
    day: 'numeric',
    ...(bucket === 'hour' ? { hour: 'numeric' } : {}),
  }).format(new Date(iso));

const WIDTH = 640;
const HEIGHT = 200;
const PAD = { left: 36, bottom: 22, top: 8, right: 8 };

/** Up to six labels along an axis of `count` slots. */
const tickIndexes = (count: number) => {
  const step = Math.max(1, Math.ceil(count / 6));
  return Array.from({ length: count }, (_, i) => i).filter((i) => i % step === 0);
};

function Axis({ max, format }: { max: number; format: (value: number) => string }) {
  const y = (value: number) => PAD.top + (HEIGHT - PAD.top - PAD.bottom) * (1 - value / max);
  return (
    <g className="axis" aria-hidden="true">
      {[0, 0.5, 1].map((share) => (
        <g key={share}>
          <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(max * share)} y2={y(max * share)} />
          <text x={PAD.left - 4} y={y(max * share) + 4} textAnchor="end">
            {format(max * share)}
          </text>
        </g>
      ))}
    </g>
  );
}

function StatusSeries({ stats }: { stats: CallStats }) {
  const series = stats.series;
  const max = Math.max(1, ...series.map((entry) => entry.total));
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, series.length);
  return (
    <figure className="card chart">
      <figcaption>
        <h2>Calls per {stats.bucket}, by status</h2>
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`Calls per ${stats.bucket}: ${stats.total} in all, at most ${max} in one ${stats.bucket}`}
      >
        <Axis max={max} format={(v) => String(Math.round(v))} />
        {series.map((entry, index) => {
          let y = HEIGHT - PAD.bottom;
          return (
            <g key={entry.start}>
              <title>{`${bucketLabel(entry.start, stats.bucket)}: ${entry.total} calls`}</title>
              {CALL_STATUSES.map((status) => {
                const height = (entry.byStatus[status] / max) * plotHeight;
                y -= height;
                return height > 0 ? (
                  <rect
                    key={status}
                    className={`fill-${status}`}
                    x={PAD.left + index * slot + slot * 0.1}
                    width={Math.max(1, slot * 0.8)}
                    y={y}
                    height={height}
                  />
                ) : null;
              })}
            </g>
          );
        })}
        {tickIndexes(series.length).map((index) => (
          <text
            key={index}
            className="tick"
            x={PAD.left + index * slot + slot / 2}
            y={HEIGHT - 6}
            textAnchor="middle"
          >
            {bucketLabel(series[index]!.start, stats.bucket)}
          </text>
        ))}
      </svg>
      <ul className="legend">
        {CALL_STATUSES.map((status) => (
          <li key={status}>
            <span className={`swatch fill-${status}`} aria-hidden="true" />
            {STATUS_LABELS[status]}: {stats.byStatus[status].toLocaleString()}
          </li>
        ))}
      </ul>
      <DataTable
        caption={`Calls per ${stats.bucket}`}
        head={['Starting', 'Calls', ...CALL_STATUSES.map((s) => STATUS_LABELS[s])]}
        rows={series
          .filter((entry) => entry.total > 0)
          .map((entry) => [
            bucketLabel(entry.start, stats.bucket),
            String(entry.total),
            ...CALL_STATUSES.map((s) => String(entry.byStatus[s])),
          ])}
      />
    </figure>
  );
}

function SentimentSplit({ stats }: { stats: CallStats }) {
  const parts = [
    { key: 'positive', label: 'Positive', value: stats.bySentiment.positive },
    { key: 'neutral', label: 'Neutral', value: stats.bySentiment.neutral },
    { key: 'negative', label: 'Negative', value: stats.bySentiment.negative },
    { key: 'unknown', label: 'Not given', value: stats.bySentiment.unknown },
  ];
  const total = Math.max(1, stats.total);
  let x = 0;
  return (
    <figure className="card chart">
      <figcaption>
        <h2>Sentiment</h2>
      </figcaption>
      <svg
        viewBox="0 0 640 36"
        role="img"
        aria-label={parts.map((part) => `${part.label} ${part.value}`).join(', ')}
      >
        {parts.map((part) => {
          const width = (part.value / total) * 640;
          x += width;
          return width > 0 ? (
            <rect
              key={part.key}
              className={`fill-${part.key}`}
              x={x - width}
              y={4}
              width={width}
              height={28}
            >
              <title>{`${part.label}: ${part.value}`}</title>
            </rect>
          ) : null;
        })}
      </svg>
      <ul className="legend">
        {parts.map((part) => (
          <li key={part.key}>
            <span className={`swatch fill-${part.key}`} aria-hidden="true" />
            {part.label}: {part.value.toLocaleString()} ({Math.round((part.value / total) * 100)} %)
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** The API's duration bins grouped into ranges people read at a glance. */
const SPREAD_EDGES = [0, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

function DurationSpread({ stats }: { stats: CallStats }) {
  // Each API bin (about 5 % wide) goes to the range its start falls in; a range's label gives
  // the bounds of the bins it holds, so nothing is rounded away.
  const groups = SPREAD_EDGES.map(
    (edge): { from: number; min: number; max: number | null; calls: number } => ({
      from: edge,
      min: Infinity,
      max: -Infinity,
      calls: 0,
    }),
  );
  for (const bin of stats.duration.bins) {
    const group = groups.findLast((g) => bin.min >= g.from)!;
    group.calls += bin.calls;
    group.min = Math.min(group.min, bin.min);
    group.max = bin.max === null || group.max === null ? null : Math.max(group.max, bin.max);
  }
  const shown = groups.filter((g) => g.calls > 0);
  const max = Math.max(1, ...shown.map((g) => g.calls));
  const label = (g: (typeof groups)[number]) =>
    g.max === null
      ? `${formatDuration(g.min)}+`
      : `${formatDuration(g.min)}–${formatDuration(g.max)}`;
  return (
    <figure className="card chart">
      <figcaption>
        <h2>How long calls last</h2>
        <p className="muted">
          {stats.duration.calls.toLocaleString()} calls with a duration; median{' '}
          {formatDuration(stats.duration.p50)}, average {formatDuration(stats.duration.avg)}.
        </p>
      </figcaption>
      {shown.length === 0 ? (
        <p className="muted">No call in this range has a duration yet.</p>
      ) : (
        <ol className="bars">
          {shown.map((g) => (
            <li key={g.from}>
              <span className="bar-label">{label(g)}</span>
              <span className="bar-track">
                <span className="bar" style={{ width: `${(g.calls / max) * 100}%` }} />
              </span>
              <span className="bar-value">{g.calls.toLocaleString()}</span>
            </li>
          ))}
        </ol>
      )}
    </figure>
  );
}

function CostSeries({ stats }: { stats: CallStats }) {
  const series = stats.series;
  const max = Math.max(0.01, ...series.map((entry) => entry.cost));
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const step = (WIDTH - PAD.left - PAD.right) / Math.max(1, series.length - 1);
  const points = series
    .map((entry, index) => {
      const x = PAD.left + index * step;
      const y = PAD.top + plotHeight * (1 - entry.cost / max);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
  return (
    <figure className="card chart">
      <figcaption>
        <h2>Cost per {stats.bucket}</h2>
        <p className="muted">
          {formatCost(stats.cost.total)} over {stats.cost.calls.toLocaleString()} calls with a cost.
        </p>
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`Cost per ${stats.bucket}: ${formatCost(stats.cost.total)} in all`}
      >
        <Axis max={max} format={(v) => formatCost(Math.round(v * 100) / 100)} />
        {series.length > 1 ? (
          <polyline className="line" points={points} fill="none" />
        ) : (
          series.map((entry) => (
            <circle
              key={entry.start}
              className="dot-point"
              cx={PAD.left}
              cy={PAD.top + plotHeight * (1 - entry.cost / max)}
              r={4}
            />
          ))
        )}
        {tickIndexes(series.length).map((index) => (
          <text
            key={index}
            className="tick"
            x={PAD.left + index * step}
            y={HEIGHT - 6}
            textAnchor="middle"
          >
            {bucketLabel(series[index]!.start, stats.bucket)}
          </text>
        ))}
      </svg>
      <DataTable
        caption={`Cost per ${stats.bucket}`}
        head={['Starting', 'Cost']}
        rows={series
          .filter((entry) => entry.cost > 0)
          .map((entry) => [bucketLabel(entry.start, stats.bucket), formatCost(entry.cost)])}
      />
    </figure>
  );
}

function AgentTable({ stats, filters }: { stats: CallStats; filters: Record<string, string> }) {
  return (
    <section className="card chart" aria-labelledby="agents-heading">
      <h2 id="agents-heading">Calls per agent</h2>
      <table className="data-table">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col" className="number">
              Calls
            </th>
            <th scope="col" className="number">
              Share
            </th>
            <th scope="col">
              <span className="visually-hidden">Link</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {stats.byAgent.map((agent) => (
            <tr key={agent.agentId}>
              <td>{agent.agentId || '(not yet known)'}</td>
              <td className="number">{agent.total.toLocaleString()}</td>
              <td className="number">{Math.round((agent.total / stats.total) * 100)} %</td>
              <td>
                <Link to={`/${queryString({ ...filters, agentId: agent.agentId })}`}>
                  See calls<span className="visually-hidden"> of {agent.agentId}</span>
                </Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A chart's numbers as a table, folded away by default. */
function DataTable({ caption, head, rows }: { caption: string; head: string[]; rows: string[][] }) {
  return (
    <details className="chart-data">
      <summary>Show the numbers</summary>
      <table className="data-table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {head.map((cell) => (
              <th key={cell} scope="col">
                {cell}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, index) => (
            <tr key={index}>
              {row.map((cell, cellIndex) => (
                <td key={cellIndex}>{cell}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
