// The dashboard in a real browser (Debian's Chromium driven by playwright-core), against the
// real server on both dialects: calls ingested through the API appear, filter, search, open
// with their transcript and player, arrive live, and export as the rows shown. Screenshots of
// every page go to test-results/screenshots. Runs whenever Chromium is present; CI installs it
// and sets REQUIRE_BROWSER_TESTS=1, so there a missing browser fails instead of skipping.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callStartBody, completionBody, newCallSid, uniqueId } from '../factories.js';
import { buildDashboard, CHROMIUM_PATH, hasChromium, launchChromium } from '../setup/browser.js';
import { createTestClerk, type TestClerk } from '../setup/clerk.js';
import {
  fakeClerkFrontendApi,
  FRONTEND_API_HOST,
  TEST_PUBLISHABLE_KEY,
  type FakeUser,
} from '../setup/clerk-frontend.js';
import { parseCsv } from '../setup/csv.js';
import { createTestApp, makeTempDir, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

/** What completionBody() says a call cost, and how the dashboard writes a sum of dollars. */
const COMPLETION_COST = Number(completionBody().cost);
const formatUsd = (dollars: number) =>
  new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: 2,
    maximumFractionDigits: 4,
  }).format(dollars);
const HAS_BROWSER = hasChromium();
const SCREENSHOTS = path.resolve('test-results/screenshots');
const AXE_SOURCE = fs.readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

if (process.env.REQUIRE_BROWSER_TESTS === '1' && !HAS_BROWSER) {
  throw new Error(`REQUIRE_BROWSER_TESTS=1 but there is no Chromium at ${CHROMIUM_PATH}`);
}

let webRoot = '';
let browser: Browser | undefined;

beforeAll(async () => {
  if (!HAS_BROWSER) return;
  // Built here, so the test always runs the app as it is now, not an older dist/web.
  webRoot = makeTempDir('callmind-web-build-');
  await buildDashboard(webRoot);
  browser = await launchChromium();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (webRoot !== '') fs.rmSync(webRoot, { recursive: true, force: true });
});

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({
    path: path.join(SCREENSHOTS, `${name}.png`),
    fullPage: true,
  });
}

/**
 * How long the live stream is held back, and when (after the page asked for it) the test makes
 * its change. Held 800 ms, a change at 300 ms is missed by a read the page made at once, and the
 * stream, once open, does not tell of it: the page must read after the stream listens. Held
 * 2 s, the page reads anyway at 1 s (it cannot wait forever), so a change at 1.4 s is missed
 * by that read: the stream, listening at last, must have the page read again.
 */
const STREAM_HOLDS = [
  { holdMs: 800, changeAtMs: 300 },
  { holdMs: 2_000, changeAtMs: 1_400 },
] as const;

/** Opens `url` with the page's live stream held back, and returns when the change is due. */
async function openWithStreamHeldBack(
  page: Page,
  url: string,
  { holdMs, changeAtMs }: (typeof STREAM_HOLDS)[number],
): Promise<void> {
  let streamAsked: () => void = () => {};
  const streamAskedFor = new Promise<void>((resolve) => (streamAsked = resolve));
  await page.route('**/api/call-history/stream', async (route) => {
    streamAsked();
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    await route.continue();
  });
  await page.goto(url);
  await streamAskedFor;
  await new Promise((resolve) => setTimeout(resolve, changeAtMs));
}

/** Serious or critical accessibility violations on the page as it is now (axe-core). */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run: () => Promise<{
            violations: Array<{ id: string; impact: string; nodes: unknown[] }>;
          }>;
        };
      }
    ).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}, ${v.nodes.length} nodes)`);
}

describe.runIf(HAS_BROWSER)('the built app', () => {
  it('loads under 350 kB of gzipped JavaScript, all from the server', () => {
    const html = fs.readFileSync(path.join(webRoot, 'index.html'), 'utf8');
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
    const preloads = [...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map(
      (m) => m[1]!,
    );
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of [...scripts, ...preloads]) expect(src.startsWith('/assets/')).toBe(true);
    const gzipped = [...scripts, ...preloads].reduce(
      (sum, src) => sum + gzipSync(fs.readFileSync(path.join(webRoot, src))).length,
      0,
    );
    console.log(`first-load JavaScript: ${(gzipped / 1024).toFixed(1)} kB gzipped`);
    expect(gzipped).toBeLessThan(350 * 1024);
  });
});

describe.runIf(HAS_BROWSER).each(TEST_DIALECTS)('the dashboard in Chromium (%s)', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  const marker = uniqueId('zebra').replace(/[^a-z0-9]/gi, '');
  const agentId = `agent_e2e_${dialect}`;

  const post = async (body: Record<string, unknown>) => {
    const res = await fetch(`${baseUrl}/api/call-history`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string };
  };

  const shoot = (page: Page, name: string) => screenshot(page, `${dialect}-${name}`);

  beforeAll(async () => {
    t = await createTestApp(dialect, { webRoot });
    baseUrl = await t.listen();
    // Calls of several kinds, one of them with words to search for.
    const startedAt = Date.now() - 3_600_000;
    for (let i = 0; i < 6; i++) {
      const created = await post({
        ...callStartBody({ agentId, callSid: newCallSid(), userId: undefined }),
        callerName: `Caller ${i}`,
        startedAt: new Date(startedAt + i * 60_000).toISOString(),
      });
      if (i % 2 === 0) {
        await fetch(`${baseUrl}/api/call-history/${created.id}/status`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(
            completionBody({
              transcript:
                i === 4
                  ? `Agent: Hello, how can I help?\nCaller: My ${marker} order never arrived.\nAgent: I will resend the ${marker} today.`
                  : 'Agent: Hello.\nCaller: Just checking in.',
              recordingUrl: 'https://recordings.example.com/call.mp3',
              summary: i === 4 ? `Lost ${marker} order, resent` : 'Routine check-in',
            }),
          ),
        });
      }
    }
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('lists, filters, searches, opens a call, shows a new one live, and exports what it shows', async () => {
    const context = await browser!.newContext({
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    try {
      await page.goto(`${baseUrl}/`);
      await expect.poll(() => page.locator('tbody tr[data-call-id]').count()).toBe(6);
      await expect.poll(() => page.locator('.live-status').textContent()).toContain('Live');
      expect(await page.locator('.dev-banner').textContent()).toContain('Dev mode');
      await shoot(page, 'calls');

      // Filter by status: the URL carries the API's name for it, and the rows follow.
      await page.getByLabel('Status').selectOption('completed');
      await expect.poll(() => page.url()).toContain('status=completed');
      await expect.poll(() => page.locator('tbody tr[data-call-id]').count()).toBe(3);
      await shoot(page, 'calls-filtered');

      // Search: the match is highlighted under its row.
      await page.getByRole('searchbox', { name: /search transcripts/i }).fill(marker);
      await page.getByRole('button', { name: 'Search' }).click();
      await expect.poll(() => page.url()).toContain(`q=${marker}`);
      await expect.poll(() => page.locator('tbody tr[data-call-id]').count()).toBe(1);
      expect((await page.locator('mark').first().textContent())?.toLowerCase()).toBe(
        marker.toLowerCase(),
      );
      await shoot(page, 'calls-search');

      // Open it: the facts, the player, the transcript as turns with the term highlighted.
      await page.locator('tbody tr[data-call-id] a').first().click();
      await expect.poll(() => page.url()).toMatch(/\/calls\/call_/);
      await page.getByRole('heading', { name: 'Transcript' }).waitFor();
      expect(await page.locator('audio').getAttribute('src')).toBe(
        'https://recordings.example.com/call.mp3',
      );
      expect(await page.locator('.turn.agent').count()).toBe(2);
      expect(await page.locator('.turn.caller').count()).toBe(1);
      await expect.poll(() => page.locator('.conversation mark').count()).toBe(2);
      expect(await page.getByRole('heading', { name: 'Timeline' }).count()).toBe(1);
      await shoot(page, 'call');
      expect(await seriousViolations(page)).toEqual([]);

      // Back to every call: a new one appears live, without a reload, within 2 s.
      await page.goto(`${baseUrl}/`);
      await expect.poll(() => page.locator('.live-status').textContent()).toContain('Live');
      const live = await post({
        ...callStartBody({ agentId, callSid: newCallSid(), userId: undefined }),
        callerName: 'Live Caller',
      });
      const liveRow = page.locator(`tr[data-call-id="${live.id}"]`);
      await liveRow.waitFor({ timeout: 2_000 });
      expect(await liveRow.textContent()).toContain('In progress');
      // Its duration ticks while it goes on.
      const durationCell = liveRow.locator('td[data-label="Duration"]');
      const firstReading = await durationCell.textContent();
      await expect
        .poll(() => durationCell.textContent(), { timeout: 3_000 })
        .not.toBe(firstReading);
      // And it ends on screen when its end arrives, without a reload.
      await fetch(`${baseUrl}/api/call-history/${live.id}/status`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'failed' }),
      });
      await expect.poll(() => liveRow.textContent(), { timeout: 2_000 }).toContain('Failed');
      // Ended: the server worked its duration out from its start and end; it no longer ticks.
      const ended = await durationCell.textContent();
      await page.waitForTimeout(1_500);
      expect(await durationCell.textContent()).toBe(ended);
      expect(await seriousViolations(page)).toEqual([]);
      await shoot(page, 'calls-live');

      // Export: the file holds exactly the rows shown for the filter.
      await page.getByLabel('Status').selectOption('completed');
      await expect.poll(() => page.locator('tbody tr[data-call-id]').count()).toBe(3);
      const shown = await page
        .locator('tbody tr[data-call-id]')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-call-id')));
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export CSV' }).click(),
      ]);
      const file = await download.path();
      const [header, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
      expect(header![0]).toBe('id');
      expect(rows.map((row) => row[0])).toEqual(shown);

      // A phone-sized screen: the same page, still usable.
      await page.setViewportSize({ width: 390, height: 844 });
      await shoot(page, 'calls-phone');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('shows analytics of the calls: per day by status, sentiment, durations, cost, agents', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await page.goto(`${baseUrl}/analytics`);
      // The range is written into the URL, so the view can be shared.
      await expect.poll(() => page.url()).toMatch(/from=.*to=.*bucket=day/);
      await page.getByRole('heading', { name: 'Calls per day, by status' }).waitFor();
      const tile = (label: string) =>
        page.locator('.tile', { hasText: label }).locator('.tile-value').textContent();
      // Six calls ingested by the first test, and the one that arrived live.
      expect(await tile('Calls')).toBe('7');
      expect(await tile('Cost')).toBe(formatUsd(3 * COMPLETION_COST));
      for (const name of ['Sentiment', 'How long calls last', 'Cost per day', 'Calls per agent']) {
        expect(await page.getByRole('heading', { name }).count(), name).toBe(1);
      }
      // Three completed calls of the same duration, and the live one that failed seconds in.
      expect(await page.locator('.bars .bar-value').allTextContents()).toEqual(['1', '3']);
      const agentRow = page.locator('tr', { hasText: agentId });
      expect(await agentRow.locator('td').nth(1).textContent()).toBe('7');
      expect(await seriousViolations(page)).toEqual([]);
      await shoot(page, 'analytics');

      // The same filters as the list: only completed calls.
      await page.getByLabel('Status').selectOption('completed');
      await expect.poll(() => tile('Calls')).toBe('3');
      expect(page.url()).toContain('bucket=day');
    } finally {
      await context.close();
    }
  });

  it('works by keyboard: skip link, search, and opening a call', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${baseUrl}/`);
      await page.locator('tbody tr[data-call-id]').first().waitFor();
      await page.keyboard.press('Tab');
      expect(
        await page.evaluate(() => (globalThis as any).document.activeElement.textContent),
      ).toBe('Skip to content');
      await page.keyboard.press('Enter');
      expect(await page.evaluate(() => (globalThis as any).document.activeElement.id)).toBe('main');
      // Tab from the main region reaches the search box; Enter searches.
      for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        if (
          await page.evaluate(
            () => (globalThis as any).document.activeElement.id === 'search-calls',
          )
        )
          break;
      }
      await page.keyboard.type(marker);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.locator('tbody tr[data-call-id]').count()).toBe(1);
      // The call opens from its link with Enter.
      await page.locator('tbody tr[data-call-id] a').first().focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Transcript' }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('says what to do when a call does not exist or the filters match nothing', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${baseUrl}/calls/call_01ARZ3NDEKTSV4RRFFQ69G5FAV`);
      await page.getByRole('heading', { name: 'No such call' }).waitFor();
      await shoot(page, 'call-missing');
      await page.goto(`${baseUrl}/?agentId=agent_nobody`);
      await page.getByRole('heading', { name: 'No calls match these filters' }).waitFor();
      await shoot(page, 'calls-empty');
      expect(await seriousViolations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('adds an agent, and makes, shows once and revokes an API key', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
    try {
      const agentName = `Support line ${dialect}`;
      await page.goto(`${baseUrl}/agents`);
      await page.getByRole('heading', { name: 'Agents', level: 1 }).waitFor();
      await page.getByLabel('Name').fill(agentName);
      await page.getByLabel('Id (optional)').fill(`agent_support_${dialect}`);
      await page.getByRole('button', { name: 'Add agent' }).click();
      await page.getByRole('cell', { name: agentName }).waitFor();
      await shoot(page, 'agents');
      expect(await seriousViolations(page)).toEqual([]);

      await page.getByRole('link', { name: 'API keys' }).click();
      await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
      await page.getByLabel('Name').fill('Production voice agent');
      await page.getByRole('button', { name: 'Make key' }).click();
      const secret = page.getByLabel('The new API key');
      await secret.waitFor();
      const key = await secret.inputValue();
      expect(key).toMatch(/^cm_sk_/);
      const row = page.locator('tr[data-key-id]', { hasText: 'Production voice agent' });
      await row.waitFor();
      // The list shows a prefix of the key, never the key.
      expect(await page.locator('table').textContent()).not.toContain(key);
      await shoot(page, 'api-keys');
      expect(await seriousViolations(page)).toEqual([]);
      await page.getByRole('button', { name: 'Done' }).click();
      expect(await page.getByLabel('The new API key').count()).toBe(0);
      await row.getByRole('button', { name: /Revoke/ }).click();
      await row.getByText(/^Revoked/).waitFor();
    } finally {
      await context.close();
    }
  });

  it('drops a call deleted elsewhere from the list and its count, live', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${baseUrl}/`);
      await expect.poll(() => page.locator('.live-status').textContent()).toContain('Live');
      const countText = () => page.locator('.count').textContent();
      const before = await countText();
      const doomed = await post({
        ...callStartBody({ agentId, callSid: newCallSid(), userId: undefined }),
        callerName: 'Soon Gone',
      });
      const row = page.locator(`tr[data-call-id="${doomed.id}"]`);
      await row.waitFor({ timeout: 2_000 });
      expect(await countText()).not.toBe(before);
      await fetch(`${baseUrl}/api/call-history/${doomed.id}`, { method: 'DELETE' });
      await row.waitFor({ state: 'detached', timeout: 2_000 });
      expect(await countText()).toBe(before);
    } finally {
      await context.close();
    }
  });

  it.each(STREAM_HOLDS)(
    'misses no call made while the page opens (the stream held $holdMs ms, the call made at $changeAtMs)',
    async (hold) => {
      const context = await browser!.newContext();
      const page = await context.newPage();
      try {
        // A call made while the stream opens: read at once, the list would not hold it.
        await openWithStreamHeldBack(page, `${baseUrl}/`, hold);
        const during = await post({
          ...callStartBody({ agentId, callSid: newCallSid(), userId: undefined }),
          callerName: 'Made While Opening',
        });
        await page.locator(`tr[data-call-id="${during.id}"]`).waitFor({ timeout: 3_000 });
        await expect.poll(() => page.locator('.live-status').textContent()).toContain('Live');
      } finally {
        await context.close();
      }
    },
  );

  it.each(STREAM_HOLDS)(
    'misses no change made while a call opens (the stream held $holdMs ms, the call ended at $changeAtMs)',
    async (hold) => {
      const started = await post({
        ...callStartBody({ agentId, callSid: newCallSid(), userId: undefined }),
        callerName: 'Ended While Opening',
      });
      const context = await browser!.newContext();
      const page = await context.newPage();
      try {
        // The call ends while the stream opens: read at once, the page would show it in progress.
        await openWithStreamHeldBack(page, `${baseUrl}/calls/${started.id}`, hold);
        const ended = await fetch(`${baseUrl}/api/call-history/${started.id}/status`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(completionBody()),
        });
        expect(ended.status).toBe(200);
        await page.locator('.badge.status-completed').first().waitFor({ timeout: 3_000 });
      } finally {
        await context.close();
      }
    },
  );
});

describe.runIf(HAS_BROWSER).each(TEST_DIALECTS)('signing in to the dashboard (%s)', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  let key: string;

  beforeAll(async () => {
    t = await createTestApp(dialect, { webRoot, env: { AUTH_REQUIRED: '1' } });
    baseUrl = await t.listen();
    const org = uniqueId('org_');
    key = (
      await t.services.apiKeys.createForOperator(
        { tenantId: org, orgId: org, userId: null, createdBy: null },
        'dashboard',
        ['calls:read'],
      )
    ).key;
  });
  afterAll(async () => {
    await t?.close();
  });
  const shoot = (page: Page, name: string) => screenshot(page, `${dialect}-${name}`);

  it('asks for an API key, refuses a wrong one, keeps a right one for the tab, and signs out', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${baseUrl}/`);
      await page.getByRole('heading', { name: 'Sign in to Callmind' }).waitFor();
      expect(await page.locator('.dev-banner').count()).toBe(0);
      expect(await seriousViolations(page)).toEqual([]);
      await page.getByLabel('API key').fill('cm_sk_not_a_real_key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page
        .getByRole('alert')
        .getByText(/not accepted/)
        .waitFor();
      await shoot(page, 'sign-in-refused');

      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'No calls yet' }).waitFor();
      // Kept for this tab only: a reload stays signed in.
      await page.reload();
      await page.getByRole('heading', { name: 'No calls yet' }).waitFor();
      expect(
        await page.evaluate(
          () => (globalThis as unknown as { localStorage: { length: number } }).localStorage.length,
        ),
      ).toBe(0);
      await shoot(page, 'signed-in');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to Callmind' }).waitFor();
    } finally {
      await context.close();
    }
  });
});

describe.runIf(HAS_BROWSER).each(TEST_DIALECTS)('Clerk sign-in in Chromium (%s)', (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  let clerk: TestClerk;
  const suffix = uniqueId('').replace(/[^a-z0-9]/gi, '');
  const ada: FakeUser = {
    userId: `user_ada_${suffix}`,
    email: 'ada@example.com',
    firstName: 'Ada',
    organizations: [
      { id: `org_acme_${suffix}`, name: 'Acme' },
      { id: `org_globex_${suffix}`, name: 'Globex' },
    ],
  };
  const [acme, globex] = ada.organizations as [
    FakeUser['organizations'][0],
    FakeUser['organizations'][0],
  ];

  /** A request by a backend signed in to `orgId` with Clerk. */
  const send = async (orgId: string, path: string, body: Record<string, unknown>) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${clerk.session({ userId: ada.userId, orgId })}`,
      },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  };
  const ingest = (orgId: string, callerName: string) =>
    send(
      orgId,
      '/api/call-history',
      callStartBody({ callerName, agentId: 'agent_clerk', userId: ada.userId }),
    );

  beforeAll(async () => {
    clerk = createTestClerk();
    t = await createTestApp(dialect, {
      webRoot,
      env: { ...clerk.env, CLERK_PUBLISHABLE_KEY: TEST_PUBLISHABLE_KEY },
    });
    baseUrl = await t.listen();
    for (const org of ada.organizations) {
      await send(org.id, '/api/agents', { id: 'agent_clerk', name: `${org.name} line` });
    }
    await ingest(acme.id, 'Acme Caller');
    await ingest(globex.id, 'Globex Caller');
  });
  afterAll(async () => {
    await t?.close();
  });
  const shoot = (page: Page, name: string) => screenshot(page, `${dialect}-${name}`);

  it("signed out, shows Clerk's sign-in (its bundled SDK, no CDN) and reads no call", async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const apiCalls: string[] = [];
    const elsewhere: string[] = [];
    const scripts = new Set<string>();
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/api/')) apiCalls.push(url.pathname);
      if (url.origin !== baseUrl && url.host !== FRONTEND_API_HOST) elsewhere.push(url.href);
      if (url.pathname.startsWith('/assets/') && url.pathname.endsWith('.js')) {
        scripts.add(url.pathname);
      }
    });
    try {
      const fake = await fakeClerkFrontendApi(page, clerk, null);
      await page.goto(`${baseUrl}/`);
      await page.getByLabel('Email address').waitFor();
      await page.getByRole('heading', { name: /Sign in to Callmind/ }).waitFor();
      // Not the API-key form, and no dev-mode banner.
      expect(await page.locator('#api-key').count()).toBe(0);
      expect(await page.locator('.dev-banner').count()).toBe(0);
      expect(fake.requests).toContain('GET /v1/client');
      expect(apiCalls).toEqual([]);
      // Clerk's code came from this server; only its Frontend API was called beside it.
      expect(elsewhere).toEqual([]);
      expect(await seriousViolations(page)).toEqual([]);
      await shoot(page, 'clerk-sign-in');
      // Clerk's SDK and components weigh more than the whole app; they load only with Clerk.
      const gzipped = [...scripts].reduce(
        (sum, src) => sum + gzipSync(fs.readFileSync(path.join(webRoot, src))).length,
        0,
      );
      console.log(`JavaScript for Clerk's sign-in page: ${(gzipped / 1024).toFixed(1)} kB gzipped`);
    } finally {
      await context.close();
    }
  });

  it("signed in, lists the active organization's calls with Clerk's tokens, live, and another's after switching", async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    const bearers = new Set<string>();
    page.on('request', (request) => {
      const authorization = request.headers()['authorization'];
      if (new URL(request.url()).pathname.startsWith('/api/') && authorization !== undefined) {
        bearers.add(authorization.replace(/^Bearer /, ''));
      }
    });
    try {
      const fake = await fakeClerkFrontendApi(page, clerk, ada);
      await page.goto(`${baseUrl}/`);
      const rows = page.locator('tbody tr');
      await rows.filter({ hasText: 'Acme Caller' }).first().waitFor();
      expect(await rows.filter({ hasText: 'Globex Caller' }).count()).toBe(0);
      // Every API request carried a session token the Frontend API handed out.
      expect(bearers.size).toBeGreaterThan(0);
      for (const token of bearers) expect(fake.tokens).toContain(token);
      expect(await page.getByLabel('Organization').inputValue()).toBe(acme.id);
      expect(await seriousViolations(page)).toEqual([]);

      // Live over the stream opened with the session's token.
      await page.getByText('Live', { exact: true }).waitFor();
      const startedAt = Date.now();
      await ingest(acme.id, 'Acme Live Caller');
      await rows.filter({ hasText: 'Acme Live Caller' }).first().waitFor({ timeout: 2_000 });
      expect(Date.now() - startedAt).toBeLessThan(2_000);
      await shoot(page, 'clerk-signed-in');

      // Another organization is another tenant.
      await page.getByLabel('Organization').selectOption({ label: 'Globex' });
      await rows.filter({ hasText: 'Globex Caller' }).first().waitFor();
      expect(await rows.filter({ hasText: 'Acme Caller' }).count()).toBe(0);
      expect(fake.requests).toContain(`POST /v1/client/sessions/sess_dashboard_test/touch`);
    } finally {
      await context.close();
    }
  });

  it("signs out through Clerk's user menu, back to the sign-in", async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      await fakeClerkFrontendApi(page, clerk, ada);
      await page.goto(`${baseUrl}/`);
      await page.locator('tbody tr').first().waitFor();
      await page.locator('.cl-userButtonTrigger').click();
      await page
        .getByRole('menuitem', { name: 'Sign out' })
        .or(page.getByRole('button', { name: 'Sign out' }))
        .click();
      await page.getByLabel('Email address').waitFor();
      expect(await page.locator('tbody tr').count()).toBe(0);
    } finally {
      await context.close();
    }
  });
});
