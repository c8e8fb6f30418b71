// Calendar buckets across daylight-saving changes and in zones off UTC by part of an hour.
import { describe, expect, it } from 'vitest';
import { bucketStart, isTimeZone, nextBucket, ZoneOffsets } from '../../src/lib/time-zones.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('time-zone buckets', () => {
  it('knows zones from typos', () => {
    expect(isTimeZone('Europe/Lisbon')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Europe/Lisbonn')).toBe(false);
  });

  it('offsets follow daylight saving', () => {
    const ny = new ZoneOffsets('America/New_York');
    expect(ny.at(at('2025-01-15T12:00:00Z'))).toBe(-300);
    expect(ny.at(at('2025-07-15T12:00:00Z'))).toBe(-240);
    // The change itself: 2025-03-09 at 07:00 UTC (02:00 local becomes 03:00).
    expect(ny.at(at('2025-03-09T06:59:00Z'))).toBe(-300);
    expect(ny.at(at('2025-03-09T07:00:00Z'))).toBe(-240);
    expect(new ZoneOffsets('Asia/Kathmandu').at(at('2025-01-01T00:00:00Z'))).toBe(345);
  });

  it('days of 23 and 25 hours start at local midnight', () => {
    const ny = new ZoneOffsets('America/New_York');
    const spring = bucketStart(ny, 'day', at('2025-03-09T20:00:00Z'));
    expect(iso(spring)).toBe('2025-03-09T05:00:00.000Z');
    expect(iso(nextBucket(ny, 'day', spring))).toBe('2025-03-10T04:00:00.000Z'); // 23 h
    const autumn = bucketStart(ny, 'day', at('2025-11-02T20:00:00Z'));
    expect(iso(autumn)).toBe('2025-11-02T04:00:00.000Z');
    expect(iso(nextBucket(ny, 'day', autumn))).toBe('2025-11-03T05:00:00.000Z'); // 25 h
  });

  it('the repeated hour of autumn is two buckets, not one', () => {
    const ny = new ZoneOffsets('America/New_York');
    const first = bucketStart(ny, 'hour', at('2025-11-02T05:30:00Z')); // 01:30 EDT
    const second = bucketStart(ny, 'hour', at('2025-11-02T06:30:00Z')); // 01:30 EST
    expect(iso(first)).toBe('2025-11-02T05:00:00.000Z');
    expect(iso(second)).toBe('2025-11-02T06:00:00.000Z');
    expect(nextBucket(ny, 'hour', first)).toBe(second);
  });

  it('hours in Kathmandu start at a quarter past the UTC hour; weeks start on Monday', () => {
    const ktm = new ZoneOffsets('Asia/Kathmandu');
    expect(iso(bucketStart(ktm, 'hour', at('2025-01-01T10:20:00Z')))).toBe(
      '2025-01-01T10:15:00.000Z',
    );
    expect(iso(bucketStart(ktm, 'hour', at('2025-01-01T10:10:00Z')))).toBe(
      '2025-01-01T09:15:00.000Z',
    );
    const lisbon = new ZoneOffsets('Europe/Lisbon');
    // Sunday 2025-03-30 (the day summer time starts) belongs to the week of Monday the 24th.
    expect(iso(bucketStart(lisbon, 'week', at('2025-03-30T22:00:00Z')))).toBe(
      '2025-03-24T00:00:00.000Z',
    );
    expect(iso(bucketStart(lisbon, 'week', at('2025-03-31T00:30:00Z')))).toBe(
      '2025-03-30T23:00:00.000Z',
    );
  });
});
