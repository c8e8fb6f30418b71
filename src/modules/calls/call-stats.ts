// The stats: which periods of the rollups (and which stretches of raw calls) add up to each
// bucket of a series, and how the sums become the answer: totals, splits, exact duration
// percentiles and cost, and a zero-filled series of calendar buckets in the caller's time zone.
// Pure: the same numbers on both dialects.
import { ValidationError } from '../../errors.js';
import { microsToDollars } from '../../lib/money.js';
import type { ZoneOffsets } from '../../lib/time-zones.js';
import { bucketStart, nextBucket, type Bucket } from '../../lib/time-zones.js';
import type { CallFilter } from './call-query.js';
import type { StatsSlotRow } from './calls.repository.js';
import { CALL_STATUSES, type CallStatus } from './call-values.js';
import type { CallStats } from './calls.schemas.js';

/** More buckets than any chart can show: ask for a larger bucket or a shorter range. */
export const MAX_BUCKETS = 10_000;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface StatsInput {
  /** Sums per UTC slot (raw reads) or per series bucket (rollups), each at its start instant. */
  readonly slots: readonly StatsSlotRow[];
  readonly agents: ReadonlyArray<{ agentId: string; calls: number }>;
  /** Nearest-rank duration percentiles (null when no call has a duration), and the bins. */
  readonly duration: {
    readonly p50: number | null;
    readonly p90: number | null;
    readonly bins: ReadonlyArray<{ lo: number | null; hi: number | null; calls: number }>;
  };
  readonly bucket: Bucket;
  readonly zone: ZoneOffsets;
  /** The filter's from/to, if given: the series covers exactly that range. */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

export const zeroByStatus = (): Record<CallStatus, number> =>
  Object.fromEntries(CALL_STATUSES.map((status) => [status, 0])) as Record<CallStatus, number>;

/** Nearest-rank percentile: the smallest duration that at least p % of calls do not exceed. */
export function percentile(
  histogram: ReadonlyArray<{ duration: number; calls: number }>,
  p: number,
): number | null {
  const total = histogram.reduce((sum, entry) => sum + entry.calls, 0);
  if (total === 0) return null;
  const rank = nearestRank(total, p);
  let seen = 0;
  for (const entry of histogram) {
    seen += entry.calls;
    if (seen >= rank) return entry.duration;
  }
  return histogram.at(-1)!.duration;
}

/** The 1-based rank of the p-th percentile among `total` values (nearest rank). */
export const nearestRank = (total: number, p: number) => Math.max(1, Math.ceil((p / 100) * total));

const slotMinutesByZone = new Map<string, 60 | 15>();

/**
 * Zones whose offset is whole hours need only hour slots; zones ever 30 or 45 minutes off UTC
 * (India, Nepal, Newfoundland, parts of Australia) need quarter-hour slots. Checked once per zone
 * at both solstices of every year from 1970 to 2050.
 */
export function slotMinutesFor(zone: ZoneOffsets): 60 | 15 {
  let minutes = slotMinutesByZone.get(zone.timeZone);
  if (minutes === undefined) {
    minutes = 60;
    for (let year = 1970; year <= 2050 && minutes === 60; year++) {
      for (const month of [0, 6]) {
        if (zone.at(Date.UTC(year, month, 1)) % 60 !== 0) minutes = 15;
      }
    }
    slotMinutesByZone.set(zone.timeZone, minutes);
  }
  return minutes;
}

function tooManyBuckets(bucket: Bucket): ValidationError {
  return new ValidationError([
    {
      field: 'bucket',
      message: `more than ${MAX_BUCKETS} ${bucket} buckets: use a larger bucket or a shorter from/to range`,
    },
  ]);
}

export function buildStats(input: StatsInput): CallStats {
  const byStatus = zeroByStatus();
  const bySentiment = { positive: 0, negative: 0, neutral: 0, unknown: 0 };
  const byDirection = { inbound: 0, outbound: 0 };
  let total = 0;
  let durationMs = 0;
  let durationCount = 0;
  let costMicros = 0;
  let costCount = 0;
  const buckets = new Map<
    number,
    { total: number; byStatus: Record<CallStatus, number>; costMicros: number }
  >();
  let first = Infinity;
  let last = -Infinity;

  for (const slot of input.slots) {
    const calls = CALL_STATUSES.reduce((sum, status) => sum + slot.byStatus[status], 0);
    total += calls;
    for (const status of CALL_STATUSES) byStatus[status] += slot.byStatus[status];
    byDirection.inbound += slot.inbound;
    byDirection.outbound += calls - slot.inbound;
    bySentiment.positive += slot.positive;
    bySentiment.negative += slot.negative;
    bySentiment.neutral += slot.neutral;
    bySentiment.unknown += calls - slot.positive - slot.negative - slot.neutral;
    durationMs += slot.durationMs;
    durationCount += slot.durationCount;
    costMicros += slot.costMicros;
    costCount += slot.costCount;
    // A rollup bucket may sum to nothing (its calls were deleted): it is no call's slot.
    if (calls === 0) continue;

    first = Math.min(first, slot.start);
    last = Math.max(last, slot.start);
    const start = bucketStart(input.zone, input.bucket, slot.start);
    const bucket = buckets.get(start) ?? { total: 0, byStatus: zeroByStatus(), costMicros: 0 };
    bucket.total += calls;
    bucket.costMicros += slot.costMicros;
    for (const status of CALL_STATUSES) bucket.byStatus[status] += slot.byStatus[status];
    buckets.set(start, bucket);
  }

  // The series covers the asked range, or the data's, with empty buckets filled in.
  const rangeStart = input.from !== undefined ? Date.parse(input.from) : first;
  const rangeEnd = input.to !== undefined ? Date.parse(input.to) : last + 1;
  const series: CallStats['series'] = [];
  if (Number.isFinite(rangeStart) && Number.isFinite(rangeEnd)) {
    for (
      let start = bucketStart(input.zone, input.bucket, rangeStart);
      start < rangeEnd;
      start = nextBucket(input.zone, input.bucket, start)
    ) {
      if (series.length === MAX_BUCKETS) throw tooManyBuckets(input.bucket);
      const bucket = buckets.get(start);
      series.push({
        start: new Date(start).toISOString(),
        total: bucket?.total ?? 0,
        byStatus: bucket?.byStatus ?? zeroByStatus(),
        cost: microsToDollars(bucket?.costMicros ?? 0),
      });
    }
  }

  return {
    total,
    byStatus,
    bySentiment,
    byDirection,
    byAgent: [...input.agents]
      .sort((a, b) => b.calls - a.calls || (a.agentId < b.agentId ? -1 : 1))
      .map(({ agentId, calls }) => ({ agentId, total: calls })),
    duration: {
      calls: durationCount,
      // Milliseconds to seconds, rounded to 3 decimals (the stored precision).
      avg: durationCount === 0 ? null : Math.round(durationMs / durationCount) / 1000,
      p50: input.duration.p50,
      p90: input.duration.p90,
      bins: input.duration.bins.map(({ lo, hi, calls }) => ({ min: lo ?? 0, max: hi, calls })),
    },
    cost: {
      calls: costCount,
      total: microsToDollars(costMicros),
      avg: costCount === 0 ? null : microsToDollars(Math.round(costMicros / costCount)),
    },
    bucket: input.bucket,
    tz: input.zone.timeZone,
    series,
  };
}

// ---- Reading the rollups ----------------------------------------------------------------
//
// The rollups sum the calls per UTC hour and day (call_rollup_slots) and per UTC day and month
// (agents, durations); see the call_rollups migration. A range [a, b) of any length is the
// difference of two prefixes, P(b) − P(a), and a prefix at an instant x is the coarsest
// periods up to an anchor near x plus a short correction, level by level to the nearest
// boundary. For the slots: from x to the nearest hour boundary (calls read raw, at most 30
// minutes), then to the nearest day boundary (at most 12 hour rows); for agents and durations:
// from x to the nearest day boundary (raw, at most 12 hours), then to the nearest month boundary
// (at most 15 day rows). A day bucket in any zone then costs a day row and its share of the
// corrections instead of 24 hour rows, and a year of totals a dozen month rows. Short ranges
// (hour buckets) are cheaper summed directly: each plan is costed both ways, the cheaper read.

/** A rollup's period kind: UTC hour, day or month. */
export type RollupSpan = 'h' | 'd' | 'm';

/** [lo, hi) (epoch ms) summed from a rollup's `span` periods, or from the calls ('raw'). */
export interface RangePiece {
  readonly span: RollupSpan | 'raw';
  readonly lo: number;
  readonly hi: number;
  readonly sign: 1 | -1;
}

/** A piece and the group its sum belongs to. */
export interface GroupedPiece extends RangePiece {
  readonly group: number;
}

export interface RollupPlan {
  readonly pieces: readonly GroupedPiece[];
  /** Per range asked for: its sum as ± the sums of groups. */
  readonly terms: ReadonlyArray<ReadonlyArray<readonly [group: number, coefficient: 1 | -1]>>;
}

interface Level {
  readonly span: RollupSpan;
  floor(instant: number): number;
  ceil(instant: number): number;
  /** How many periods [lo, hi) holds (both boundaries of the level). */
  count(lo: number, hi: number): number;
}

function fixedLevel(span: RollupSpan, length: number): Level {
  return {
    span,
    floor: (instant) => Math.floor(instant / length) * length,
    ceil: (instant) => Math.ceil(instant / length) * length,
    count: (lo, hi) => Math.round((hi - lo) / length),
  };
}

const monthOf = (instant: number) => {
  const date = new Date(instant);
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
};
const monthStart = (month: number) => {
  const date = new Date(0);
  date.setUTCFullYear(Math.floor(month / 12), ((month % 12) + 12) % 12, 1);
  return date.getTime();
};

const HOUR_LEVEL = fixedLevel('h', HOUR);
const DAY_LEVEL = fixedLevel('d', DAY);
const MONTH_LEVEL: Level = {
  span: 'm',
  floor: (instant) => monthStart(monthOf(instant)),
  ceil: (instant) => {
    const floor = monthStart(monthOf(instant));
    return floor === instant ? floor : monthStart(monthOf(instant) + 1);
  },
  count: (lo, hi) => monthOf(hi) - monthOf(lo),
};

/** How many periods of `span` [lo, hi) holds (both on the span's boundaries). */
export function periodCount(span: RollupSpan, lo: number, hi: number): number {
  const level = span === 'm' ? MONTH_LEVEL : span === 'd' ? DAY_LEVEL : HOUR_LEVEL;
  return level.count(lo, hi);
}

/** The periods of call_rollup_slots, finest first. */
export const SLOT_LEVELS: readonly Level[] = [HOUR_LEVEL, DAY_LEVEL];
/** The periods of call_rollup_agents and call_rollup_durations, finest first. */
export const DAY_MONTH_LEVELS: readonly Level[] = [DAY_LEVEL, MONTH_LEVEL];

/**
 * What a piece costs to read, in rollup rows: one per period, and for raw calls one per quarter
 * hour (about what the largest tenant holds: a guess that only steers the choice of plan).
 */
function cost(piece: RangePiece, levels: readonly Level[]): number {
  const level = levels.find((candidate) => candidate.span === piece.span);
  return 1 + (level ? level.count(piece.lo, piece.hi) : (piece.hi - piece.lo) / (15 * MINUTE));
}

/** [lo, hi) as whole periods of the coarsest level that fits, finer ones at the edges. */
function directPieces(lo: number, hi: number, levels: readonly Level[], out: RangePiece[]): void {
  if (lo >= hi) return;
  const top = levels.at(-1);
  if (top === undefined) {
    out.push({ span: 'raw', lo, hi, sign: 1 });
    return;
  }
  const finer = levels.slice(0, -1);
  const start = top.ceil(lo);
  const end = top.floor(hi);
  if (start >= end) {
    directPieces(lo, hi, finer, out);
    return;
  }
  directPieces(lo, start, finer, out);
  out.push({ span: top.span, lo: start, hi: end, sign: 1 });
  directPieces(end, hi, finer, out);
}

const nearest = (level: Level, instant: number) => {
  const floor = level.floor(instant);
  const ceil = level.ceil(instant);
  return instant - floor <= ceil - instant ? floor : ceil;
};

/** `from` → `to` at one level, as a piece whose sign says the direction (nothing if equal). */
function signedPiece(
  span: RollupSpan | 'raw',
  from: number,
  to: number,
  sign: 1 | -1,
): RangePiece[] {
  if (from === to) return [];
  const opposite = sign === 1 ? -1 : 1;
  return [
    from < to ? { span, lo: from, hi: to, sign } : { span, lo: to, hi: from, sign: opposite },
  ];
}

/**
 * The prefix at `instant` minus the prefix at its top-level anchor: the way back from the anchor
 * to the instant, level by level. Returns the anchor too.
 */
function correction(instant: number, levels: readonly Level[]) {
  const pieces: RangePiece[] = [];
  let at = instant;
  let finer: RollupSpan | 'raw' = 'raw';
  for (const level of levels) {
    const anchor = nearest(level, at);
    pieces.push(...signedPiece(finer, anchor, at, 1));
    at = anchor;
    finer = level.span;
  }
  return { anchor: at, pieces };
}

/**
 * How to read the sums of consecutive ranges [bounds[i], bounds[i+1]) from rollups with these
 * levels. Either each range directly, or as differences of prefixes whose corrections are shared
 * by neighbouring ranges: whichever costs fewer rows.
 */
export function planRanges(bounds: readonly number[], levels: readonly Level[]): RollupPlan {
  const ranges = bounds.length - 1;
  const direct: GroupedPiece[] = [];
  for (let i = 0; i < ranges; i++) {
    const pieces: RangePiece[] = [];
    directPieces(bounds[i]!, bounds[i + 1]!, levels, pieces);
    direct.push(...pieces.map((piece) => ({ ...piece, group: i })));
  }

  // Prefix differences: group i is the correction at bounds[i], group (ranges + 1 + i) the top
  // level between the anchors of bounds[i] and bounds[i + 1].
  const corrections = bounds.map((instant) => correction(instant, levels));
  const top = levels.at(-1)!.span;
  const prefixed: GroupedPiece[] = corrections.flatMap(({ pieces }, i) =>
    pieces.map((piece) => ({ ...piece, group: i })),
  );
  for (let i = 0; i < ranges; i++) {
    prefixed.push(
      ...signedPiece(top, corrections[i]!.anchor, corrections[i + 1]!.anchor, 1).map((piece) => ({
        ...piece,
        group: ranges + 1 + i,
      })),
    );
  }

  const total = (pieces: readonly GroupedPiece[]) =>
    pieces.reduce((sum, piece) => sum + cost(piece, levels), 0);
  if (total(direct) <= total(prefixed)) {
    return {
      pieces: merged(direct),
      terms: Array.from({ length: ranges }, (_, i) => [[i, 1] as const]),
    };
  }
  return {
    pieces: merged(prefixed),
    terms: Array.from({ length: ranges }, (_, i) => [
      [ranges + 1 + i, 1] as const,
      [i + 1, 1] as const,
      [i, -1] as const,
    ]),
  };
}

/** Adjacent pieces of one group, span and sign as one. */
function merged(pieces: readonly GroupedPiece[]): GroupedPiece[] {
  const sorted = [...pieces].sort(
    (a, b) =>
      a.group - b.group ||
      (a.span < b.span ? -1 : a.span > b.span ? 1 : 0) ||
      a.sign - b.sign ||
      a.lo - b.lo,
  );
  const out: GroupedPiece[] = [];
  for (const piece of sorted) {
    const previous = out.at(-1);
    if (
      previous !== undefined &&
      previous.group === piece.group &&
      previous.span === piece.span &&
      previous.sign === piece.sign &&
      previous.hi === piece.lo
    ) {
      out[out.length - 1] = { ...previous, hi: piece.hi };
    } else {
      out.push(piece);
    }
  }
  return out;
}

/** Whether the stats of `filter` can come from the rollups: nothing but a time range. */
export function readsRollups(filter: CallFilter): boolean {
  return Object.entries(filter).every(
    ([name, value]) => value === undefined || name === 'from' || name === 'to',
  );
}

export interface SeriesBuckets {
  /** Each bucket's start (what buildStats groups by). */
  readonly starts: readonly number[];
  /** The ranges of calls each bucket holds: [bounds[i], bounds[i + 1]). */
  readonly bounds: readonly number[];
}

/**
 * The series buckets of [lo, hi) and the calls each holds, the way buildStats assigns calls
 * read raw: a call belongs to the bucket holding the start of its UTC slot (an hour, or a
 * quarter hour in zones off UTC by a fraction of an hour), so a bucket holds the calls from the
 * first slot starting in it. At most MAX_BUCKETS + 1 (the series may start a bucket later).
 */
export function seriesBuckets(
  zone: ZoneOffsets,
  bucket: Bucket,
  lo: number,
  hi: number,
): SeriesBuckets {
  const slot = slotMinutesFor(zone) * MINUTE;
  const slotCeil = (instant: number) => Math.ceil(instant / slot) * slot;
  const starts: number[] = [];
  const bounds = [lo];
  for (
    let start = bucketStart(zone, bucket, Math.floor(lo / slot) * slot);
    bounds.at(-1)! < hi;
    start = nextBucket(zone, bucket, start)
  ) {
    if (starts.length > MAX_BUCKETS) throw tooManyBuckets(bucket);
    const end = Math.min(hi, slotCeil(nextBucket(zone, bucket, start)));
    if (end > bounds.at(-1)!) {
      starts.push(start);
      bounds.push(end);
    }
  }
  return { starts, bounds };
}

/**
 * For a series left open: the calls' span (first and last start) widened to whole buckets, from
 * the first slot of the first call's bucket to the end of the last call's.
 */
export function openSeriesRange(
  zone: ZoneOffsets,
  bucket: Bucket,
  first: number,
  last: number,
): { lo: number; hi: number } {
  const slot = slotMinutesFor(zone) * MINUTE;
  const slotCeil = (instant: number) => Math.ceil(instant / slot) * slot;
  const lastStart = bucketStart(zone, bucket, Math.floor(last / slot) * slot);
  return {
    lo: slotCeil(bucketStart(zone, bucket, Math.floor(first / slot) * slot)),
    hi: slotCeil(nextBucket(zone, bucket, lastStart)),
  };
}

/** A time range left open, closed to whole months around the calls in it. */
export function openMonthRange(first: number, last: number): { lo: number; hi: number } {
  return { lo: MONTH_LEVEL.floor(first), hi: MONTH_LEVEL.ceil(last + 1) };
}
