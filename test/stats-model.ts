// What a stats answer must be for a known set of calls, computed here independently of the
// server (the calendar through Intl), for the stats tests of the list's model and of the rollups.
import { expect } from 'vitest';
import type { Call, CallStats } from '../src/modules/calls/calls.schemas.js';

const STATUSES = ['ringing', 'in-progress', 'completed', 'missed', 'failed'] as const;

/** The local calendar parts of an instant in a zone, via Intl (independent of the server). */
export function localParts(iso: string, timeZone: string) {
  return Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  ) as Record<'year' | 'month' | 'day' | 'hour' | 'minute', string>;
}

/** The local hour, day or week (its Monday) an instant falls in. */
export function localKey(iso: string, timeZone: string, bucket: string): string {
  const p = localParts(iso, timeZone);
  if (bucket === 'hour') return `${p.year}-${p.month}-${p.day}T${p.hour}`;
  if (bucket === 'day') return `${p.year}-${p.month}-${p.day}`;
  const date = new Date(`${p.year}-${p.month}-${p.day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
  return date.toISOString().slice(0, 10);
}

/**
 * The duration bins as the API documents them, computed here: one second wide below a minute,
 * then each about 5 % wider than the last (bounds rounded up to whole seconds), up to 30 days,
 * the last open above; calls counted per bin, empty bins left out.
 */
export function durationBinsOf(
  sorted: readonly number[],
): Array<{ min: number; max: number | null; calls: number }> {
  const bounds: number[] = [];
  for (let second = 0; second < 60; second++) bounds.push(second);
  for (let lo = 60; lo <= 30 * 86_400; lo = Math.ceil(lo * 1.05)) bounds.push(lo);
  const bins = new Map<number, number>();
  for (const duration of sorted) {
    let index = 0;
    while (index + 1 < bounds.length && duration >= bounds[index + 1]!) index++;
    bins.set(index, (bins.get(index) ?? 0) + 1);
  }
  return [...bins]
    .sort((a, b) => a[0] - b[0])
    .map(([index, calls]) => ({ min: bounds[index]!, max: bounds[index + 1] ?? null, calls }));
}

export const nearestRank = (sorted: number[], p: number) =>
  sorted.length === 0 ? null : sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];

/**
 * The stats of `calls` (already filtered), compared field by field with the server's answer:
 * totals by status, sentiment, direction and agent (`agents` in the data set), durations, cost
 * exact to the micro-dollar, and a series of contiguous, zero-filled buckets of local periods.
 * `from`: the range's start, which the first bucket must hold.
 */
export function expectStatsOf(
  body: CallStats,
  calls: readonly Call[],
  options: { agents: readonly string[]; tz: string; bucket: string; from?: string | undefined },
): void {
  const { agents, tz, bucket } = options;
  const count = (pick: (call: Call) => unknown, value: unknown) =>
    calls.filter((call) => pick(call) === value).length;
  expect(body.total).toBe(calls.length);
  expect(body.byStatus).toEqual(
    Object.fromEntries(STATUSES.map((s) => [s, count((c) => c.status, s)])),
  );
  expect(body.bySentiment).toEqual({
    positive: count((c) => c.sentiment, 'positive'),
    negative: count((c) => c.sentiment, 'negative'),
    neutral: count((c) => c.sentiment, 'neutral'),
    unknown: count((c) => c.sentiment, null),
  });
  expect(body.byDirection).toEqual({
    inbound: count((c) => c.direction, 'inbound'),
    outbound: count((c) => c.direction, 'outbound'),
  });
  expect(body.byAgent).toEqual(
    agents
      .map((agentId) => ({ agentId, total: count((c) => c.agentId, agentId) }))
      .filter((a) => a.total > 0)
      .sort((a, b) => b.total - a.total || (a.agentId < b.agentId ? -1 : 1)),
  );
  const durations = calls
    .flatMap((c) => (c.duration === null ? [] : [c.duration]))
    .sort((a, b) => a - b);
  expect(body.duration.calls).toBe(durations.length);
  expect(body.duration.p50).toBe(nearestRank(durations, 50));
  expect(body.duration.p90).toBe(nearestRank(durations, 90));
  if (durations.length > 0) {
    expect(body.duration.avg).toBeCloseTo(
      durations.reduce((a, b) => a + b, 0) / durations.length,
      3,
    );
  }
  expect(body.duration.bins).toEqual(durationBinsOf(durations));
  // Summed in whole micro-dollars, as the server does: the totals agree exactly.
  const micros = calls.flatMap((c) => (c.cost === null ? [] : [Math.round(c.cost * 1e6)]));
  expect(body.cost.calls).toBe(micros.length);
  expect(body.cost.total).toBe(micros.reduce((a, b) => a + b, 0) / 1e6);

  // Every call lands in the bucket of its local time; buckets are contiguous and zero-filled.
  const expected = new Map<string, number>();
  const expectedMicros = new Map<string, number>();
  for (const call of calls) {
    const key = localKey(call.startedAt, tz, bucket);
    expected.set(key, (expected.get(key) ?? 0) + 1);
    const cost = call.cost === null ? 0 : Math.round(call.cost * 1e6);
    expectedMicros.set(key, (expectedMicros.get(key) ?? 0) + cost);
  }
  const got = new Map<string, number>();
  for (const entry of body.series) {
    const key = localKey(entry.start, tz, bucket);
    const p = localParts(entry.start, tz);
    expect(p.minute).toBe('00');
    if (bucket !== 'hour') expect(p.hour).toBe('00');
    // A week starts on a Monday: its own date is the Monday of its week.
    if (bucket === 'week') expect(localKey(entry.start, tz, 'day')).toBe(key);
    expect(got.has(key), `one bucket per period: ${key}`).toBe(false);
    got.set(key, entry.total);
    expect(entry.cost, `cost of ${key}`).toBe((expectedMicros.get(key) ?? 0) / 1e6);
    expect(Object.values(entry.byStatus).reduce((a, b) => a + b, 0)).toBe(entry.total);
  }
  for (const [key, total] of expected) expect(got.get(key), key).toBe(total);
  expect([...got.values()].reduce((a, b) => a + b, 0)).toBe(calls.length);
  const starts = body.series.map((e) => Date.parse(e.start));
  const span = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 }[bucket]!;
  for (let i = 1; i < starts.length; i++) {
    // No gaps: consecutive buckets are one period apart (± an hour of daylight saving).
    expect(Math.abs(starts[i]! - starts[i - 1]! - span)).toBeLessThanOrEqual(3_600_000);
  }
  if (options.from !== undefined) {
    expect(body.series[0]!.start <= new Date(options.from).toISOString()).toBe(true);
  }
}
