// How soon the dashboard shows its first calls on a million-call database, in a real browser
// (Debian's Chromium through playwright-core): the real server on the query bench's fixture,
// the app as `npm run build` makes it. Issue 6's target: first rows in under a second.
//
// Each run opens the calls page and notes, in the page itself, when the first row appeared
// (performance.now(), from the start of navigation). Cold runs use a fresh browser context (no
// cache); warm runs reuse one (the app's assets cached, as on a second visit). The floor, in
// the same run: the same page with a filter that matches nothing (a caller number no call
// has), so everything but reading the list: loading the app, its config, its first request.
//
//   BENCH_DIALECTS=sqlite,postgres BENCH_CALLS=1000000 BENCH_RUNS=10 npm run bench:dashboard
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import {
  buildDashboard,
  CHROMIUM_PATH,
  hasChromium,
  launchChromium,
} from '../test/setup/browser.js';
import { REPO_ROOT, spawnServer, type ServerProcess } from '../test/setup/server-process.js';
import { ensurePostgresFixture, ensureSqliteFixture, type Fixture } from './query/fixture.js';
import { summariseDurations, type Timing } from './query/timing.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const DIALECTS = (process.env.BENCH_DIALECTS ?? 'sqlite,postgres').split(',');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TARGET_MS = 1000;
const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

interface Row {
  readonly dialect: string;
  readonly case: string;
  readonly timing: Timing;
  readonly target?: string;
}

const rows: Row[] = [];

/** Milliseconds from navigation to the first `selector` in the page, as the page saw it. */
async function timeToFirst(
  context: BrowserContext,
  url: string,
  selector: string,
): Promise<number> {
  const page = await context.newPage();
  try {
    // Browser code, as text: it runs in the page, before the app, and notes the moment.
    await page.addInitScript({
      content: `(() => {
        const wanted = ${JSON.stringify(selector)};
        const seen = () => {
          if (document.querySelector(wanted) === null) return false;
          globalThis.firstSeenAt = performance.now();
          return true;
        };
        new MutationObserver((records, observer) => {
          if (seen()) observer.disconnect();
        }).observe(document, { childList: true, subtree: true });
      })();`,
    });
    await page.goto(url);
    await page.locator(selector).first().waitFor({ timeout: 30_000 });
    return await page.evaluate(
      () => (globalThis as unknown as { firstSeenAt: number }).firstSeenAt,
    );
  } finally {
    await page.close();
  }
}

async function measure(browser: Browser, fixture: Fixture, server: ServerProcess): Promise<void> {
  const list = `${server.baseUrl}/`;
  const floor = `${server.baseUrl}/?callerNumber=%2B19999999999`;
  const firstRow = 'tbody tr[data-call-id]';
  const emptyState = '.empty-state h2';
  const cold = async (url: string, selector: string) => {
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const context = await browser.newContext();
      try {
        times.push(await timeToFirst(context, url, selector));
      } finally {
        await context.close();
      }
    }
    return summariseDurations(times);
  };
  const warm = async (url: string, selector: string) => {
    const context = await browser.newContext();
    try {
      await timeToFirst(context, url, selector);
      const times: number[] = [];
      for (let run = 0; run < RUNS; run++) times.push(await timeToFirst(context, url, selector));
      return summariseDurations(times);
    } finally {
      await context.close();
    }
  };
  const add = (name: string, timing: Timing, judged: boolean) => {
    const target = judged
      ? `${timing.maxMs < TARGET_MS ? 'ok' : 'MISS'}: slowest ${timing.maxMs.toFixed(0)} ms < ${TARGET_MS} ms`
      : undefined;
    rows.push({ dialect: fixture.dialect, case: name, timing, ...(target ? { target } : {}) });
    console.log(
      `  ${fixture.dialect} | ${name}: p50 ${timing.p50Ms.toFixed(0)} ms, max ${timing.maxMs.toFixed(0)} ms${target ? ` (${target})` : ''}`,
    );
  };
  add('floor: the app, nothing to list (cold)', await cold(floor, emptyState), false);
  add('first rows of the calls page (cold)', await cold(list, firstRow), true);
  add('floor: the app, nothing to list (warm)', await warm(floor, emptyState), false);
  add('first rows of the calls page (warm)', await warm(list, firstRow), true);
}

async function main(): Promise<void> {
  if (!hasChromium()) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH} (apt-get install chromium)`);
  }
  console.log('building the dashboard (as npm run build does)');
  await buildDashboard();
  const browser = await launchChromium();
  try {
    for (const dialect of DIALECTS) {
      const fixture =
        dialect === 'postgres'
          ? await ensurePostgresFixture(CALLS, ADMIN_URL)
          : await ensureSqliteFixture(CALLS);
      const server = await spawnServer({
        env: {
          DATABASE_URL: fixture.databaseUrl,
          LOG_LEVEL: 'warn',
          SWEEP_INTERVAL_SECONDS: '0',
          RETENTION_DAYS: '0',
        },
      });
      console.log(`\n${dialect}: ${CALLS} calls, server pid ${server.pid}`);
      try {
        await measure(browser, fixture, server);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await browser.close();
  }
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(
    RESULTS_DIR,
    `dashboard-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  fs.writeFileSync(file, `${JSON.stringify({ calls: CALLS, runs: RUNS, rows }, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(REPO_ROOT, file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
