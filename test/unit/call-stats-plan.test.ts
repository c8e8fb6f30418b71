// How stats ranges are read from the rollups (call-stats.ts): every plan adds up to exactly the
// calls of each range, reads whole periods of each rollup, and stays small; series buckets hold
// the calls buildStats would put in them.
import { describe, expect, it } from 'vitest';
import {
  DAY_MONTH_LEVELS,
  MAX_BUCKETS,
  openSeriesRange,
  planRanges,
  seriesBuckets,
  SLOT_LEVELS,
  slotMinutesFor,
  type RollupPlan,
} from '../../src/modules/calls/call-stats.js';
import { bucketStart, ZoneOffsets, type Bucket } from '../../src/lib/time-zones.js';
import { prng } from '../factories.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.parse('2024-11-01T00:00:00Z');

/** Is `instant` where a period of `span` starts (UTC)? */
function aligned(span: string, instant: number): boolean {
  const date = new Date(instant);
  if (span === 'h') return instant % HOUR === 0;
  if (span === 'd') return instant % DAY === 0;
  return instant % DAY === 0 && date.getUTCDate() === 1;
}

/** Each range's sum by the plan, over calls at `instants`. */
function sums(plan: RollupPlan, instants: readonly number[]): number[] {
  const groups = new Map<number, number>();
  for (const { group, lo, hi, sign } of plan.pieces) {
    const count = instants.filter((instant) => instant >= lo && instant < hi).length;
    groups.set(group, (groups.get(group) ?? 0) + sign * count);
  }
  return plan.terms.map((terms) =>
    terms.reduce((sum, [group, coefficient]) => sum + coefficient * (groups.get(group) ?? 0), 0),
  );
}

describe('planRanges', () => {
  it.each([
    ['slots', SLOT_LEVELS],
    ['agents and durations', DAY_MONTH_LEVELS],
  ] as const)('adds up to each range exactly, from whole periods (%s)', (_name, levels) => {
    const random = prng(99);
    const instants = Array.from({ length: 3000 }, () => START + Math.floor(random() * 400 * DAY));
    for (let run = 0; run < 200; run++) {
      const points = Array.from({ length: 1 + Math.floor(random() * 6) }, () => {
        const at = START - 10 * DAY + Math.floor(random() * 420 * DAY);
        // Often on a boundary of some kind, as series buckets are.
        const roll = random();
        return roll < 0.3 ? at - (at % HOUR) : roll < 0.5 ? at - (at % (15 * 60_000)) : at;
      });
      const bounds = [...new Set(points)].sort((a, b) => a - b);
      if (bounds.length < 2) continue;
      const plan = planRanges(bounds, levels);
      for (const piece of plan.pieces) {
        expect(piece.lo).toBeLessThan(piece.hi);
        if (piece.span !== 'raw') {
          expect(aligned(piece.span, piece.lo) && aligned(piece.span, piece.hi), piece.span).toBe(
            true,
          );
        }
      }
      const want = bounds
        .slice(1)
        .map((hi, i) => instants.filter((x) => x >= bounds[i]! && x < hi).length);
      expect(sums(plan, instants), JSON.stringify(bounds)).toEqual(want);
    }
  });

  it('reads a few rows per bucket, whatever the zone', () => {
    const year = { lo: Date.parse('2025-01-01T07:13:00Z'), hi: Date.parse('2026-01-01T07:13:00Z') };
    for (const tz of ['UTC', 'Europe/Lisbon', 'America/New_York', 'Asia/Kathmandu', 'Asia/Tokyo']) {
      const zone = new ZoneOffsets(tz);
      const { bounds } = seriesBuckets(zone, 'day', year.lo, year.hi);
      const plan = planRanges(bounds, SLOT_LEVELS);
      // Rollup rows: a day row per bucket, at most 12 hour rows at each bucket boundary (to the
      // nearest UTC midnight), instead of 24 a bucket.
      const rows = plan.pieces.reduce(
        (total, piece) =>
          total +
          (piece.span === 'h'
            ? (piece.hi - piece.lo) / HOUR
            : piece.span === 'd'
              ? (piece.hi - piece.lo) / DAY
              : 0),
        0,
      );
      expect(rows, tz).toBeLessThanOrEqual(366 * 13);
      // Raw calls: at most half an hour at each boundary.
      for (const piece of plan.pieces.filter((p) => p.span === 'raw')) {
        expect(piece.hi - piece.lo, tz).toBeLessThanOrEqual(HOUR / 2);
      }
    }
    // A year of totals by day and month: a dozen months and a few days at each end.
    const totals = planRanges([year.lo, year.hi], DAY_MONTH_LEVELS);
    expect(totals.pieces.length).toBeLessThanOrEqual(6);
  });
});

describe('seriesBuckets', () => {
  it('puts each call in the bucket of its slot, as buildStats does', () => {
    const random = prng(7);
    const zones = [
      'UTC',
      'Asia/Kathmandu',
      'America/St_Johns',
      'Europe/Lisbon',
      'Australia/Lord_Howe',
    ];
    for (let run = 0; run < 100; run++) {
      const zone = new ZoneOffsets(zones[run % zones.length]!);
      const bucket = (['hour', 'day', 'week'] as const)[run % 3] as Bucket;
      const lo = START + Math.floor(random() * 300 * DAY);
      const hi = lo + 1 + Math.floor(random() * (bucket === 'hour' ? 3 : 60) * DAY);
      const { starts, bounds } = seriesBuckets(zone, bucket, lo, hi);
      expect(bounds[0]).toBe(lo);
      expect(bounds.at(-1)).toBe(hi);
      const slot = slotMinutesFor(zone) * 60_000;
      for (let i = 0; i < 40; i++) {
        const instant = lo + Math.floor(random() * (hi - lo));
        const index = bounds.findIndex((bound, j) => instant >= bound && instant < bounds[j + 1]!);
        expect(starts[index]).toBe(bucketStart(zone, bucket, Math.floor(instant / slot) * slot));
      }
    }
  });

  it('refuses more buckets than a series may hold', () => {
    const zone = new ZoneOffsets('UTC');
    expect(() =>
      seriesBuckets(
        zone,
        'hour',
        Date.parse('2000-01-01T00:00:00Z'),
        Date.parse('2025-01-01T00:00:00Z'),
      ),
    ).toThrow(new RegExp(`more than ${MAX_BUCKETS}`));
  });

  it('closes an open range around the calls, on whole buckets', () => {
    const zone = new ZoneOffsets('Asia/Kathmandu');
    const first = Date.parse('2025-02-03T18:20:00Z');
    const last = Date.parse('2025-02-05T10:00:00Z');
    const { lo, hi } = openSeriesRange(zone, 'day', first, last);
    // Kathmandu days start at 18:15 UTC.
    expect(new Date(lo).toISOString()).toBe('2025-02-03T18:15:00.000Z');
    expect(new Date(hi).toISOString()).toBe('2025-02-05T18:15:00.000Z');
  });
});
