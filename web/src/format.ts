// How values read on screen. Times in the browser's own time zone and locale.
import type { CallStatus, EndReason } from '../../src/modules/calls/call-values';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const fullDateTime = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'medium',
});

export const formatDateTime = (iso: string): string => dateTime.format(new Date(iso));
export const formatFullDateTime = (iso: string): string => fullDateTime.format(new Date(iso));

/** 75 → "1:15"; 3725 → "1:02:05". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const usd = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumFractionDigits: 4,
});

export const formatCost = (cost: number | null | undefined): string =>
  cost === null || cost === undefined ? '—' : usd.format(cost);

export const STATUS_LABELS: Record<CallStatus, string> = {
  ringing: 'Ringing',
  'in-progress': 'In progress',
  completed: 'Completed',
  missed: 'Missed',
  failed: 'Failed',
};

export const END_REASON_LABELS: Record<EndReason, string> = {
  caller_hangup: 'Caller hung up',
  agent_hangup: 'Agent hung up',
  transferred: 'Transferred',
  voicemail: 'Voicemail',
  no_answer: 'No answer',
  busy: 'Busy',
  max_duration: 'Reached the maximum duration',
  error: 'Error',
  missing_final_event: 'No final event (ended by the server)',
};

export const isLive = (status: string): boolean => status === 'ringing' || status === 'in-progress';

/** Seconds since `startedAt` for a call still going, else its recorded duration. */
export function shownDuration(
  call: { status: string; startedAt: string; duration: number | null },
  now: number,
): number | null {
  if (isLive(call.status)) return (now - Date.parse(call.startedAt)) / 1000;
  return call.duration;
}
