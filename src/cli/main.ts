// The `callmind` command: argument parsing, output and exit codes. The work itself is in
// commands.ts (over the services layer) and, for `serve`, in the server's own main().
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CallmindApiError, type ListCallsQuery, type RetryEvent } from '../client/index.js';
import { ConfigError, loadConfig } from '../config.js';
import { AppError } from '../errors.js';
import { main as runServer } from '../main.js';
import type { Agent } from '../modules/agents/agents.schemas.js';
import { DEV_TENANT_ID } from '../modules/identity/identity.js';
import {
  createAgent,
  createKey,
  createWebhookSecret,
  listWebhookSecrets,
  listKeys,
  revokeKey,
  exportData,
  importData,
  listAgents,
  migrate,
  type TenantSelector,
} from './commands.js';
import { MissingUrlError, PushError, pushCalls, remoteClient } from './remote.js';

const EXIT_SUCCESS = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const USAGE = `Usage: callmind <command> [options]

Commands:
  serve                  Start the HTTP server, as npm start does
  migrate [--json]       Apply pending database migrations
  agents create --name NAME [--id ID] [--org ORG] [--user USER] [--json]
                         Register an agent (the id defaults to agent_ + ULID)
  agents list [--org ORG] [--user USER] [--json]
                         List a tenant's agents, oldest first
  keys create --org ORG --name NAME [--user USER] [--scopes calls:read,calls:write] [--json]
                         Make an API key for machines; prints the secret once
  keys list --org ORG [--json]
                         List an organization's keys (never their secrets)
  keys revoke ID         Revoke a key; requests with it fail from then on
  webhook-secrets create --org ORG [--overlap-hours 24] [--json]
                         A new signing secret for Standard Webhooks deliveries; older secrets
                         keep verifying for the overlap (rotation)
  webhook-secrets list --org ORG [--json]
                         List the org's secrets (ids and expiry, never the secrets)
  export [--out FILE]    Write every agent, call and event as NDJSON (default: stdout)
  import FILE [--json]   Load an export; what already exists is skipped (idempotent)

Commands over HTTP, to a running server (--url or CALLMIND_URL; --token or CALLMIND_TOKEN, an
API key; 429 and 503 answers are retried after the server's Retry-After):
  calls list [--status S] [--agent ID] [--direction D] [--sentiment S] [--topic T]
             [--from ISO] [--to ISO] [--q TEXT] [--caller NUMBER] [--sort newest|oldest|longest]
             [--limit N] [--cursor C] [--all] [--json]
                         List calls, a page at a time (--all: every page); filters repeat for
                         "any of"; --json prints one call per line (NDJSON)
  calls push FILE [--concurrency 4] [--json]
                         Send every call of an NDJSON export (GET /api/call-history/export
                         ?format=ndjson; - for stdin) to the server; idempotent by callSid

The tenant is ORG with --org, else USER with --user, else the dev tenant "${DEV_TENANT_ID}".
Configuration comes from the environment, as for the server (DATABASE_URL, LOG_LEVEL, ...).
Exit status: 0 success, 1 failure, 2 usage or configuration error.`;

/** A command line that names no command, an unknown one, or options it does not take. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

const TENANT_OPTIONS = {
  org: { type: 'string' },
  user: { type: 'string' },
} as const;
const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;

type Command = (args: readonly string[]) => Promise<void>;

const COMMANDS: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['serve', serveCommand],
  ['migrate', migrateCommand],
  ['agents create', agentsCreateCommand],
  ['agents list', agentsListCommand],
  ['keys create', keysCreateCommand],
  ['keys list', keysListCommand],
  ['keys revoke', keysRevokeCommand],
  ['webhook-secrets create', webhookSecretsCreateCommand],
  ['webhook-secrets list', webhookSecretsListCommand],
  ['export', exportCommand],
  ['import', importCommand],
  ['calls list', callsListCommand],
  ['calls push', callsPushCommand],
]);

/** Runs one command line (without node and the script) and returns the exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'help' || argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return EXIT_SUCCESS;
  }
  try {
    const { command, args } = resolveCommand(argv);
    await command(args);
    return EXIT_SUCCESS;
  } catch (error) {
    return reportError(error);
  }
}

function resolveCommand(argv: readonly string[]): { command: Command; args: readonly string[] } {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError('no command given');
  const grouped =
    first === 'agents' || first === 'keys' || first === 'webhook-secrets' || first === 'calls';
  if (grouped && (second === undefined || second.startsWith('-'))) {
    const subcommands =
      first === 'keys'
        ? 'create, list or revoke'
        : first === 'calls'
          ? 'list or push'
          : 'create or list';
    throw new UsageError(`${first} needs a subcommand: ${subcommands}`);
  }
  const words = grouped ? 2 : 1;
  const name = argv.slice(0, words).join(' ');
  const command = COMMANDS.get(name);
  if (command === undefined) throw new UsageError(`unknown command "${name}"`);
  return { command, args: argv.slice(words) };
}

async function serveCommand(args: readonly string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true, allowPositionals: false });
  // The server's main() reads the same environment again; reading it here first reports a bad
  // configuration the way every other command does (and with the CLI's exit status).
  loadConfig();
  await runServer();
}

async function migrateCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args, options: JSON_OPTION, strict: true });
  const { database, applied } = await migrate(loadConfig());
  if (values.json) {
    console.log(JSON.stringify({ applied }));
  } else if (applied.length === 0) {
    console.log(`${database} is up to date`);
  } else {
    for (const name of applied) console.log(`applied ${name}`);
  }
}

async function agentsCreateCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      id: { type: 'string' },
      ...TENANT_OPTIONS,
      ...JSON_OPTION,
    },
    strict: true,
  });
  if (values.name === undefined) throw new UsageError('agents create needs --name NAME');
  const agent = await createAgent(loadConfig(), tenantFrom(values), {
    name: values.name,
    ...(values.id !== undefined ? { id: values.id } : {}),
  });
  console.log(values.json ? JSON.stringify(agent) : `created ${describeAgent(agent)}`);
}

async function agentsListCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...TENANT_OPTIONS, ...JSON_OPTION },
    strict: true,
  });
  const tenant = tenantFrom(values);
  const agents = await listAgents(loadConfig(), tenant);
  if (values.json) {
    console.log(JSON.stringify({ data: agents }));
  } else if (agents.length === 0) {
    console.log(`no agents in tenant ${tenant.org ?? tenant.user ?? DEV_TENANT_ID}`);
  } else {
    for (const agent of agents) console.log(describeAgent(agent));
  }
}

async function keysCreateCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      ...TENANT_OPTIONS,
      ...JSON_OPTION,
    },
    strict: true,
  });
  if (values.name === undefined) throw new UsageError('keys create needs --name NAME');
  if (values.org === undefined) throw new UsageError('keys create needs --org ORG');
  const tenant = tenantFrom(values);
  const created = await createKey(loadConfig(), {
    ...tenant,
    name: values.name,
    scopes: values.scopes,
  });
  if (values.json) {
    console.log(JSON.stringify(created));
  } else {
    console.log(`created ${created.id} (${created.scopes.join(' ')}) for ${created.orgId ?? ''}`);
    console.log(`key: ${created.key}`);
    console.log('This is the only time the key is shown: store it now.');
  }
}

async function keysListCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { org: { type: 'string' }, ...JSON_OPTION },
    strict: true,
  });
  if (values.org === undefined || values.org === '')
    throw new UsageError('keys list needs --org ORG');
  const keys = await listKeys(loadConfig(), values.org);
  if (values.json) {
    console.log(JSON.stringify({ data: keys }));
  } else if (keys.length === 0) {
    console.log(`no API keys for ${values.org}`);
  } else {
    for (const key of keys) {
      const state =
        key.revokedAt !== null
          ? `revoked ${key.revokedAt}`
          : `last used ${key.lastUsedAt ?? 'never'}`;
      console.log(
        [key.id, `${key.prefix}…`, JSON.stringify(key.name), key.scopes.join(' '), state].join(
          '  ',
        ),
      );
    }
  }
}

async function keysRevokeCommand(args: readonly string[]): Promise<void> {
  const { positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('keys revoke needs exactly one key ID');
  await revokeKey(loadConfig(), positionals[0]!);
  console.log(`revoked ${positionals[0]}`);
}

async function webhookSecretsCreateCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { org: { type: 'string' }, 'overlap-hours': { type: 'string' }, ...JSON_OPTION },
    strict: true,
  });
  if (values.org === undefined || values.org === '') {
    throw new UsageError('webhook-secrets create needs --org ORG');
  }
  const overlapRaw = values['overlap-hours'] ?? '24';
  if (!/^\d{1,4}$/.test(overlapRaw)) throw new UsageError('--overlap-hours must be a whole number');
  const created = await createWebhookSecret(loadConfig(), values.org, Number(overlapRaw));
  if (values.json) {
    console.log(JSON.stringify(created));
  } else {
    console.log(`created ${created.id} for ${created.tenant}`);
    console.log(`secret: ${created.secret}`);
    console.log(`Sign deliveries to /api/webhooks/calls/*?tenant=${created.tenant} with it.`);
  }
}

async function webhookSecretsListCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { org: { type: 'string' }, ...JSON_OPTION },
    strict: true,
  });
  if (values.org === undefined || values.org === '') {
    throw new UsageError('webhook-secrets list needs --org ORG');
  }
  const secrets = await listWebhookSecrets(loadConfig(), values.org);
  if (values.json) {
    console.log(JSON.stringify({ data: secrets }));
  } else {
    for (const secret of secrets) {
      console.log(
        `${secret.id}  created ${secret.createdAt}  ${secret.expiresAt === null ? 'current' : `expires ${secret.expiresAt}`}`,
      );
    }
  }
}

async function exportCommand(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { out: { type: 'string' } }, strict: true });
  if (values.out === '') throw new UsageError('--out must name a file');
  const counts = await exportData(loadConfig(), values.out);
  // With --out the summary goes to stdout; without, stdout is the export itself.
  const summary = `exported ${counts.agents} agents, ${counts.calls} calls, ${counts.events} events`;
  if (values.out !== undefined) console.log(summary);
  else console.error(summary);
}

async function importCommand(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: JSON_OPTION,
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('import needs exactly one FILE');
  const counts = await importData(loadConfig(), positionals[0]!);
  if (values.json) {
    console.log(JSON.stringify(counts));
  } else {
    console.log(
      `imported ${counts.agents.imported} agents (${counts.agents.skipped} already there), ` +
        `${counts.calls.imported} calls (${counts.calls.skipped} already there), ${counts.events} events`,
    );
  }
}

const REMOTE_OPTIONS = { url: { type: 'string' }, token: { type: 'string' } } as const;

/** The CLI's retries are worth a line on stderr: a pause of seconds should not look like a hang. */
function reportRetry(event: RetryEvent): void {
  const seconds = (event.delayMs / 1000).toFixed(1);
  console.error(`retrying ${event.method} ${event.path} in ${seconds} s: ${event.error.message}`);
}

async function callsListCommand(args: readonly string[]): Promise<void> {
  const many = { type: 'string', multiple: true } as const;
  const { values } = parseArgs({
    args,
    options: {
      ...REMOTE_OPTIONS,
      status: many,
      agent: many,
      direction: many,
      sentiment: many,
      topic: many,
      from: { type: 'string' },
      to: { type: 'string' },
      q: { type: 'string' },
      caller: { type: 'string' },
      sort: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean', default: false },
      ...JSON_OPTION,
    },
    strict: true,
  });
  if (values.limit !== undefined && !/^\d{1,3}$/.test(values.limit)) {
    throw new UsageError('--limit must be a whole number (1 to 100)');
  }
  if (values.all && values.cursor !== undefined) {
    throw new UsageError('--all starts from the first page: leave out --cursor');
  }
  const client = remoteClient(values, reportRetry);
  // The server checks every value (a bad status is a 400 naming it), so they pass as given.
  const query = {
    agentId: values.agent,
    status: values.status,
    direction: values.direction,
    sentiment: values.sentiment,
    topic: values.topic,
    from: values.from,
    to: values.to,
    q: values.q,
    callerNumber: values.caller,
    sort: values.sort,
    limit: values.limit === undefined ? undefined : Number(values.limit),
  } as ListCallsQuery;
  const print = (call: Parameters<typeof describeCall>[0]) =>
    console.log(values.json ? JSON.stringify(call) : describeCall(call));
  let count = 0;
  if (values.all) {
    for await (const call of client.calls.iterate(query)) {
      print(call);
      count += 1;
    }
  } else {
    const page = await client.calls.list({ ...query, cursor: values.cursor });
    for (const call of page.data) print(call);
    count = page.data.length;
    // On stderr, so that stdout stays the calls alone.
    if (page.nextCursor !== null) console.error(`more calls: --cursor ${page.nextCursor}`);
  }
  if (count === 0 && !values.json) console.log('no calls');
}

async function callsPushCommand(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...REMOTE_OPTIONS, concurrency: { type: 'string' }, ...JSON_OPTION },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('calls push needs exactly one FILE (or -)');
  const concurrencyRaw = values.concurrency ?? '4';
  if (!/^\d{1,2}$/.test(concurrencyRaw) || Number(concurrencyRaw) === 0) {
    throw new UsageError('--concurrency must be a whole number from 1 to 99');
  }
  const client = remoteClient(values, reportRetry);
  const counts = await pushCalls(client, positionals[0]!, Number(concurrencyRaw));
  console.log(values.json ? JSON.stringify(counts) : `pushed ${counts.calls} calls`);
}

function describeCall(call: {
  id: string;
  startedAt: string;
  status: string;
  direction: string;
  callerNumber: string | null;
  agentId: string;
  duration: number | null;
}): string {
  return [
    call.id,
    call.startedAt,
    call.status,
    call.direction,
    call.callerNumber ?? '-',
    call.agentId,
    call.duration === null ? '-' : `${call.duration}s`,
  ].join('  ');
}

function tenantFrom(values: TenantSelector): TenantSelector {
  // An empty id would silently become a tenant of its own that no request can ever act as.
  if (values.org === '') throw new UsageError('--org must not be empty');
  if (values.user === '') throw new UsageError('--user must not be empty');
  return { org: values.org, user: values.user };
}

function describeAgent(agent: Agent): string {
  const owner = [
    agent.orgId !== null ? `org ${agent.orgId}` : undefined,
    agent.userId !== null ? `user ${agent.userId}` : undefined,
  ].filter((part) => part !== undefined);
  return [agent.id, JSON.stringify(agent.name), ...owner, `created ${agent.createdAt}`].join('  ');
}

function reportError(error: unknown): number {
  if (error instanceof UsageError || error instanceof MissingUrlError || isParseArgsError(error)) {
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    console.error(error.message);
    return EXIT_USAGE;
  }
  if (error instanceof AppError) {
    console.error(`error: ${error.code}: ${error.message}`);
    return EXIT_FAILURE;
  }
  if (error instanceof CallmindApiError) {
    reportApiError('', error);
    return EXIT_FAILURE;
  }
  if (error instanceof PushError) {
    if (error.cause instanceof CallmindApiError)
      reportApiError(`line ${error.line}: `, error.cause);
    else console.error(`error: ${error.message}`);
    console.error(
      `${error.pushed} calls were pushed; pushing the file again is safe (calls already there are merged by callSid)`,
    );
    return EXIT_FAILURE;
  }
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  return EXIT_FAILURE;
}

/** The server's answer to a command over HTTP: its code, each bad field, the request id. */
function reportApiError(prefix: string, error: CallmindApiError): void {
  console.error(`error: ${prefix}${error.status} ${error.code}: ${error.detail}`);
  for (const field of error.errors) console.error(`  ${field.field}: ${field.message}`);
  if (error.requestId !== undefined) console.error(`  request id: ${error.requestId}`);
}

/** node:util's parseArgs reports an unknown option or a missing value as a coded TypeError. */
function isParseArgsError(error: unknown): error is TypeError {
  return (
    error instanceof TypeError &&
    'code' in error &&
    typeof error.code === 'string' &&
    error.code.startsWith('ERR_PARSE_ARGS_')
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
