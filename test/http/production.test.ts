// In production the server refuses to start when nothing could ever authenticate.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/main.js';
import { createKey } from '../../src/cli/commands.js';
import { createTestClerk } from '../setup/clerk.js';
import { makeTempDir } from '../setup/test-app.js';

describe('production start (sqlite)', () => {
  const dir = makeTempDir();
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: `sqlite:${path.join(dir, 'prod.db')}`,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
  };
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it('refuses to start with neither a Clerk key nor an API key', async () => {
    await expect(startServer(loadConfig(env))).rejects.toThrow(/nothing could ever authenticate/);
  });

  it('starts once an API key exists, and then requires it', async () => {
    const { key } = await createKey(loadConfig(env), { org: 'org_prod', name: 'backend' });
    const server = await startServer(loadConfig(env));
    stops.push(() => server.close());
    const anonymous = await fetch(`${server.address}/api/call-history`);
    expect(anonymous.status).toBe(401);
    const withKey = await fetch(`${server.address}/api/call-history`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(withKey.status).toBe(200);
  });

  it('starts with a Clerk key configured', async () => {
    const clerk = createTestClerk();
    const server = await startServer(
      loadConfig({ ...env, DATABASE_URL: `sqlite:${path.join(dir, 'clerk.db')}`, ...clerk.env }),
    );
    stops.push(() => server.close());
    expect((await fetch(`${server.address}/readyz`)).status).toBe(200);
  });
});
