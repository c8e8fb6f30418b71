// SIGTERM: requests in flight get a drain period to finish, and the process exits within its
// 10 s grace period with code 0, even while a client holds an export open without reading it
// (its connection is closed once the drain period is over).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../setup/server-process.js';

const CALLS = 1500;
/** About 4.5 MB of NDJSON: more than the socket buffers hold, so the export must stall. */
const TRANSCRIPT = 'Agent: hello there, how can I help?\n'.repeat(85);

describe('graceful shutdown', () => {
  let dir: string;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-shutdown-'));
  });
  afterAll(async () => {
    if (server?.alive) await server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 within the grace period while a client stalls an export', async () => {
    server = await spawnServer({
      env: {
        DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
        LOG_LEVEL: 'warn',
        SWEEP_INTERVAL_SECONDS: '0',
      },
    });
    const base = server.baseUrl;
    for (let start = 0; start < CALLS; start += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const res = await fetch(`${base}/api/call-history`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              agentId: 'agent_shutdown',
              callSid: `CA-shutdown-${start + i}`,
              status: 'completed',
              transcript: TRANSCRIPT,
            }),
          });
          expect(res.status).toBe(201);
        }),
      );
    }

    // An export whose client reads nothing: the server's writes back up and the response stalls.
    const stalled = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', resolve));
    stalled.write('GET /api/call-history/export?format=ndjson HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    stalled.pause();
    const closed = new Promise<void>((resolve) => stalled.once('close', () => resolve()));
    stalled.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 500));

    const started = Date.now();
    const exit = server.stop(15_000);
    const exitInfo = await exit;
    const elapsed = Date.now() - started;
    stalled.resume();
    await closed;
    // 0, not a SIGKILL from stop() and not the forced exit(1) at 10 s.
    expect(exitInfo).toEqual({ code: 0, signal: null });
    expect(elapsed).toBeLessThan(10_000);
  }, 90_000);
});
