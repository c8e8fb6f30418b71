import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_SQLITE_FILE, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('defaults to dev mode on localhost:3001 with ./data/callmind.db, FULL sync and group commit', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3001,
      host: 'localhost',
      database: { dialect: 'sqlite', file: DEFAULT_SQLITE_FILE },
      logLevel: 'info',
      bodyLimit: 1024 * 1024,
      devMode: true,
      authRequired: false,
      sqlite: { synchronous: 'full', busyTimeoutMs: 5000 },
      writeBatchMax: 256,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['sqlite:./x.db', './x.db'],
    ['sqlite:///var/lib/callmind.db', '/var/lib/callmind.db'],
    ['file:data/other.db', 'data/other.db'],
  ])('DATABASE_URL=%s names the SQLite file %s', (url, file) => {
    expect(loadConfig({ DATABASE_URL: url }).database).toEqual({ dialect: 'sqlite', file });
  });

  it('accepts postgres URLs', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).database).toEqual({
      dialect: 'postgres',
      url: 'postgres://u@h/db',
    });
  });

  it('answers 8 searches and stats at once unless HEAVY_READS_AT_ONCE says otherwise (0: no limit)', () => {
    expect(loadConfig({}).heavyReadsAtOnce).toBe(8);
    expect(loadConfig({ HEAVY_READS_AT_ONCE: '0' }).heavyReadsAtOnce).toBe(0);
    expect(loadConfig({ HEAVY_READS_AT_ONCE: '32' }).heavyReadsAtOnce).toBe(32);
    for (const bad of ['-1', 'many', '1.5']) {
      expect(() => loadConfig({ HEAVY_READS_AT_ONCE: bad })).toThrow(/HEAVY_READS_AT_ONCE/);
    }
  });

  it('PostgreSQL starts no parallel workers unless DATABASE_PARALLEL_WORKERS says so', () => {
    expect(loadConfig({}).postgres.parallelWorkers).toBe(0);
    expect(loadConfig({ DATABASE_PARALLEL_WORKERS: '2' }).postgres.parallelWorkers).toBe(2);
    expect(() => loadConfig({ DATABASE_PARALLEL_WORKERS: '-1' })).toThrow(
      /DATABASE_PARALLEL_WORKERS/,
    );
  });

  it('SQLite indexes calls for search 250 per write transaction unless SEARCH_INDEX_BATCH says otherwise', () => {
    expect(loadConfig({}).maintenance.searchIndexBatch).toBe(250);
    expect(loadConfig({ SEARCH_INDEX_BATCH: '50' }).maintenance.searchIndexBatch).toBe(50);
    expect(() => loadConfig({ SEARCH_INDEX_BATCH: '0' })).toThrow(/SEARCH_INDEX_BATCH/);
  });

  it('SQLite indexes written calls for search every 200 ms unless SEARCH_INDEX_INTERVAL_MS says otherwise', () => {
    expect(loadConfig({}).maintenance.searchIndexIntervalMs).toBe(200);
    expect(loadConfig({ SEARCH_INDEX_INTERVAL_MS: '1000' }).maintenance.searchIndexIntervalMs).toBe(
      1000,
    );
    expect(() => loadConfig({ SEARCH_INDEX_INTERVAL_MS: '0' })).toThrow(/SEARCH_INDEX_INTERVAL_MS/);
  });

  it('SQLite writes on a writer thread with an 8 MiB cache unless SQLITE_WRITE_THREAD says otherwise', () => {
    expect(loadConfig({}).sqlite).toMatchObject({ writeThread: true, writeThreadCacheMb: 8 });
    expect(
      loadConfig({ SQLITE_WRITE_THREAD: 'off', SQLITE_WRITE_THREAD_CACHE_MB: '24' }).sqlite,
    ).toMatchObject({ writeThread: false, writeThreadCacheMb: 24 });
    expect(() => loadConfig({ SQLITE_WRITE_THREAD: 'maybe' })).toThrow(/SQLITE_WRITE_THREAD/);
    expect(() => loadConfig({ SQLITE_WRITE_THREAD_CACHE_MB: '0' })).toThrow(
      /SQLITE_WRITE_THREAD_CACHE_MB/,
    );
  });

  it('parses sizes and flags', () => {
    const config = loadConfig({
      BODY_LIMIT: '4mb',
      AUTH_REQUIRED: '1',
      SQLITE_SYNCHRONOUS: 'NORMAL',
    });
    expect(config.bodyLimit).toBe(4 * 1024 * 1024);
    expect(config.authRequired).toBe(true);
    expect(config.devMode).toBe(false);
    expect(config.host).toBe('0.0.0.0');
    expect(config.sqlite.synchronous).toBe('normal');
  });

  it('production requires authentication', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).devMode).toBe(false);
  });

  it('lists every bad variable at once', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        BODY_LIMIT: '1gb',
        DATABASE_URL: 'mysql://x',
        AUTH_REQUIRED: 'maybe',
        SQLITE_SYNCHRONOUS: 'off',
        WRITE_BATCH_MAX: '0',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'PORT',
      'LOG_LEVEL',
      'BODY_LIMIT',
      'DATABASE_URL',
      'AUTH_REQUIRED',
      'SQLITE_SYNCHRONOUS',
      'WRITE_BATCH_MAX',
    ]) {
      expect(problems).toContain(name);
    }
  });

  it('refuses a CLERK_JWT_KEY that Clerk could never verify with', () => {
    const rsa4096 = generateKeyPairSync('rsa', { modulusLength: 4096 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(() => loadConfig({ CLERK_JWT_KEY: rsa4096 })).toThrow(/2048-bit RSA/);
    expect(() => loadConfig({ CLERK_JWT_KEY: 'not a key' })).toThrow(/PEM public key/);
    const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const oneLine = rsa2048.trim().replaceAll('\n', '\\n');
    expect(loadConfig({ CLERK_JWT_KEY: oneLine }).clerk.jwtKey).toBe(rsa2048.trim());
    expect(loadConfig({ CLERK_JWT_KEY: rsa2048 }).authRequired).toBe(true);
  });

  it('reads the Frontend API from CLERK_PUBLISHABLE_KEY, and wants a way to verify its sessions', () => {
    const jwtKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const key = (host: string, kind = 'live') =>
      `pk_${kind}_${Buffer.from(`${host}$`).toString('base64')}`;
    const config = loadConfig({
      CLERK_PUBLISHABLE_KEY: key('clerk.example.com'),
      CLERK_JWT_KEY: jwtKey,
    });
    expect(config.clerk).toMatchObject({
      publishableKey: key('clerk.example.com'),
      frontendApi: 'https://clerk.example.com',
    });
    expect(config.devMode).toBe(false);
    expect(
      loadConfig({
        CLERK_PUBLISHABLE_KEY: key('happy-cat-12.clerk.accounts.dev', 'test'),
        CLERK_SECRET_KEY: 'sk_test_abc',
      }).clerk.frontendApi,
    ).toBe('https://happy-cat-12.clerk.accounts.dev');
    // Sessions signed in by the dashboard could not be checked: every request would be refused.
    expect(() => loadConfig({ CLERK_PUBLISHABLE_KEY: key('clerk.example.com') })).toThrow(
      /CLERK_PUBLISHABLE_KEY needs CLERK_JWT_KEY or CLERK_SECRET_KEY/,
    );
    for (const bad of [
      'sk_live_abc',
      'pk_live_',
      `pk_live_${Buffer.from('no-dollar.example.com').toString('base64')}`,
      'pk_prod_Y2xlcmsuZXhhbXBsZS5jb20k',
    ]) {
      expect(() => loadConfig({ CLERK_PUBLISHABLE_KEY: bad, CLERK_JWT_KEY: jwtKey }), bad).toThrow(
        /CLERK_PUBLISHABLE_KEY must be a Clerk publishable key/,
      );
    }
  });

  it('serves metrics with METRICS_TOKEN, or in dev mode; refuses a short or spaced token', () => {
    expect(loadConfig({}).metrics).toEqual({ enabled: true, token: undefined });
    expect(loadConfig({ AUTH_REQUIRED: '1' }).metrics).toEqual({
      enabled: false,
      token: undefined,
    });
    const token = 'a'.repeat(32);
    expect(loadConfig({ NODE_ENV: 'production', METRICS_TOKEN: token }).metrics).toEqual({
      enabled: true,
      token,
    });
    expect(loadConfig({ METRICS_TOKEN: token }).metrics.token).toBe(token);
    for (const bad of ['short', 'has a space in the middle', 'x'.repeat(257), 'é'.repeat(20)]) {
      expect(() => loadConfig({ METRICS_TOKEN: bad }), bad).toThrow(/METRICS_TOKEN must be/);
    }
  });

  it('refuses to expose dev mode beyond loopback', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/dev mode/);
    expect(loadConfig({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0', AUTH_REQUIRED: '1' }).host).toBe('0.0.0.0');
  });
});
