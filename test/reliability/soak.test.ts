// Soak, on both dialects: the real server under a steady load of whole call lifecycles (create,
// then complete with a 3 KB transcript) and list pages, at half the rate it managed flat out a
// moment before, for SOAK_SECONDS (10 in npm test; 600 in npm run test:reliability). Every
// answer must be a 2xx and, on SQLite, the WAL file must stay bounded. On a long run (5 minutes
// or more, windows of a tenth of it) the 99th percentile must not drift upward and memory must
// not grow by 10 % after warm-up: over a short run's windows of a second, noise decides both.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRequest } from '../setup/http-request.js';
import { spawnServer, type ServerProcess } from '../setup/server-process.js';
import { createTestPostgresDatabase, TEST_DIALECTS } from '../setup/test-app.js';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 10);
const LONG_RUN = SOAK_SECONDS >= 300;
const WINDOWS = 10;
const CONNECTIONS = 32;
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
const TRANSCRIPT = 'Agent: Thanks for calling, how can I help?\nCaller: My order is late.\n'.repeat(
  45,
);

interface Sample {
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
}

/** One request; a refused, reset or cut-off answer is status 0, never a throw. */
const send = (agent: http.Agent, baseUrl: string, method: string, url: string, body?: object) =>
  sendRequest(agent, baseUrl, method, url, body).then(
    (answer) => (answer.complete ? answer : { status: 0, text: 'answer cut off' }),
    (error: unknown) => ({ status: 0, text: String(error) }),
  );

let lifecycleNumber = 0;

/** A call's whole life: created, then completed; every tenth also reads a list page. */
async function lifecycle(agent: http.Agent, baseUrl: string): Promise<string | undefined> {
  const n = (lifecycleNumber += 1);
  const created = await send(agent, baseUrl, 'POST', '/api/call-history', {
    agentId: `agent_soak_${n % 5}`,
    callSid: `CA-soak-${process.pid}-${n}`,
    callerNumber: `+1555${String(n % 10_000_000).padStart(7, '0')}`,
    status: 'in-progress',
  });
  if (created.status !== 201) return `create answered ${created.status}: ${created.text}`;
  const { id } = JSON.parse(created.text) as { id: string };
  const completed = await send(agent, baseUrl, 'PATCH', `/api/call-history/${id}/status`, {
    status: 'completed',
    transcript: TRANSCRIPT,
    summary: 'The caller asked where the order was; it ships tomorrow.',
    sentiment: 'neutral',
    topics: ['orders', 'shipping'],
    collectedData: { orderId: `o-${n}` },
    cost: 0.12,
  });
  if (completed.status !== 200) return `complete answered ${completed.status}`;
  if (n % 10 === 0) {
    const page = await send(agent, baseUrl, 'GET', '/api/call-history?limit=50&status=completed');
    if (page.status !== 200) return `list answered ${page.status}`;
  }
  return undefined;
}

/** Lifecycles per second with CONNECTIONS clients as fast as answers come. */
async function flatOut(baseUrl: string, seconds: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const until = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < until) {
        const problem = await lifecycle(agent, baseUrl);
        if (problem !== undefined) throw new Error(problem);
        done += 1;
      }
    }),
  );
  agent.destroy();
  return done / seconds;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
};
const median = (values: number[]) => percentile(values, 50);

function residentKiB(pid: number): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : undefined;
}

describe.each(TEST_DIALECTS)('soak (%s)', (dialect) => {
  let dir: string;
  let server: ServerProcess | undefined;
  let dropDatabase: () => Promise<void> = async () => {};
  /** SQLite's WAL files: the calls' and the search index's (src/db/sqlite-search-file.ts). */
  let walFiles: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callmind-soak-'));
    let databaseUrl: string;
    if (dialect === 'sqlite') {
      databaseUrl = `sqlite:${path.join(dir, 'db.sqlite')}`;
      walFiles = ['db.sqlite-wal', 'db.sqlite-search-wal'].map((name) => path.join(dir, name));
    } else {
      const database = await createTestPostgresDatabase();
      databaseUrl = database.url;
      dropDatabase = database.drop;
    }
    server = await spawnServer({
      env: { DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', SWEEP_INTERVAL_SECONDS: '0' },
    });
  });
  afterAll(async () => {
    if (server?.alive) await server.kill();
    await dropDatabase();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    `${SOAK_SECONDS} s at half the flat-out rate: no error, WAL bounded${LONG_RUN ? ', p99 steady, memory flat' : ''}`,
    async () => {
      const baseUrl = server!.baseUrl;
      const pid = server!.pid;
      const maximum = await flatOut(baseUrl, 5);
      const rate = maximum / 2;

      // Open loop: a lifecycle starts every 1/rate s whether or not earlier ones have ended.
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
      const samples: Sample[] = [];
      const problems: string[] = [];
      const rss: Array<{ at: number; kib: number }> = [];
      const wal: number[] = [];
      const searchWal: number[] = [];
      const begun = Date.now();
      const monitor = setInterval(() => {
        const kib = residentKiB(pid);
        if (kib !== undefined) rss.push({ at: Date.now() - begun, kib });
        walFiles.forEach((file, index) => {
          if (fs.existsSync(file)) (index === 0 ? wal : searchWal).push(fs.statSync(file).size);
        });
      }, 1000);
      const running: Array<Promise<void>> = [];
      const total = Math.floor(SOAK_SECONDS * rate);
      for (let i = 0; i < total; i += 1) {
        const due = begun + (i * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        running.push(
          lifecycle(agent, baseUrl).then((problem) => {
            samples.push({ at: due - begun, ms: Date.now() - due, ok: problem === undefined });
            if (problem !== undefined && problems.length < 20) problems.push(problem);
          }),
        );
      }
      await Promise.all(running);
      clearInterval(monitor);
      agent.destroy();

      // Windows of the run: the first is warm-up.
      const windowMs = (SOAK_SECONDS * 1000) / WINDOWS;
      const windows = Array.from({ length: WINDOWS }, (_, w) =>
        samples.filter((s) => s.at >= w * windowMs && s.at < (w + 1) * windowMs).map((s) => s.ms),
      );
      const p99s = windows.map((window) => Math.round(percentile(window, 99)));
      const early = median(p99s.slice(1, 4));
      // The second half's median: a climb lifts every late window, a spike only one or two.
      const late = median(p99s.slice(WINDOWS / 2));
      const rssAfterWarmup = median(
        rss.filter((r) => r.at >= windowMs && r.at < 2 * windowMs).map((r) => r.kib),
      );
      const rssAtEnd = median(
        rss.slice(-Math.max(3, Math.floor(rss.length / 10))).map((r) => r.kib),
      );
      console.log(
        `${dialect}: flat out ${maximum.toFixed(0)} lifecycles/s; soaked at ${rate.toFixed(0)}/s ` +
          `for ${SOAK_SECONDS} s (${samples.length} lifecycles); p99 per window ${p99s.join(', ')} ms; ` +
          `RSS ${(rssAfterWarmup / 1024).toFixed(0)} → ${(rssAtEnd / 1024).toFixed(0)} MB ` +
          `(peak ${(Math.max(...rss.map((r) => r.kib)) / 1024).toFixed(0)} MB)` +
          (wal.length > 0 ? `; WAL at most ${(Math.max(...wal) / 1048576).toFixed(1)} MB` : '') +
          (searchWal.length > 0
            ? `, the search file's ${(Math.max(...searchWal) / 1048576).toFixed(1)} MB`
            : ''),
      );

      expect(problems).toEqual([]);
      expect(samples.length).toBe(total);
      if (LONG_RUN) {
        // Steady: the last windows' p99 has not climbed beyond noise over the early ones'. The
        // noise is wide on a 2-core VM: on 2026-12-05 PostgreSQL's windows went 37, 27, 41, 25,
        // 83, 203, 81, 59, 40, 140 ms with no trend (a checkpoint's writes, other processes), so
        // early 27 against late 59 failed the first bound here (1.5 × early + 10 ms). What this
        // exists to catch is a climb like the one before the compactor analyzed tables: 22 ms
        // to 10.8 s. Twice the early p99 plus 40 ms still catches that by far. On 2026-12-06
        // the windows went 36, 75, 35, 33, 144, 34, 30, 127, 220, 26 ms: the last three's median
        // (127) failed against 35 although the last window was the lowest of all, so the late
        // figure is the median of the second half (34 there, 81 in the run above).
        expect(late).toBeLessThanOrEqual(early * 2 + 40);
        expect(rssAtEnd).toBeLessThan(rssAfterWarmup * 1.1);
      }
      if (walFiles.length > 0) {
        expect(Math.max(...wal)).toBeLessThan(WAL_LIMIT_BYTES);
        expect(Math.max(...searchWal)).toBeLessThan(WAL_LIMIT_BYTES);
      }
    },
    (SOAK_SECONDS + 120) * 1000,
  );
});
