// What the CLI does, over the same services the HTTP API uses. Each operation opens the
// configured database, does one thing and closes it again; printing is left to main.ts.
import fs from 'node:fs';
import { once } from 'node:events';
import readline from 'node:readline';
import type { Config } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrateDatabase } from '../db/migrator.js';
import { ValidationError } from '../errors.js';
import { createValidatorCompiler, toFieldErrors } from '../http/validation.js';
import { CreateAgentBody, type Agent } from '../modules/agents/agents.schemas.js';
import type { ApiKey, CreatedApiKey } from '../modules/api-keys/api-keys.schemas.js';
import {
  operatorAuthContext,
  SCOPES,
  type AuthContext,
  type Scope,
} from '../modules/identity/identity.js';
import { parseExportLine, type ImportCounts } from '../modules/transfer/transfer.service.js';
import { createServices, type Services } from '../services.js';

/** Whom a command acts as: an organisation, a user, or (neither) the dev tenant. */
export interface TenantSelector {
  readonly org?: string | undefined;
  readonly user?: string | undefined;
}

/**
 * The AuthContext a request from that org or user would carry. The org is the tenant when both
 * are given, as for a signed-in user with an active organisation.
 */
export function authContextFor({ org, user }: TenantSelector): AuthContext {
  return operatorAuthContext({ orgId: org ?? null, userId: user ?? null });
}

/** The names of the migrations this run applied; empty when the database was up to date. */
export async function migrate(config: Config): Promise<{ database: string; applied: string[] }> {
  const database = openDatabase(config);
  try {
    return {
      database: database.description,
      applied: await migrateDatabase(config, database),
    };
  } finally {
    await database.close();
  }
}

export async function createAgent(
  config: Config,
  tenant: TenantSelector,
  body: CreateAgentBody,
): Promise<Agent> {
  // The HTTP route validates this body before the service sees it; the CLI must do the same, or
  // it could store an id that calls can never name.
  assertValidCreateAgentBody(body);
  assertTenantNamed(config, tenant);
  const auth = authContextFor(tenant);
  return withServices(config, (services) =>
    services.agents.create(auth, body, { userId: auth.userId, orgId: auth.orgId }),
  );
}

export async function listAgents(config: Config, tenant: TenantSelector): Promise<Agent[]> {
  assertTenantNamed(config, tenant);
  return withServices(config, (services) => services.agents.list(authContextFor(tenant)));
}

/** Outside dev mode no request can reach the dev tenant: an agent there would be lost. */
function assertTenantNamed(config: Config, tenant: TenantSelector): void {
  if (config.authRequired && tenant.org === undefined && tenant.user === undefined) {
    throw new ValidationError([
      { field: 'org', message: 'is required (or --user) when authentication is on' },
    ]);
  }
}

function assertValidCreateAgentBody(body: CreateAgentBody): void {
  const validate = createValidatorCompiler()({
    schema: CreateAgentBody,
    method: 'POST',
    url: '/api/agents',
    httpPart: 'body',
  });
  if (validate(body) !== true) throw new ValidationError(toFieldErrors(validate.errors ?? []));
}

async function withServices<T>(
  config: Config,
  work: (services: Services) => Promise<T>,
): Promise<T> {
  const database = openDatabase(config);
  try {
    // The server migrates on start too: a new or older database file gets today's schema
    // instead of failing on a missing table.
    await migrateDatabase(config, database);
    const services = createServices({ config, database });
    try {
      return await work(services);
    } finally {
      await services.transactor.drain();
      // What the work announced reaches running servers' streams (PostgreSQL) before the
      // connection closes; on SQLite the channel is this process's own, and nobody listens.
      await services.callStream.flush();
    }
  } finally {
    await database.close();
  }
}

/** Writes every agent, call and event as NDJSON to `out` (a path, or stdout); returns counts. */
export async function exportData(
  config: Config,
  out: string | undefined,
): Promise<{ agents: number; calls: number; events: number }> {
  return withServices(config, async (services) => {
    const stream = out === undefined ? process.stdout : fs.createWriteStream(out);
    const counts = { agents: 0, calls: 0, events: 0 };
    for await (const line of services.transfer.exportLines(new Date())) {
      if (line.kind === 'agent') counts.agents += 1;
      if (line.kind === 'call') {
        counts.calls += 1;
        counts.events += line.events.length;
      }
      if (!stream.write(`${JSON.stringify(line)}\n`)) await once(stream, 'drain');
    }
    if (stream !== process.stdout) {
      await new Promise<void>((resolve, reject) =>
        (stream as fs.WriteStream).end((error?: Error | null) =>
          error ? reject(error) : resolve(),
        ),
      );
    }
    return counts;
  });
}

/** Imports an export file; what already exists is skipped, so running it twice is harmless. */
export async function importData(config: Config, file: string): Promise<ImportCounts> {
  return withServices(config, async (services) => {
    const input = readline.createInterface({
      input: fs.createReadStream(file, 'utf8'),
      crlfDelay: Infinity,
    });
    async function* lines() {
      let number = 0;
      for await (const text of input) {
        number += 1;
        if (text.trim() !== '') yield { line: parseExportLine(text, number), number };
      }
    }
    const counts = await services.transfer.importLines(lines());
    // SQLite indexes calls for search in batches after their writes (T1600): index the import
    // here, so the first search after it does not pay for all of it.
    await services.calls.indexPendingSearch();
    return counts;
  });
}

export interface KeyOptions {
  readonly org?: string | undefined;
  readonly user?: string | undefined;
  readonly name: string;
  readonly scopes?: string | undefined;
}

/** Scopes from a comma- or space-separated list; every one must be known. */
export function parseScopes(raw: string | undefined): Scope[] {
  if (raw === undefined) return [...SCOPES];
  const scopes = raw.split(/[\s,]+/).filter((s) => s !== '');
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new ValidationError([
      { field: 'scopes', message: `must be a list of ${SCOPES.join(', ')} (got ${raw})` },
    ]);
  }
  return scopes as Scope[];
}

/**
 * An org key (--org), optionally acting as one user of it (--user), as a backend that
 * "authenticates as the user who owns the agent" does. The secret is in the answer, once.
 */
export async function createKey(config: Config, options: KeyOptions): Promise<CreatedApiKey> {
  if (options.org === undefined) {
    throw new ValidationError([
      { field: 'org', message: 'is required: keys belong to an organization' },
    ]);
  }
  const scopes = parseScopes(options.scopes);
  if (options.name.length === 0 || options.name.length > 200) {
    throw new ValidationError([{ field: 'name', message: 'must be 1 to 200 characters' }]);
  }
  const org = options.org;
  return withServices(config, (services) =>
    services.apiKeys.createForOperator(
      { tenantId: org, orgId: org, userId: options.user ?? null, createdBy: null },
      options.name,
      scopes,
    ),
  );
}

export async function listKeys(config: Config, org: string): Promise<ApiKey[]> {
  return withServices(config, (services) => services.apiKeys.listForTenant(org));
}

export async function revokeKey(config: Config, id: string): Promise<void> {
  return withServices(config, (services) => services.apiKeys.revokeAsOperator(id));
}

/** A new signing secret for the org's webhooks; the previous ones verify for `overlapHours`. */
export async function createWebhookSecret(config: Config, org: string, overlapHours: number) {
  return withServices(config, (services) =>
    services.webhookSigning.createSecret(org, overlapHours),
  );
}

export async function listWebhookSecrets(config: Config, org: string) {
  return withServices(config, (services) => services.webhookSigning.listSecrets(org));
}
