// Calendar buckets (hour, day, ISO week) in an IANA time zone, computed with Intl: days of 23 or
// 25 hours at daylight-saving changes and zones 30 or 45 minutes off UTC come out right.

export type Bucket = 'hour' | 'day' | 'week';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * The zone's UTC offset at an instant, in minutes (east positive). Offsets change a few times a
 * year, so they are looked up once per UTC day and only per hour on a day they change.
 */
export class ZoneOffsets {
  private readonly format: Intl.DateTimeFormat;
  private readonly byDay = new Map<number, number | null>();
  private readonly byHour = new Map<number, number>();

  constructor(readonly timeZone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  private exact(instant: number): number {
    const parts: Record<string, number> = {};
    for (const part of this.format.formatToParts(new Date(instant))) {
      if (part.type !== 'literal') parts[part.type] = Number(part.value);
    }
    const local = Date.UTC(
      parts.year!,
      parts.month! - 1,
      parts.day,
      parts.hour,
      parts.minute,
      parts.second,
    );
    const whole = instant - (instant % 1000);
    return Math.round((local - whole) / 60_000);
  }

  at(instant: number): number {
    const day = Math.floor(instant / DAY);
    let steady = this.byDay.get(day);
    if (steady === undefined) {
      const start = this.exact(day * DAY);
      const end = this.exact((day + 1) * DAY - 1000);
      steady = start === end ? start : null;
      this.byDay.set(day, steady);
    }
    if (steady !== null) return steady;
    const hour = Math.floor(instant / HOUR);
    let offset = this.byHour.get(hour);
    if (offset === undefined) {
      offset = this.exact(hour * HOUR);
      this.byHour.set(hour, offset);
    }
    return offset;
  }

  /** Local wall-clock time as if it were UTC (for calendar arithmetic). */
  local(instant: number): number {
    return instant + this.at(instant) * 60_000;
  }
}

const mod = (a: number, b: number) => ((a % b) + b) % b;

/** The instant the local wall-clock time `local` (as UTC millis) happened in the zone. */
function fromLocal(zone: ZoneOffsets, local: number): number {
  let instant = local - zone.at(local) * 60_000;
  // Near a change, the offset at the guess may not be the offset at the answer: settle it.
  instant = local - zone.at(instant) * 60_000;
  return instant;
}

/** Where the bucket holding `instant` starts, as a UTC instant. */
export function bucketStart(zone: ZoneOffsets, bucket: Bucket, instant: number): number {
  const local = zone.local(instant);
  if (bucket === 'hour') return instant - mod(local, HOUR);
  const midnight = local - mod(local, DAY);
  if (bucket === 'day') return fromLocal(zone, midnight);
  // ISO weeks start on Monday; 1970-01-01 was a Thursday.
  const weekday = mod(Math.floor(midnight / DAY) + 3, 7);
  return fromLocal(zone, midnight - weekday * DAY);
}

/** The start of the bucket after the one starting at `start`. */
export function nextBucket(zone: ZoneOffsets, bucket: Bucket, start: number): number {
  if (bucket === 'hour') return bucketStart(zone, bucket, start + HOUR);
  // Days last 23 to 25 hours: two hours past a full one lands inside the next.
  return bucketStart(zone, bucket, start + (bucket === 'day' ? DAY : 7 * DAY) + 2 * HOUR);
}
