// The composition root: the one place repositories, services and the authenticator are wired.
// Shared by the server (main.ts), the CLI and the tests.
import type { Config } from './config.js';
import type { DatabaseHandle, Dialect } from './db/database.js';
import { DirectTransactor, GroupCommitTransactor, type Transactor } from './db/transactor.js';
import { systemClock, type Clock } from './lib/time.js';
import { createAgentRepository } from './modules/agents/agents.repository.js';
import { createAgentService, type AgentService } from './modules/agents/agents.service.js';
import { createCallRepository } from './modules/calls/calls.repository.js';
import { createCallService, type CallService } from './modules/calls/calls.service.js';
import { createHealthRepository } from './modules/health/health.repository.js';
import { createHealthService, type HealthService } from './modules/health/health.service.js';
import { createTransferRepository } from './modules/transfer/transfer.repository.js';
import {
  createTransferService,
  type TransferService,
} from './modules/transfer/transfer.service.js';
import {
  createDevAuthenticator,
  createRequiredAuthenticator,
  type Authenticator,
} from './modules/identity/identity.js';

export interface Services {
  readonly dialect: Dialect;
  readonly authenticator: Authenticator;
  readonly agents: AgentService;
  readonly calls: CallService;
  readonly health: HealthService;
  readonly transfer: TransferService;
  readonly transactor: Transactor;
}

export interface CreateServicesOptions {
  readonly config: Config;
  readonly database: DatabaseHandle;
  readonly clock?: Clock;
}

export function createServices({
  config,
  database,
  clock = systemClock,
}: CreateServicesOptions): Services {
  const { db, dialect } = database;
  // Group commit only helps SQLite's single writer; PostgreSQL commits per connection.
  const transactor: Transactor =
    dialect === 'sqlite' && config.writeBatchMax > 1
      ? new GroupCommitTransactor(db, config.writeBatchMax)
      : new DirectTransactor(db);
  const agents = createAgentService({
    agents: createAgentRepository(db),
    clock,
    registerUnknownAgents: config.devMode,
  });
  const calls = createCallService({
    calls: createCallRepository(db, dialect),
    agents,
    transactor,
    clock,
  });
  return {
    dialect,
    authenticator: config.devMode ? createDevAuthenticator() : createRequiredAuthenticator([]),
    agents,
    calls,
    health: createHealthService({ health: createHealthRepository(db) }),
    transfer: createTransferService({ transfer: createTransferRepository(db), transactor }),
    transactor,
  };
}
