// The callmind CLI as an operator runs it: a real process over a real SQLite file, and the HTTP
// API over the same file afterwards.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { buildApp, type App } from '../../src/http/app.js';
import { createServices } from '../../src/services.js';
import { callStartBody, newAgentId, uniqueId } from '../factories.js';
import { CLI_ARGS, CLI_TIMEOUT_MS, cliEnv, runCli, type CliResult } from '../setup/cli-process.js';
import { REPO_ROOT } from '../setup/server-process.js';
import { createTestPostgresDatabase, makeTempDir, TEST_DIALECTS } from '../setup/test-app.js';

const parseJson = (result: CliResult): any => JSON.parse(result.stdout);

/** The HTTP app (dev mode) over the database file the CLI wrote, as the server would build it. */
async function withHttpApp<T>(
  databaseUrl: string,
  work: (app: App) => Promise<T>,
  env: Record<string, string> = { DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' },
): Promise<T> {
  const config = loadConfig(env);
  const database = openDatabase(config);
  const services = createServices({ config, database });
  const app = await buildApp({ config, services, logger: false });
  try {
    return await work(app);
  } finally {
    await app.close();
    await services.transactor.drain();
    await database.close();
  }
}

describe('callmind CLI', () => {
  const dirs: string[] = [];
  const newDatabaseUrl = (): string => {
    const dir = makeTempDir('callmind-cli-');
    dirs.push(dir);
    return `sqlite:${path.join(dir, 'callmind.db')}`;
  };

  let databaseUrl: string;
  let cli: (...args: string[]) => Promise<CliResult>;
  const createAgent = (name: string, id: string, ...options: string[]) =>
    cli('agents', 'create', '--name', name, '--id', id, ...options);
  beforeAll(() => {
    databaseUrl = newDatabaseUrl();
    cli = (...args) => runCli(cliEnv(databaseUrl), args);
  });
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('migrate', () => {
    it('applies the migrations to a new database, then reports it up to date', async () => {
      const env = cliEnv(newDatabaseUrl());
      const first = await runCli(env, ['migrate', '--json']);
      expect(first).toMatchObject({ code: 0, stderr: '' });
      const { applied } = parseJson(first);
      expect(applied.length).toBeGreaterThan(0);
      expect(applied.every((name: unknown) => typeof name === 'string')).toBe(true);

      const again = await runCli(env, ['migrate', '--json']);
      expect(again.code).toBe(0);
      expect(parseJson(again)).toEqual({ applied: [] });

      const human = await runCli(env, ['migrate']);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/is up to date\n$/);
    });

    it('names each migration it applies when not asked for JSON', async () => {
      const result = await runCli(cliEnv(newDatabaseUrl()), ['migrate']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^(applied \S+\n)+$/);
    });
  });

  describe.runIf(TEST_DIALECTS.includes('postgres'))('on PostgreSQL', () => {
    it('migrate applies every migration to an empty database, then reports it up to date', async () => {
      const { url, drop } = await createTestPostgresDatabase({ empty: true });
      try {
        const first = await runCli(cliEnv(url), ['migrate', '--json']);
        expect(first.code).toBe(0);
        expect(parseJson(first).applied.length).toBeGreaterThanOrEqual(3);
        const again = await runCli(cliEnv(url), ['migrate', '--json']);
        expect(parseJson(again)).toEqual({ applied: [] });
        const agent = await runCli(cliEnv(url), ['agents', 'create', '--name', 'On PG', '--json']);
        expect(agent.code).toBe(0);
      } finally {
        await drop();
      }
    });
  });

  describe('agents', () => {
    it('list on a database nobody has migrated yet migrates it and lists nothing', async () => {
      const result = await runCli(cliEnv(newDatabaseUrl()), ['agents', 'list', '--json']);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(parseJson(result)).toEqual({ data: [] });
    });

    it('create --json prints the agent with the given id; list --json shows it', async () => {
      const id = newAgentId();
      const created = await createAgent('Front desk', id, '--json');
      expect(created).toMatchObject({ code: 0, stderr: '' });
      const agent = parseJson(created);
      expect(agent).toMatchObject({ id, name: 'Front desk', userId: null, orgId: null });
      expect(Date.parse(agent.createdAt)).not.toBeNaN();

      const listed = await cli('agents', 'list', '--json');
      expect(listed.code).toBe(0);
      expect(parseJson(listed).data).toContainEqual(agent);
    });

    it('create without --id makes an agent_ + ULID id', async () => {
      const created = await cli('agents', 'create', '--name', 'Generated', '--json');
      expect(created.code).toBe(0);
      expect(parseJson(created).id).toMatch(/^agent_[0-9A-HJKMNP-TV-Z]{26}$/);
    });

    it('prints one readable line per agent without --json', async () => {
      const id = newAgentId();
      const created = await createAgent('Night shift', id);
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(
        new RegExp(`^created ${id} {2}"Night shift" {2}created \\S+\\n$`),
      );

      const listed = await cli('agents', 'list');
      expect(listed.stdout.split('\n')).toContainEqual(expect.stringMatching(`^${id} {2}`));
    });

    it('creating an id that exists fails with agent_exists and exit status 1', async () => {
      const id = newAgentId();
      expect((await createAgent('First', id)).code).toBe(0);
      const again = await createAgent('Second', id, '--json');
      expect(again.code).toBe(1);
      expect(again.stdout).toBe('');
      expect(again.stderr).toBe(`error: agent_exists: an agent with id ${id} already exists\n`);
    });

    it.each([
      ['an id calls could not name', { name: 'Spaces', id: 'agent with spaces' }],
      ['an empty name', { name: '' }],
    ])('refuses %s as POST /api/agents does: exit 1, the same field errors', async (_, body) => {
      const idArgs = 'id' in body ? ['--id', body.id] : [];
      const result = await cli('agents', 'create', '--name', body.name, ...idArgs);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: validation_failed: /);

      const http = await withHttpApp(databaseUrl, (app) =>
        app.inject({ method: 'POST', url: '/api/agents', payload: body }),
      );
      expect(http.statusCode).toBe(400);
      const { errors } = http.json<{ errors: Array<{ field: string; message: string }> }>();
      expect(errors.length).toBeGreaterThan(0);
      for (const { field, message } of errors) {
        expect(result.stderr).toContain(`${field}: ${message}`);
      }
    });

    it('--org scopes to that organisation: listed there, not in the dev tenant', async () => {
      const org = uniqueId('org_');
      const id = newAgentId();
      expect((await createAgent('Org agent', id, '--org', org)).code).toBe(0);

      const inOrg = parseJson(await cli('agents', 'list', '--org', org, '--json'));
      expect(inOrg.data).toEqual([expect.objectContaining({ id, orgId: org, userId: null })]);
      const inDevTenant = parseJson(await cli('agents', 'list', '--json'));
      expect(inDevTenant.data.map((a: { id: string }) => a.id)).not.toContain(id);
    });

    it('with authentication on, agents commands must name a tenant (the dev tenant is unreachable)', async () => {
      const env = cliEnv(databaseUrl, { AUTH_REQUIRED: '1' });
      const created = await runCli(env, [
        'agents',
        'create',
        '--name',
        'Lost',
        '--id',
        newAgentId(),
      ]);
      expect(created.code).toBe(1);
      expect(created.stderr).toMatch(/validation_failed: org: is required/);
      const listed = await runCli(env, ['agents', 'list']);
      expect(listed.code).toBe(1);
      const org = uniqueId('org_');
      const named = await runCli(env, [
        'agents',
        'create',
        '--name',
        'Found',
        '--org',
        org,
        '--json',
      ]);
      expect(named.code).toBe(0);
      expect(parseJson(named)).toMatchObject({ orgId: org });
    });

    it('--user scopes to that user; with --org too, the org is the tenant and the user the owner', async () => {
      const org = uniqueId('org_');
      const user = uniqueId('user_');
      const userAgent = newAgentId();
      const orgAgent = newAgentId();
      expect((await createAgent('Mine', userAgent, '--user', user)).code).toBe(0);
      expect((await createAgent('Ours', orgAgent, '--org', org, '--user', user)).code).toBe(0);

      const [asUser, asOrg] = await Promise.all([
        cli('agents', 'list', '--user', user, '--json'),
        cli('agents', 'list', '--org', org, '--json'),
      ]);
      expect(parseJson(asUser).data).toEqual([
        expect.objectContaining({ id: userAgent, userId: user, orgId: null }),
      ]);
      expect(parseJson(asOrg).data).toEqual([
        expect.objectContaining({ id: orgAgent, userId: user, orgId: org }),
      ]);
    });

    it('an agent the CLI creates is the one the HTTP API ingests calls for', async () => {
      const agentId = newAgentId();
      expect((await createAgent('Reception', agentId)).code).toBe(0);

      await withHttpApp(databaseUrl, async (app) => {
        const call = await app.inject({
          method: 'POST',
          url: '/api/call-history',
          payload: callStartBody({ agentId }),
        });
        expect(call.statusCode).toBe(201);
        expect(call.json()).toMatchObject({ agentId });

        // Dev mode would register an unknown agent with its id as its name; the CLI's name
        // proves the call found the agent the CLI wrote.
        const agent = await app.inject({ method: 'GET', url: `/api/agents/${agentId}` });
        expect(agent.statusCode).toBe(200);
        expect(agent.json()).toMatchObject({ id: agentId, name: 'Reception' });
      });
    });
  });

  describe('keys and webhook secrets', () => {
    it('keys create prints the secret once; list never shows it; revoke makes it fail', async () => {
      const org = uniqueId('org_');
      const created = await cli(
        'keys',
        'create',
        '--org',
        org,
        '--name',
        'Twilio',
        '--scopes',
        'calls:write',
        '--json',
      );
      expect(created.code).toBe(0);
      const key = parseJson(created);
      expect(key).toMatchObject({ name: 'Twilio', scopes: ['calls:write'], orgId: org });
      expect(key.key).toMatch(/^cm_sk_[0-9A-Za-z]{38}$/);
      const listed = await cli('keys', 'list', '--org', org, '--json');
      expect(parseJson(listed).data).toEqual([
        expect.objectContaining({ id: key.id, revokedAt: null }),
      ]);
      expect(listed.stdout).not.toContain(key.key);

      // The key works against the HTTP API with authentication on, until it is revoked.
      const authEnv = { DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', AUTH_REQUIRED: '1' };
      const status = async () =>
        withHttpApp(
          databaseUrl,
          async (app) => {
            const res = await app.inject({
              method: 'POST',
              url: '/api/webhooks/calls/completed',
              headers: { authorization: `Bearer ${key.key}` },
              payload: { callSid: uniqueId('CA-') },
            });
            return res.statusCode;
          },
          authEnv,
        );
      expect(await status()).toBe(201);
      expect((await cli('keys', 'revoke', key.id)).code).toBe(0);
      expect(await status()).toBe(401);
      expect((await cli('keys', 'revoke', 'key_unknown')).code).toBe(1);
      expect((await cli('keys', 'create', '--name', 'no org')).code).toBe(2);
      expect(
        (await cli('keys', 'create', '--org', org, '--name', 'x', '--scopes', 'calls:admin')).code,
      ).toBe(1);
    });

    it('webhook-secrets create prints a whsec_ secret; list shows the rotation', async () => {
      const org = uniqueId('org_');
      const first = parseJson(await cli('webhook-secrets', 'create', '--org', org, '--json'));
      expect(first.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const second = parseJson(
        await cli('webhook-secrets', 'create', '--org', org, '--overlap-hours', '2', '--json'),
      );
      const listed = parseJson(await cli('webhook-secrets', 'list', '--org', org, '--json'));
      expect(listed.data.map((s: { id: string }) => s.id)).toEqual([second.id, first.id]);
      expect(listed.data[0].expiresAt).toBeNull();
      expect(Date.parse(listed.data[1].expiresAt)).toBeGreaterThan(Date.now() + 3600_000);
      expect(JSON.stringify(listed)).not.toContain(first.secret);
    });
  });

  describe('export and import', () => {
    it('export --out writes NDJSON that import loads into another database, once', async () => {
      const id = newAgentId();
      expect((await createAgent('Moving', id)).code).toBe(0);
      const file = path.join(makeTempDir('callmind-cli-export-'), 'export.ndjson');
      const exported = await cli('export', '--out', file);
      expect(exported.code).toBe(0);
      expect(exported.stdout).toMatch(/^exported \d+ agents, \d+ calls, \d+ events/);
      expect(fs.readFileSync(file, 'utf8')).toContain(`"id":"${id}"`);

      const target = runCli.bind(null, cliEnv(newDatabaseUrl()));
      const first = parseJson(await target(['import', file, '--json']));
      expect(first.agents.imported).toBeGreaterThanOrEqual(1);
      const second = parseJson(await target(['import', file, '--json']));
      expect(second.agents).toEqual({ imported: 0, skipped: first.agents.imported });
      const listed = parseJson(await target(['agents', 'list', '--json']));
      expect(listed.data.map((a: { id: string }) => a.id)).toContain(id);
    });

    it('import of a missing file fails with status 1', async () => {
      const result = await cli('import', '/nonexistent/export.ndjson');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/ENOENT|no such file/);
    });
  });

  describe('usage and configuration errors', () => {
    it('an unknown command exits 2 and prints the usage on stderr', async () => {
      const result = await cli('frobnicate');
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^error: unknown command "frobnicate"\n/);
      expect(result.stderr).toContain('Usage: callmind <command>');
    });

    // Concurrent: each case is a process of its own and most of its time is node starting up.
    it.concurrent.for([
      { problem: 'no command', args: [] },
      { problem: 'agents without a subcommand', args: ['agents'] },
      { problem: 'an unknown agents subcommand', args: ['agents', 'delete'] },
      { problem: 'agents create without --name', args: ['agents', 'create'] },
      {
        problem: 'an unknown option',
        args: ['agents', 'create', '--name', 'x', '--colour', 'red'],
      },
      { problem: 'an option without its value', args: ['agents', 'create', '--name'] },
      { problem: 'an empty tenant', args: ['agents', 'list', '--org', ''] },
      { problem: 'a stray argument', args: ['migrate', 'now'] },
    ])('$problem is a usage error: exit 2 with the usage', async ({ args }, { expect }) => {
      const result = await cli(...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^error: /);
      expect(result.stderr).toContain('Usage: callmind <command>');
    });

    it('--help prints the usage on stdout and exits 0', async () => {
      const [top, sub] = await Promise.all([cli('--help'), cli('agents', 'create', '-h')]);
      for (const result of [top, sub]) {
        expect(result).toMatchObject({ code: 0, stderr: '' });
        expect(result.stdout).toContain('Usage: callmind <command>');
      }
    });

    it('an invalid configuration prints its problems and exits 2', async () => {
      const result = await runCli(cliEnv('mysql://localhost/callmind'), ['agents', 'list']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^Invalid configuration:\n {2}- DATABASE_URL must start with/);
    });
  });

  describe('serve', () => {
    it('starts the server, answers /readyz, and exits 0 on SIGTERM', async () => {
      const child = spawn(process.execPath, [...CLI_ARGS, 'serve'], {
        cwd: REPO_ROOT,
        env: cliEnv(newDatabaseUrl(), { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const killer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        const address = await new Promise<string>((resolve, reject) => {
          let output = '';
          const collect = (chunk: string) => {
            output += chunk;
            const match = /callmind listening on (http:\/\/[^"\s]+)/.exec(output);
            if (match) resolve(match[1]!);
          };
          child.stdout.setEncoding('utf8').on('data', collect);
          child.stderr.setEncoding('utf8').on('data', collect);
          child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${output}`)));
        });
        const ready = await fetch(`${address}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toEqual({ status: 'ready', database: 'sqlite' });

        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      } finally {
        clearTimeout(killer);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  });
});
