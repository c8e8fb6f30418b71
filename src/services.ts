// The composition root: the one place repositories, services and the authenticator are wired.
// Shared by the server (main.ts), the CLI and the tests.
import type { ExportWalkSizes } from './modules/calls/calls.export.js';
import type { Config } from './config.js';
import type { DatabaseHandle, Dialect } from './db/database.js';
import { moduleBeside } from './db/sqlite-writer.js';
import { DirectTransactor, GroupCommitTransactor, type Transactor } from './db/transactor.js';
import { ConcurrencyGate } from './lib/concurrency-gate.js';
import { systemClock, type Clock } from './lib/time.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createAgentRepository } from './modules/agents/agents.repository.js';
import { createAgentService, type AgentService } from './modules/agents/agents.service.js';
import { createCallRepository, DEFAULT_SEARCH_PLANS } from './modules/calls/calls.repository.js';
import { createCallRollupRepository } from './modules/calls/call-rollups.repository.js';
import { createCallService, type CallService } from './modules/calls/calls.service.js';
import {
  createLocalCallWrites,
  createRemoteCallWrites,
  createSearchIndexWrites,
} from './modules/calls/call-writes.js';
import type { WriteStepSettings } from './write-steps.js';
import {
  CALL_STREAM_SETTINGS,
  createCallStreamService,
  type CallChange,
  type CallStreamService,
  type CallStreamSettings,
} from './modules/calls/call-stream.js';
import { createMaintenanceRepository } from './modules/maintenance/maintenance.repository.js';
import {
  createMaintenanceService,
  type MaintenanceService,
} from './modules/maintenance/maintenance.service.js';
import { createHealthRepository } from './modules/health/health.repository.js';
import { createHealthService, type HealthService } from './modules/health/health.service.js';
import { createWebhookSigningRepository } from './modules/webhook-signing/webhook-signing.repository.js';
import {
  createWebhookSigningService,
  type WebhookSigningService,
} from './modules/webhook-signing/webhook-signing.service.js';
import { createTransferRepository } from './modules/transfer/transfer.repository.js';
import {
  createTransferService,
  type TransferService,
} from './modules/transfer/transfer.service.js';
import { createProviderRepository } from './modules/providers/providers.repository.js';
import {
  createProviderService,
  type ProviderService,
} from './modules/providers/providers.service.js';
import { createApiKeyRepository } from './modules/api-keys/api-keys.repository.js';
import { createApiKeyService, type ApiKeyService } from './modules/api-keys/api-keys.service.js';
import { createClerkVerifier } from './modules/identity/clerk-verifier.js';
import {
  createDevAuthenticator,
  createRequiredAuthenticator,
  type Authenticator,
  type CredentialVerifier,
} from './modules/identity/identity.js';

export interface Services {
  readonly dialect: Dialect;
  readonly authenticator: Authenticator;
  readonly agents: AgentService;
  readonly apiKeys: ApiKeyService;
  readonly calls: CallService;
  readonly callStream: CallStreamService;
  readonly health: HealthService;
  readonly maintenance: MaintenanceService;
  /** This composition's own Prometheus registry and counters (served at /metrics). */
  readonly metrics: Metrics;
  readonly providers: ProviderService;
  readonly transfer: TransferService;
  readonly webhookSigning: WebhookSigningService;
  readonly transactor: Transactor;
  assertCanAuthenticate(): Promise<void>;
  /**
   * Resolves once SQLite's writer thread (when there is one) has opened its connection;
   * rejects with why it could not, so that a server does not start unable to write.
   */
  writesReady(): Promise<void>;
}

export interface CreateServicesOptions {
  readonly config: Config;
  readonly database: DatabaseHandle;
  readonly clock?: Clock;
  /** The export's walk sizes (tests make them small, to cross batches with few calls). */
  readonly exportWalkSizes?: ExportWalkSizes | undefined;
  /** The live stream's rounds and bounds (tests lower maxStreams). */
  readonly callStreamSettings?: CallStreamSettings | undefined;
}

export function createServices({
  config,
  database,
  clock = systemClock,
  exportWalkSizes,
  callStreamSettings = CALL_STREAM_SETTINGS,
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
  const webhookSigningRepository = createWebhookSigningRepository(db);
  const callRepository = createCallRepository(
    db,
    dialect,
    database.readDb,
    DEFAULT_SEARCH_PLANS,
    database.copyRows,
  );
  const providerRepository = createProviderRepository(db);
  const writeStepSettings: WriteStepSettings = { registerUnknownAgents: config.devMode };
  // SQLite on a file: the hot writes run on the writer thread, composed there by write-steps.ts.
  const writerThread =
    dialect === 'sqlite' && config.sqlite.writeThread
      ? database.writerThread?.({
          module: moduleBeside(import.meta.url, 'write-steps'),
          settings: writeStepSettings,
          batchMax: config.writeBatchMax,
        })
      : undefined;
  // With it, the search index is written on a connection and thread of its own, into its own
  // file, so that indexing never holds the calls' write lock (src/db/sqlite-search-file.ts).
  const searchIndexDb = writerThread === undefined ? undefined : database.searchIndexDb?.();
  const callWrites =
    writerThread === undefined || searchIndexDb === undefined
      ? createLocalCallWrites(transactor, {
          calls: callRepository,
          agents,
          deliveries: webhookSigningRepository,
          sequences: providerRepository,
        })
      : createRemoteCallWrites(
          writerThread,
          createSearchIndexWrites(searchIndexDb, createCallRepository(searchIndexDb, 'sqlite')),
        );
  const callStream = createCallStreamService({
    channel: database.changes,
    calls: callRepository,
    settings: callStreamSettings,
  });
  const publishChange = (change: CallChange) => callStream.publish(change);
  const heavyReads =
    config.heavyReadsAtOnce === 0 ? undefined : new ConcurrencyGate(config.heavyReadsAtOnce);
  const calls = createCallService({
    calls: callRepository,
    transactor,
    writes: callWrites,
    clock,
    exportWalkSizes,
    publishChange,
    searchIndexBatch: config.maintenance.searchIndexBatch,
    heavyReads,
  });
  const maintenance = createMaintenanceService({
    maintenance: createMaintenanceRepository(db, dialect),
    rollups: createCallRollupRepository(db, dialect),
    transactor,
    clock,
    retentionDays: config.maintenance.retentionDays,
    staleCallAfterMinutes: config.maintenance.staleCallAfterMinutes,
    publishChange,
  });
  const webhookSigning = createWebhookSigningService({
    signing: webhookSigningRepository,
    transactor,
    clock,
  });
  const apiKeys = createApiKeyService({ keys: createApiKeyRepository(db), transactor, clock });
  const clerkConfigured = config.clerk.jwtKey !== undefined || config.clerk.secretKey !== undefined;
  const verifiers: CredentialVerifier[] = [apiKeys.verifier()];
  if (clerkConfigured) verifiers.push(createClerkVerifier(config.clerk));
  return {
    dialect,
    authenticator: config.devMode
      ? createDevAuthenticator()
      : createRequiredAuthenticator(verifiers),
    /**
     * In production a server that no credential could ever pass is a misconfiguration: it needs
     * a Clerk key, or at least one API key made with `callmind keys create`.
     */
    async assertCanAuthenticate() {
      if (config.nodeEnv !== 'production' || clerkConfigured || (await apiKeys.anyActive())) return;
      throw new Error(
        'NODE_ENV=production but nothing could ever authenticate: set CLERK_JWT_KEY (or ' +
          'CLERK_SECRET_KEY), or create an API key with `callmind keys create --org ORG --name NAME`',
      );
    },
    writesReady: async () => {
      await writerThread?.started();
    },
    agents,
    apiKeys,
    calls,
    callStream,
    health: createHealthService({ health: createHealthRepository(db) }),
    maintenance,
    metrics: createMetrics({
      database,
      heavyReads,
      groupCommits: [
        ...(transactor instanceof GroupCommitTransactor ? [transactor] : []),
        ...(writerThread === undefined ? [] : [writerThread]),
      ],
    }),
    providers: createProviderService({
      secrets: providerRepository,
      calls,
      transactor,
      clock,
      devMode: config.devMode,
      devSecrets: config.providers.devSecrets,
    }),
    webhookSigning,
    transfer: createTransferService({
      transfer: createTransferRepository(db),
      transactor,
      publishChange,
    }),
    transactor,
  };
}
