// What SQLite's writer thread runs (src/db/sqlite-writer.ts): the composition of the call
// writes over the thread's own connection. Its settings come from the main thread's config.
import type { Kysely } from 'kysely';
import type { Database } from './db/types.js';
import type { WriteSteps } from './db/sqlite-writer-worker.js';
import { systemClock } from './lib/time.js';
import { createAgentRepository } from './modules/agents/agents.repository.js';
import { createAgentService } from './modules/agents/agents.service.js';
import { callWriteSteps } from './modules/calls/call-writes.js';
import { createCallRepository } from './modules/calls/calls.repository.js';
import { createProviderRepository } from './modules/providers/providers.repository.js';
import { createWebhookSigningRepository } from './modules/webhook-signing/webhook-signing.repository.js';

export interface WriteStepSettings {
  /** Dev mode: an unknown agentId on ingest registers the agent (AgentServiceDeps). */
  readonly registerUnknownAgents: boolean;
}

export function createWriteSteps(db: Kysely<Database>, settings: WriteStepSettings): WriteSteps {
  return callWriteSteps({
    calls: createCallRepository(db, 'sqlite'),
    // The writes pass their own `now`: this clock is never read by them.
    agents: createAgentService({
      agents: createAgentRepository(db),
      clock: systemClock,
      registerUnknownAgents: settings.registerUnknownAgents,
    }),
    deliveries: createWebhookSigningRepository(db),
    sequences: createProviderRepository(db),
  });
}
