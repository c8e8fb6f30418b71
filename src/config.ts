// The only reader of process.env. Everything else receives the frozen Config it returns.
import { createPublicKey, type KeyObject } from 'node:crypto';
import path from 'node:path';

export type SqliteSynchronous = 'full' | 'normal';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type DatabaseTarget =
  | { readonly dialect: 'sqlite'; readonly file: string }
  | { readonly dialect: 'postgres'; readonly url: string };

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly database: DatabaseTarget;
  readonly logLevel: LogLevel;
  readonly bodyLimit: number;
  readonly nodeEnv: string;
  /** True when the server must authenticate every request (production, AUTH_REQUIRED=1, a Clerk key). */
  readonly authRequired: boolean;
  /** Dev mode: one local tenant, no credential, loopback only. The opposite of authRequired. */
  readonly devMode: boolean;
  readonly clerk: {
    /** PEM public key: verification without any network call. */
    readonly jwtKey: string | undefined;
    /** Secret key: verification against Clerk's JWKS, fetched and cached. */
    readonly secretKey: string | undefined;
    /** When set, a session token's `iss` must equal it. */
    readonly issuer: string | undefined;
    /** When non-empty, a session token's `azp` must be one of these origins. */
    readonly authorizedParties: readonly string[];
    /** The dashboard signs people in with Clerk (its React SDK) when this is set. */
    readonly publishableKey: string | undefined;
    /** The Frontend API origin the publishable key names: the dashboard's browser talks to it. */
    readonly frontendApi: string | undefined;
  };
  /** Browser origins allowed to call the API cross-origin; empty: same origin only. */
  readonly corsOrigins: readonly string[];
  readonly rateLimit: {
    /** Requests per credential per window; 0 turns the limit off. */
    readonly max: number;
    readonly windowMs: number;
    /** Failed authentications per client address per minute before 429s; 0: no limit. */
    readonly authFailuresPerMinute: number;
  };
  readonly sqlite: {
    readonly synchronous: SqliteSynchronous;
    readonly busyTimeoutMs: number;
    /** Reader threads for lists, search, stats and export (default 2); 0: the main thread. */
    readonly readers: number;
    /** SQLITE_CACHE_MB: each connection's page cache (writer and readers). */
    readonly cacheMb: number;
    /**
     * SQLITE_WRITE_THREAD (default on): ingest, status updates and search indexing run on a
     * writer thread with its own connection (src/db/sqlite-writer.ts); off: on the main thread.
     */
    readonly writeThread: boolean;
    /** SQLITE_WRITE_THREAD_CACHE_MB: the writer thread's page cache (default 8). */
    readonly writeThreadCacheMb: number;
  };
  /** Group commit: how many writes may share one SQLite transaction (1 = a commit per request). */
  readonly writeBatchMax: number;
  /**
   * HEAVY_READS_AT_ONCE: searches and stats this instance answers at once; more wait in line,
   * first come first served. 0: no limit.
   */
  readonly heavyReadsAtOnce: number;
  readonly maintenance: {
    /** Days a call is kept after it started, for tenants without their own setting; 0: forever. */
    readonly retentionDays: number;
    /** A call still ringing or in progress this long after it started is ended as failed; 0: never. */
    readonly staleCallAfterMinutes: number;
    /** How often this instance sweeps (retention, stale calls); 0: this instance never does. */
    readonly sweepIntervalMs: number;
    /**
     * PostgreSQL: how often this instance folds the stats rollups' delta rows (reads sum every
     * pending one); 0: only at the end of each sweep.
     */
    readonly rollupCompactIntervalMs: number;
    /**
     * SQLite: how often calls written since the last round are added to the search index, in
     * batches (FTS5 costs far less per call in large commits). Searches never wait for it: each
     * indexes whatever is still pending before it reads.
     */
    readonly searchIndexIntervalMs: number;
    /**
     * SQLite: calls added to the search index per write transaction. Each holds the event loop
     * for its length (about 0.2 ms a call); smaller batches cost more per call (README).
     */
    readonly searchIndexBatch: number;
  };
  readonly metrics: {
    /**
     * Whether GET /metrics is served (and requests are counted for it): with METRICS_TOKEN set,
     * or in dev mode (loopback only, no authentication anyway). Otherwise /metrics is a 404, so
     * a server that requires credentials never exposes its figures to anyone unauthenticated.
     */
    readonly enabled: boolean;
    /** METRICS_TOKEN: when set, a scrape must send `Authorization: Bearer <token>`. */
    readonly token: string | undefined;
  };
  /** Provider adapters (modules/providers): Twilio, Vapi and Retell webhooks. */
  readonly providers: {
    /**
     * PUBLIC_BASE_URL: scheme://host[:port][/prefix] as providers reach this server (behind a
     * proxy, not what the server sees). Twilio signs the URL it called, so it is rebuilt from this.
     */
    readonly publicBaseUrl: string | undefined;
    /** Dev mode only: the local tenant's secrets (TWILIO_AUTH_TOKEN, VAPI_WEBHOOK_SECRET, RETELL_API_KEY). */
    readonly devSecrets: {
      readonly twilio: string | undefined;
      readonly vapi: string | undefined;
      readonly retell: string | undefined;
    };
  };
  readonly postgres: {
    /** Connections per server instance. */
    readonly poolMax: number;
    /** How long a request waits for a connection (or to connect) before a 503. */
    readonly connectTimeoutMs: number;
    /** Longest a statement may run before PostgreSQL cancels it (then a 503). */
    readonly statementTimeoutMs: number;
    /**
     * max_parallel_workers_per_gather for the server's connections. 0 by default: pages and
     * searches read a few dozen rows, and starting workers takes longer than that (a search with
     * a filter: 45 ms with workers, 5 ms without, at a million calls).
     */
    readonly parallelWorkers: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_SQLITE_FILE = path.join('data', 'callmind.db');
const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);

type Env = Record<string, string | undefined>;

/** Reads and checks every variable, then reports all problems at once rather than the first. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };

  const port = parseInteger(read('PORT'), 'PORT', 3001, 0, 65535, problems);
  const database = parseDatabaseUrl(read('DATABASE_URL'), problems);
  const logLevelRaw = read('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevelRaw as LogLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevelRaw}")`);
  }
  const bodyLimit = parseByteSize(read('BODY_LIMIT'), 'BODY_LIMIT', 1024 * 1024, problems);
  const nodeEnv = read('NODE_ENV') ?? 'development';
  const authRequiredFlag = parseFlag(read('AUTH_REQUIRED'), 'AUTH_REQUIRED', problems);
  // Keys are often pasted into one-line variables with literal \n for the PEM's line breaks.
  const clerkJwtKey = read('CLERK_JWT_KEY')?.replaceAll('\\n', '\n');
  if (clerkJwtKey !== undefined) {
    const problem = clerkKeyProblem(clerkJwtKey);
    if (problem !== undefined) problems.push(`CLERK_JWT_KEY ${problem}`);
  }
  const clerkSecretKey = read('CLERK_SECRET_KEY');
  if (clerkSecretKey !== undefined && !/^sk_(test|live)_/.test(clerkSecretKey)) {
    problems.push('CLERK_SECRET_KEY must be a Clerk secret key (sk_test_… or sk_live_…)');
  }
  const clerkIssuer = read('CLERK_ISSUER');
  if (clerkIssuer !== undefined && !/^https:\/\/\S+$/.test(clerkIssuer)) {
    problems.push('CLERK_ISSUER must be an https:// URL (your Clerk Frontend API URL)');
  }
  const authorizedParties = parseList(read('CLERK_AUTHORIZED_PARTIES'));
  const clerkPublishableKey = read('CLERK_PUBLISHABLE_KEY');
  const clerkFrontendApi =
    clerkPublishableKey === undefined ? undefined : frontendApiOf(clerkPublishableKey);
  if (clerkPublishableKey !== undefined && clerkFrontendApi === undefined) {
    problems.push(
      'CLERK_PUBLISHABLE_KEY must be a Clerk publishable key (pk_test_… or pk_live_…, as the Clerk dashboard shows it)',
    );
  }
  // Sessions the dashboard signs in must be checkable here, or every request would be refused.
  if (
    clerkPublishableKey !== undefined &&
    clerkJwtKey === undefined &&
    clerkSecretKey === undefined
  ) {
    problems.push(
      'CLERK_PUBLISHABLE_KEY needs CLERK_JWT_KEY or CLERK_SECRET_KEY, so that the server can verify the sessions the dashboard signs in',
    );
  }
  const corsOrigins = parseList(read('CORS_ORIGINS'));
  for (const origin of [...authorizedParties, ...corsOrigins]) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`"${origin}" is not an origin (scheme://host[:port], no path)`);
    }
  }
  const authRequired =
    nodeEnv === 'production' ||
    authRequiredFlag ||
    clerkJwtKey !== undefined ||
    clerkSecretKey !== undefined;
  // Dev mode has one local credential on a loopback address: no limit unless asked for. With
  // authentication on, 30,000 a minute (500/s) per credential absorbs a busy telephony backend.
  const rateLimitMax = parseInteger(
    read('RATE_LIMIT_MAX'),
    'RATE_LIMIT_MAX',
    authRequired ? 30_000 : 0,
    0,
    10_000_000,
    problems,
  );
  const authFailuresPerMinute = parseInteger(
    read('AUTH_FAILURES_PER_MINUTE'),
    'AUTH_FAILURES_PER_MINUTE',
    100,
    0,
    10_000_000,
    problems,
  );
  const rateLimitWindowMs = parseInteger(
    read('RATE_LIMIT_WINDOW_MS'),
    'RATE_LIMIT_WINDOW_MS',
    60_000,
    1000,
    86_400_000,
    problems,
  );
  const devMode = !authRequired;

  const host = read('HOST') ?? (devMode ? 'localhost' : '0.0.0.0');
  if (devMode && !LOOPBACK_HOSTS.has(host)) {
    problems.push(
      `HOST=${host} would expose dev mode (no authentication) beyond this machine; ` +
        'use a loopback host or turn authentication on (AUTH_REQUIRED=1)',
    );
  }

  const synchronousRaw = (read('SQLITE_SYNCHRONOUS') ?? 'full').toLowerCase();
  if (synchronousRaw !== 'full' && synchronousRaw !== 'normal') {
    problems.push(`SQLITE_SYNCHRONOUS must be "full" or "normal" (got "${synchronousRaw}")`);
  }
  const busyTimeoutMs = parseInteger(
    read('SQLITE_BUSY_TIMEOUT_MS'),
    'SQLITE_BUSY_TIMEOUT_MS',
    5000,
    0,
    600_000,
    problems,
  );
  const sqliteReaders = parseInteger(read('SQLITE_READERS'), 'SQLITE_READERS', 2, 0, 64, problems);
  const sqliteCacheMb = parseInteger(
    read('SQLITE_CACHE_MB'),
    'SQLITE_CACHE_MB',
    32,
    1,
    65_536,
    problems,
  );
  const sqliteWriteThreadRaw = read('SQLITE_WRITE_THREAD');
  const sqliteWriteThread =
    sqliteWriteThreadRaw === undefined ||
    parseFlag(sqliteWriteThreadRaw, 'SQLITE_WRITE_THREAD', problems);
  const sqliteWriteThreadCacheMb = parseInteger(
    read('SQLITE_WRITE_THREAD_CACHE_MB'),
    'SQLITE_WRITE_THREAD_CACHE_MB',
    8,
    1,
    65_536,
    problems,
  );
  const writeBatchMax = parseInteger(
    read('WRITE_BATCH_MAX'),
    'WRITE_BATCH_MAX',
    256,
    1,
    10_000,
    problems,
  );
  const heavyReadsAtOnce = parseInteger(
    read('HEAVY_READS_AT_ONCE'),
    'HEAVY_READS_AT_ONCE',
    8,
    0,
    10_000,
    problems,
  );

  const poolMax = parseInteger(
    read('DATABASE_POOL_MAX'),
    'DATABASE_POOL_MAX',
    10,
    1,
    1000,
    problems,
  );
  const connectTimeoutMs = parseInteger(
    read('DATABASE_CONNECT_TIMEOUT_MS'),
    'DATABASE_CONNECT_TIMEOUT_MS',
    3000,
    100,
    600_000,
    problems,
  );
  const statementTimeoutMs = parseInteger(
    read('DATABASE_STATEMENT_TIMEOUT_MS'),
    'DATABASE_STATEMENT_TIMEOUT_MS',
    15_000,
    100,
    3_600_000,
    problems,
  );

  const parallelWorkers = parseInteger(
    read('DATABASE_PARALLEL_WORKERS'),
    'DATABASE_PARALLEL_WORKERS',
    0,
    0,
    64,
    problems,
  );

  const retentionDays = parseInteger(
    read('RETENTION_DAYS'),
    'RETENTION_DAYS',
    0,
    0,
    36_500,
    problems,
  );
  const staleCallAfterMinutes = parseInteger(
    read('STALE_CALL_AFTER_MINUTES'),
    'STALE_CALL_AFTER_MINUTES',
    240,
    0,
    43_200,
    problems,
  );
  const sweepIntervalSeconds = parseInteger(
    read('SWEEP_INTERVAL_SECONDS'),
    'SWEEP_INTERVAL_SECONDS',
    60,
    0,
    86_400,
    problems,
  );
  const rollupCompactIntervalSeconds = parseInteger(
    read('ROLLUP_COMPACT_SECONDS'),
    'ROLLUP_COMPACT_SECONDS',
    5,
    0,
    86_400,
    problems,
  );

  const searchIndexIntervalMs = parseInteger(
    read('SEARCH_INDEX_INTERVAL_MS'),
    'SEARCH_INDEX_INTERVAL_MS',
    200,
    10,
    60_000,
    problems,
  );

  const searchIndexBatch = parseInteger(
    read('SEARCH_INDEX_BATCH'),
    'SEARCH_INDEX_BATCH',
    250,
    1,
    10_000,
    problems,
  );

  // Sent by a Prometheus scraper as a bearer token: header-safe characters, and long enough
  // that guessing it is hopeless (the endpoint has no failure throttle of its own).
  const metricsToken = read('METRICS_TOKEN');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,256}$/.test(metricsToken)) {
    problems.push(
      'METRICS_TOKEN must be 16 to 256 printable ASCII characters without spaces ' +
        '(e.g. the output of `openssl rand -hex 32`)',
    );
  }

  const providers = parseProviderSettings(read, authRequired, problems);

  if (problems.length > 0) throw new ConfigError(problems);

  return Object.freeze({
    port,
    host,
    database,
    logLevel: logLevelRaw as LogLevel,
    bodyLimit,
    nodeEnv,
    authRequired,
    devMode,
    maintenance: Object.freeze({
      retentionDays,
      staleCallAfterMinutes,
      sweepIntervalMs: sweepIntervalSeconds * 1000,
      rollupCompactIntervalMs: rollupCompactIntervalSeconds * 1000,
      searchIndexIntervalMs,
      searchIndexBatch,
    }),
    clerk: Object.freeze({
      jwtKey: clerkJwtKey,
      secretKey: clerkSecretKey,
      issuer: clerkIssuer,
      authorizedParties: Object.freeze(authorizedParties),
      publishableKey: clerkPublishableKey,
      frontendApi: clerkFrontendApi,
    }),
    corsOrigins: Object.freeze(corsOrigins),
    rateLimit: Object.freeze({
      max: rateLimitMax,
      windowMs: rateLimitWindowMs,
      authFailuresPerMinute,
    }),
    sqlite: Object.freeze({
      synchronous: synchronousRaw as SqliteSynchronous,
      busyTimeoutMs,
      readers: sqliteReaders,
      cacheMb: sqliteCacheMb,
      writeThread: sqliteWriteThread,
      writeThreadCacheMb: sqliteWriteThreadCacheMb,
    }),
    writeBatchMax,
    heavyReadsAtOnce,
    metrics: Object.freeze({ enabled: metricsToken !== undefined || devMode, token: metricsToken }),
    providers,
    postgres: Object.freeze({ poolMax, connectTimeoutMs, statementTimeoutMs, parallelWorkers }),
  });
}

/**
 * The provider adapters' settings. Each organization stores its own provider secrets (PUT
 * /api/settings/providers); the environment variables are the local tenant's, for dev mode only:
 * with authentication on, one process-wide secret would let any tenant's name through.
 */
function parseProviderSettings(
  read: (name: string) => string | undefined,
  authRequired: boolean,
  problems: string[],
): Config['providers'] {
  const publicBaseUrl = read('PUBLIC_BASE_URL');
  let base: string | undefined;
  if (publicBaseUrl !== undefined) {
    const url = URL.canParse(publicBaseUrl) ? new URL(publicBaseUrl) : undefined;
    if (
      url === undefined ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.search !== '' ||
      url.hash !== '' ||
      url.username !== '' ||
      url.password !== ''
    ) {
      problems.push(
        'PUBLIC_BASE_URL must be an http(s) URL without query or credentials, e.g. https://calls.example.com',
      );
    } else {
      // As written, not normalised: Twilio signs the URL exactly as it was configured there.
      base = publicBaseUrl.replace(/\/+$/, '');
    }
  }
  const secret = (name: string, pattern: RegExp, shape: string): string | undefined => {
    const value = read(name);
    if (value === undefined) return undefined;
    if (!pattern.test(value)) problems.push(`${name} must be ${shape}`);
    else if (authRequired) {
      problems.push(
        `${name} is only read in dev mode; with authentication on, each organization sets its ` +
          'own with PUT /api/settings/providers',
      );
    }
    return value;
  };
  const printable = '16 to 256 printable ASCII characters without spaces';
  return Object.freeze({
    publicBaseUrl: base,
    devSecrets: Object.freeze({
      twilio: secret(
        'TWILIO_AUTH_TOKEN',
        /^[0-9a-fA-F]{32}$/,
        'a Twilio auth token (32 hexadecimal characters)',
      ),
      vapi: secret('VAPI_WEBHOOK_SECRET', /^[\x21-\x7e]{16,256}$/, printable),
      retell: secret('RETELL_API_KEY', /^[\x21-\x7e]{16,256}$/, printable),
    }),
  });
}

function parseInteger(
  raw: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    problems.push(`${name} must be a whole number (got "${raw}")`);
    return fallback;
  }
  const value = Number(raw);
  if (value < min || value > max) {
    problems.push(`${name} must be between ${min} and ${max} (got ${value})`);
    return fallback;
  }
  return value;
}

/**
 * Clerk reads a PEM key by stripping a fixed 2048-bit RSA prefix and exponent, so any other key
 * would start fine and then refuse every session: refuse it at start instead.
 */
function clerkKeyProblem(pem: string): string | undefined {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    return 'must be a PEM public key (-----BEGIN PUBLIC KEY----- …)';
  }
  const details = key.asymmetricKeyDetails;
  if (
    key.asymmetricKeyType !== 'rsa' ||
    details?.modulusLength !== 2048 ||
    details.publicExponent !== 65537n
  ) {
    return 'must be a 2048-bit RSA public key with exponent 65537 (what Clerk issues)';
  }
  return undefined;
}

/**
 * A publishable key is `pk_test_` or `pk_live_` and the base64 of the instance's Frontend API
 * host followed by `$`: that host is where the dashboard's browser signs in.
 */
export function frontendApiOf(publishableKey: string): string | undefined {
  const match = /^pk_(?:test|live)_([A-Za-z0-9+/_-]+={0,2})$/.exec(publishableKey);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const host = /^([a-z0-9.-]+\.[a-z]{2,}(?::\d{1,5})?)\$$/i.exec(decoded)?.[1];
  return host === undefined ? undefined : `https://${host.toLowerCase()}`;
}

function parseList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function parseFlag(raw: string | undefined, name: string, problems: string[]): boolean {
  if (raw === undefined) return false;
  const value = raw.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  problems.push(`${name} must be 1 or 0 (got "${raw}")`);
  return false;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 * 1024 };

function parseByteSize(
  raw: string | undefined,
  name: string,
  fallback: number,
  problems: string[],
): number {
  if (raw === undefined) return fallback;
  const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(raw);
  if (!match) {
    problems.push(`${name} must be a size such as 1048576, 512kb or 4mb (got "${raw}")`);
    return fallback;
  }
  const value = Number(match[1]) * (BYTE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1);
  if (value < 1024 || value > 64 * 1024 * 1024) {
    problems.push(`${name} must be between 1kb and 64mb (got ${value} bytes)`);
    return fallback;
  }
  return value;
}

function parseDatabaseUrl(raw: string | undefined, problems: string[]): DatabaseTarget {
  if (raw === undefined) return { dialect: 'sqlite', file: DEFAULT_SQLITE_FILE };
  if (raw.startsWith('sqlite:') || raw.startsWith('file:')) {
    const file = raw.replace(/^(sqlite|file):(\/\/)?/, '');
    if (file === '') problems.push('DATABASE_URL names no SQLite file (expected sqlite:PATH)');
    return { dialect: 'sqlite', file };
  }
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) {
    return { dialect: 'postgres', url: raw };
  }
  problems.push('DATABASE_URL must start with sqlite:, file:, postgres:// or postgresql://');
  return { dialect: 'sqlite', file: DEFAULT_SQLITE_FILE };
}
