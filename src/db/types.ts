// Table shapes as Kysely sees them. Portable columns: text ids and ISO-8601 UTC text
// timestamps, JSON as text, money as integer micro-dollars (see ARCHITECTURE.md).
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface AgentsTable {
  tenant_id: string;
  id: string;
  name: string;
  user_id: string | null;
  org_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface CallsTable {
  id: string;
  tenant_id: string;
  call_sid: string;
  /** '' only while a `completed` webhook waits for the `started` that names the agent. */
  agent_id: string;
  user_id: string | null;
  org_id: string | null;
  direction: string;
  caller_number: string | null;
  caller_name: string | null;
  status: string;
  started_at: string;
  ended_at: string | null;
  duration: number | null;
  recording_url: string | null;
  transcript: string | null;
  sentiment: string | null;
  summary: string | null;
  /** JSON array of strings. */
  topics: string;
  /** JSON object. */
  collected_data: string;
  cost_micros: number | null;
  created_at: string;
  updated_at: string;
  started_at_source: Generated<StartedAtSource>;
  duration_source: DurationSource | null;
  direction_source: Generated<DirectionSource>;
  /** Why the call ended (END_REASONS), null when nobody said. */
  end_reason: string | null;
}

export type StartedAtSource = 'sent' | 'first_seen' | 'end';
export type DurationSource = 'sent' | 'computed';
export type DirectionSource = 'sent' | 'default';

export interface CallEventsTable {
  id: Generated<number>;
  tenant_id: string;
  call_id: string;
  /** What arrived: create, started, completed, status_update. */
  kind: string;
  /** Whether the write made the record (created) or merged into it (merged). */
  outcome: string;
  status_before: string | null;
  status_after: string;
  received_at: string;
  /** JSON of the accepted input. */
  payload: string;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  org_id: string | null;
  /** Set when the key acts as one user of the org (as a backend acting for the agent's owner). */
  user_id: string | null;
  name: string;
  /** Space-separated scopes. */
  scopes: string;
  /** SHA-256 hex of the whole key. */
  secret_hash: string;
  display_prefix: string;
  created_by: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface WebhookSecretsTable {
  id: string;
  tenant_id: string;
  secret: string;
  created_at: string;
  expires_at: string | null;
}

export interface WebhookDeliveriesTable {
  tenant_id: string;
  webhook_id: string;
  call_id: string | null;
  received_at: string;
}

/** A tenant's secret for one provider's webhooks (modules/providers). */
export interface ProviderSecretsTable {
  id: string;
  tenant_id: string;
  org_id: string | null;
  user_id: string | null;
  /** twilio, vapi or retell. */
  provider: string;
  secret: string;
  /** The secret's last four characters, shown in lists instead of it. */
  hint: string;
  created_at: string;
  expires_at: string | null;
}

/** The last Twilio SequenceNumber applied to a call (per tenant, provider and callSid). */
export interface ProviderCallSequencesTable {
  tenant_id: string;
  provider: string;
  call_sid: string;
  sequence: number | string;
  updated_at: string;
}

export interface TenantSettingsTable {
  tenant_id: string;
  /** Days a call is kept after it started; 0: forever; null: the server's default. */
  retention_days: number | null;
  updated_at: string;
}

/**
 * One row per topic and per scalar collectedData value of a call, kept by triggers (see the
 * call_facets migration): what a topic or collectedData filter reads its newest matches from.
 */
export interface CallFacetsTable {
  tenant_id: string;
  /** 'topic', or 'data.' + the collectedData key. */
  facet: string;
  value: string;
  started_at: string;
  call_id: string;
}

/**
 * Rollups of the calls for the stats, kept by triggers (see the call_rollups migration). `span`
 * is the period a row sums ('h' hour, 'd' day, 'm' month, all UTC) and `period` the matching
 * prefix of its ISO start. On PostgreSQL a group may hold several delta rows (summed when read;
 * `pending` until the sweeper compacts them); on SQLite one row per group.
 */
interface CallRollupKey {
  tenant_id: string;
  span: string;
  period: string;
}

/** Per (tenant, hour | day): the sums every stats total and the series come from. */
export interface CallRollupSlotsTable extends CallRollupKey {
  ringing: number;
  in_progress: number;
  completed: number;
  missed: number;
  failed: number;
  inbound: number;
  positive: number;
  negative: number;
  neutral: number;
  duration_count: number;
  /** Durations in integer milliseconds (rounded half up), so sums are exact. */
  duration_ms: number | string;
  cost_count: number;
  cost_micros: number | string;
}

/** Per (tenant, day | month, agent): calls. */
export interface CallRollupAgentsTable extends CallRollupKey {
  agent_id: string;
  calls: number;
}

/** Per (tenant, day | month, duration bin): calls with a duration in the bin. */
export interface CallRollupDurationsTable extends CallRollupKey {
  bin: number;
  calls: number;
}

/** The duration bins: [lo, hi) seconds; the last bin has no upper bound. */
export interface CallRollupDurationBinsTable {
  bin: number;
  lo: number;
  hi: number | null;
}

export interface Database {
  agents: AgentsTable;
  calls: CallsTable;
  call_events: CallEventsTable;
  call_facets: CallFacetsTable;
  call_rollup_slots: CallRollupSlotsTable;
  call_rollup_agents: CallRollupAgentsTable;
  call_rollup_durations: CallRollupDurationsTable;
  call_rollup_duration_bins: CallRollupDurationBinsTable;
  api_keys: ApiKeysTable;
  webhook_secrets: WebhookSecretsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  tenant_settings: TenantSettingsTable;
  provider_secrets: ProviderSecretsTable;
  provider_call_sequences: ProviderCallSequencesTable;
}

export type AgentRow = Selectable<AgentsTable>;
export type NewAgentRow = Insertable<AgentsTable>;
export type CallRow = Selectable<CallsTable>;
export type NewCallRow = Insertable<CallsTable>;
export type CallRowUpdate = Updateable<CallsTable>;
export type CallEventRow = Selectable<CallEventsTable>;
export type NewCallEventRow = Insertable<CallEventsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKeyRow = Insertable<ApiKeysTable>;
export type WebhookSecretRow = Selectable<WebhookSecretsTable>;
export type ProviderSecretRow = Selectable<ProviderSecretsTable>;
