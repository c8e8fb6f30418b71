// Several server instances on one PostgreSQL database, as behind a load balancer: one record per
// callSid however the requests are spread, a write through one is read through the other, and
// dev mode's first-use agent registration is race-free across instances.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from '../setup/cli-process.js';
import { spawnServer, type ServerProcess } from '../setup/server-process.js';
import { callStartBody, completionBody, newAgentId, newCallSid } from '../factories.js';
import { openEventStream, type StreamEvent } from '../setup/sse.js';
import { createTestPostgresDatabase, makeTempDir, TEST_DIALECTS } from '../setup/test-app.js';

describe.runIf(TEST_DIALECTS.includes('postgres'))('two instances, one database (postgres)', () => {
  let servers: ServerProcess[] = [];
  let dropDatabase: () => Promise<void> = async () => {};
  let databaseUrl = '';

  beforeAll(async () => {
    const { url, drop } = await createTestPostgresDatabase();
    dropDatabase = drop;
    databaseUrl = url;
    // Both start (and run migrations) at the same moment, as a rolling deploy would.
    servers = await Promise.all(
      [0, 1].map(() => spawnServer({ env: { DATABASE_URL: url, LOG_LEVEL: 'warn' } })),
    );
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await dropDatabase();
  });

  const request = async (server: ServerProcess, method: string, path: string, body?: object) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('100 concurrent POSTs of one callSid over both instances make one record', async () => {
    const body = callStartBody({ agentId: newAgentId() });
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        request(servers[i % 2]!, 'POST', '/api/call-history', body),
      ),
    );
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(99);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    const list = await request(
      servers[1]!,
      'GET',
      `/api/call-history?agentId=${String(body.agentId)}`,
    );
    expect(list.body.data).toHaveLength(1);
  });

  it('a write through one instance is read through the other', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const created = await request(a, 'POST', '/api/call-history', callStartBody());
    const completed = await request(
      b,
      'PATCH',
      `/api/call-history/${created.body.id}/status`,
      completionBody(),
    );
    expect(completed.status).toBe(200);
    const read = await request(a, 'GET', `/api/call-history/${created.body.id}`);
    expect(read.body).toEqual(completed.body);
  });

  it('concurrent PATCHes through both instances lose no collectedData key', async () => {
    const created = await request(servers[0]!, 'POST', '/api/call-history', callStartBody());
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        request(servers[i % 2]!, 'PATCH', `/api/call-history/${created.body.id}/status`, {
          status: 'completed',
          collectedData: { [`k${i}`]: i },
        }),
      ),
    );
    const read = await request(servers[1]!, 'GET', `/api/call-history/${created.body.id}`);
    expect(Object.keys(read.body.collectedData)).toHaveLength(60);
  });

  it('dev mode registers a new agent once when both instances see it first', async () => {
    const agentId = newAgentId();
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        request(
          servers[i % 2]!,
          'POST',
          '/api/call-history',
          callStartBody({ agentId, callSid: newCallSid() }),
        ),
      ),
    );
    expect(responses.every((r) => r.status === 201)).toBe(true);
    const agents = await request(servers[0]!, 'GET', '/api/agents');
    expect(agents.body.data.filter((a: { id: string }) => a.id === agentId)).toHaveLength(1);
  });

  it('the instances compact the rollup deltas that writes leave, and stats agree', async () => {
    // Every write leaves delta rows in the stats rollups; the servers' compactors (every
    // ROLLUP_COMPACT_SECONDS, 5 by default) sum them into one row per group.
    const agentId = newAgentId();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(
          servers[i % 2]!,
          'POST',
          '/api/call-history',
          callStartBody({ agentId, callSid: newCallSid() }),
        ),
      ),
    );
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const pendingRows = async () =>
        Number(
          (await client.query('SELECT count(*) AS n FROM call_rollup_slots WHERE pending')).rows[0]
            .n,
        );
      const deadline = Date.now() + 20_000;
      while ((await pendingRows()) > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(await pendingRows()).toBe(0);
      const compacted = await client.query(
        'SELECT count(*) AS n FROM call_rollup_slots WHERE NOT pending',
      );
      expect(Number(compacted.rows[0].n)).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
    const stats = await request(servers[1]!, 'GET', `/api/call-history/stats?agentId=${agentId}`);
    expect(stats.body.total).toBe(20);
  });

  it("a live stream on one instance hears the other's writes, and catches up after losing LISTEN", async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const live = await openEventStream(`${a.baseUrl}/api/call-history/stream`);
    try {
      expect(live.status).toBe(200);
      await live.next((event) => event.event === 'ready');
      const isCall = (id: string, status: string) => (event: StreamEvent) =>
        event.event === 'call' &&
        (JSON.parse(event.data) as { id: string; status: string }).id === id &&
        (JSON.parse(event.data) as { status: string }).status === status;
      const created = await request(b, 'POST', '/api/call-history', callStartBody());
      const id = String(created.body.id);
      await live.next(isCall(id, 'in-progress'));
      await request(b, 'PATCH', `/api/call-history/${id}/status`, completionBody());
      await live.next(isCall(id, 'completed'));

      // The listening connection dies (a failover, an idle-connection reaper): what was sent
      // meanwhile is lost, so once the instance listens again its streams are told to refresh.
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        const killed = await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'callmind_listen' AND datname = current_database()`,
        );
        // Only instance A listens: an instance opens its LISTEN connection with its first stream.
        expect(killed.rowCount).toBe(1);
      } finally {
        await client.end();
      }
      await live.next((event) => event.event === 'refresh', 15_000);
      const later = await request(b, 'POST', '/api/call-history', callStartBody());
      await live.next(isCall(String(later.body.id), 'in-progress'));
    } finally {
      live.close();
    }
  });

  it("an import by the CLI (another process) reaches a running instance's live stream", async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const dir = makeTempDir('callmind-import-');
    const live = await openEventStream(`${a.baseUrl}/api/call-history/stream`);
    try {
      await live.next((event) => event.event === 'ready');
      // An export holding a call, and the call deleted: importing it brings it back.
      const created = await request(b, 'POST', '/api/call-history', callStartBody());
      const id = String(created.body.id);
      const file = path.join(dir, 'export.ndjson');
      expect((await runCli(cliEnv(databaseUrl), ['export', '--out', file])).code).toBe(0);
      const deleted = await fetch(`${b.baseUrl}/api/call-history/${id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      await live.next((event) => event.event === 'deleted' && event.data.includes(id));

      const imported = await runCli(cliEnv(databaseUrl), ['import', file, '--json']);
      expect(imported.code, imported.stderr).toBe(0);
      expect(JSON.parse(imported.stdout).calls.imported).toBeGreaterThanOrEqual(1);
      // The tenant's lists are told to read again, and find the call.
      await live.next((event) => event.event === 'refresh', 10_000);
      expect((await request(a, 'GET', `/api/call-history/${id}`)).status).toBe(200);
    } finally {
      live.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
