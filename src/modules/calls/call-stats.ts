// Turns the repository's per-slot sums into the stats answer: totals, splits, exact duration
// percentiles and cost, and a zero-filled series of calendar buckets in the caller's time zone.
// Pure: the same numbers on both dialects.
import { ValidationError } from '../../errors.js';
import { microsToDollars } from '../../lib/money.js';
import type { ZoneOffsets } from '../../lib/time-zones.js';
import { bucketStart, nextBucket, type Bucket } from '../../lib/time-zones.js';
import type { StatsSlotRow } from './calls.repository.js';
import { CALL_STATUSES, type CallStats, type CallStatus } from './calls.schemas.js';

/** More buckets than any chart can show: ask for a larger bucket or a shorter range. */
export const MAX_BUCKETS = 10_000;

export interface StatsInput {
  readonly slots: readonly StatsSlotRow[];
  readonly agents: ReadonlyArray<{ agentId: string; calls: number }>;
  readonly durations: ReadonlyArray<{ duration: number; calls: number }>;
  readonly bucket: Bucket;
  readonly zone: ZoneOffsets;
  /** The filter's from/to, if given: the series covers exactly that range. */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

const zeroByStatus = (): Record<CallStatus, number> =>
  Object.fromEntries(CALL_STATUSES.map((status) => [status, 0])) as Record<CallStatus, number>;

/** The instant a slot starts: its UTC hour plus its quarter. */
const slotInstant = (slot: StatsSlotRow) =>
  Date.parse(`${slot.hour}:00:00.000Z`) + slot.quarter * 15 * 60_000;

/** Nearest-rank percentile: the smallest duration that at least p % of calls do not exceed. */
export function percentile(
  histogram: ReadonlyArray<{ duration: number; calls: number }>,
  p: number,
): number | null {
  const total = histogram.reduce((sum, entry) => sum + entry.calls, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const entry of histogram) {
    seen += entry.calls;
    if (seen >= rank) return entry.duration;
  }
  return histogram.at(-1)!.duration;
}

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

export function buildStats(input: StatsInput): CallStats {
  const byStatus = zeroByStatus();
  const bySentiment = { positive: 0, negative: 0, neutral: 0, unknown: 0 };
  const byDirection = { inbound: 0, outbound: 0 };
  let total = 0;
  let durationSum = 0;
  let durationCount = 0;
  let costMicros = 0;
  let costCount = 0;
  const buckets = new Map<number, { total: number; byStatus: Record<CallStatus, number> }>();
  let first = Infinity;
  let last = -Infinity;

  for (const slot of input.slots) {
    const status = slot.status as CallStatus;
    total += slot.calls;
    byStatus[status] += slot.calls;
    byDirection.inbound += slot.inbound;
    byDirection.outbound += slot.calls - slot.inbound;
    bySentiment.positive += slot.positive;
    bySentiment.negative += slot.negative;
    bySentiment.neutral += slot.neutral;
    bySentiment.unknown += slot.calls - slot.positive - slot.negative - slot.neutral;
    durationSum += slot.durationSum;
    durationCount += slot.durationCount;
    costMicros += slot.costSumMicros;
    costCount += slot.costCount;

    const instant = slotInstant(slot);
    first = Math.min(first, instant);
    last = Math.max(last, instant);
    const start = bucketStart(input.zone, input.bucket, instant);
    const bucket = buckets.get(start) ?? { total: 0, byStatus: zeroByStatus() };
    bucket.total += slot.calls;
    bucket.byStatus[status] += slot.calls;
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
      if (series.length === MAX_BUCKETS) {
        throw new ValidationError([
          {
            field: 'bucket',
            message: `more than ${MAX_BUCKETS} ${input.bucket} buckets: use a larger bucket or a shorter from/to range`,
          },
        ]);
      }
      const bucket = buckets.get(start);
      series.push({
        start: new Date(start).toISOString(),
        total: bucket?.total ?? 0,
        byStatus: bucket?.byStatus ?? zeroByStatus(),
      });
    }
  }

  const round3 = (value: number) => Math.round(value * 1000) / 1000;
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
      avg: durationCount === 0 ? null : round3(durationSum / durationCount),
      p50: percentile(input.durations, 50),
      p90: percentile(input.durations, 90),
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
