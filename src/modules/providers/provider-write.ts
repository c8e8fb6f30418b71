// What an adapter makes of one native delivery: an ingest write in the calls service's own
// terms (kind and body, as the generic webhooks send them), with the provider's name of each
// field, so that a problem names the field the provider sent.
import type { FieldError } from '../../errors.js';
import { ValidationError } from '../../errors.js';
import type {
  CallCompletedWebhookBody,
  CallStartedWebhookBody,
  CreateCallBody,
  EndReason,
} from '../calls/calls.schemas.js';

/** Our field (its first path segment) → the provider's field it came from. */
export type FieldSources = Readonly<Record<string, string>>;

interface WriteBase {
  readonly sources: FieldSources;
  /** Makes a redelivery of the same event a no-op (webhook_deliveries), e.g. vapi:<id>:<type>. */
  readonly deliveryId?: string;
  /** Twilio's SequenceNumber: a callback numbered lower than one applied changes nothing. */
  readonly sequence?: number;
}

export type ProviderWrite =
  | (WriteBase & { readonly kind: 'started'; readonly body: CallStartedWebhookBody })
  | (WriteBase & { readonly kind: 'completed'; readonly body: CallCompletedWebhookBody })
  /** A write that reports no status (a recording): fills the call, never moves its status. */
  | (WriteBase & { readonly kind: 'create'; readonly body: CreateCallBody })
  /** Nothing to store (another message type, a recording still in progress): acknowledged. */
  | { readonly kind: 'ignored' };

/** The body type of a write of kind K. */
export type WriteBody<K extends 'started' | 'completed' | 'create'> = Extract<
  ProviderWrite,
  { kind: K }
>['body'];

export interface Outcome {
  readonly status: 'completed' | 'missed' | 'failed';
  readonly endReason?: EndReason;
}

/**
 * Collects a body's fields, each with the provider field it came from; absent, null and empty
 * values are left out (the ingest rules keep what is stored for what a write does not say).
 */
export class BodyBuilder {
  readonly body: Record<string, unknown> = {};
  readonly sources: Record<string, string> = {};

  set(field: string, value: unknown, source: string): this {
    if (value === undefined || value === null || value === '') return this;
    this.body[field] = value;
    this.sources[field] = source;
    return this;
  }
}

/** Renames our fields in problems to the provider's (collectedData.x → custom_analysis_data.x). */
export function renameFields(errors: readonly FieldError[], sources: FieldSources): FieldError[] {
  return errors.map((error) => {
    const [head = '', ...rest] = error.field.split('.');
    const source = sources[head];
    return source === undefined ? error : { ...error, field: [source, ...rest].join('.') };
  });
}

/** A required field the payload lacks, named as the provider names it. */
export function missing(field: string, message = 'is required'): ValidationError {
  return new ValidationError([{ field, message }]);
}

/** Milliseconds since the epoch as an ISO-8601 timestamp; undefined for absent or unusable. */
export function isoFromMillis(ms: number | null | undefined): string | undefined {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * A transcript in the dashboard's convention (`Agent:` / `Caller:` lines): each line that
 * starts with one of the provider's speaker labels gets ours; other lines are kept as they are.
 */
export function conversationTranscript(
  text: string | null | undefined,
  speakers: Readonly<Record<string, 'Agent' | 'Caller'>>,
): string | undefined {
  if (text === null || text === undefined) return undefined;
  const lines = text.split(/\r?\n/).map((line) => {
    for (const [label, speaker] of Object.entries(speakers)) {
      if (line.startsWith(`${label}:`)) return `${speaker}:${line.slice(label.length + 1)}`;
    }
    return line;
  });
  const joined = lines.join('\n').trim();
  return joined === '' ? undefined : joined;
}

/** A plain JSON object (what collectedData may hold), or undefined. */
export function plainObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * collectedData for a provider's write: its own extracted data, if any, then the raw end reason
 * under `providerEndReason` (the canonical one is `endReason`).
 */
export function collectedDataOf(
  data: Record<string, unknown> | undefined,
  providerEndReason: string | null | undefined,
): Record<string, unknown> | undefined {
  const entries = Object.entries(data ?? {});
  if (providerEndReason !== null && providerEndReason !== undefined && providerEndReason !== '') {
    entries.push(['providerEndReason', providerEndReason]);
  }
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}
