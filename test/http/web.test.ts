// The dashboard's serving: the app at / and at its own URLs, its assets cached for good, and
// never the app where the API or a missing asset was asked for.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestClerk } from '../setup/clerk.js';
import { FRONTEND_API_HOST, TEST_PUBLISHABLE_KEY } from '../setup/clerk-frontend.js';
import { createTestApp, makeTempDir, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const INDEX =
  '<!doctype html><html><head><title>app</title></head><body><div id="root"></div>' +
  '<script type="module" src="/assets/app-1a2b.js"></script></body></html>';
/** The page as served: the server's configuration in a meta tag (no inline script: CSP). */
const SERVED = INDEX.replace(
  '</head>',
  '<meta name="callmind-config" content="{&quot;devMode&quot;:true}">\n</head>',
);

describe.each(TEST_DIALECTS)('the dashboard is served (%s)', (dialect) => {
  let t: TestApp;
  let root: string;

  beforeAll(async () => {
    root = makeTempDir('callmind-web-');
    fs.mkdirSync(path.join(root, 'assets'));
    fs.writeFileSync(path.join(root, 'index.html'), INDEX);
    fs.writeFileSync(path.join(root, 'assets', 'app-1a2b.js'), 'console.log("app")');
    t = await createTestApp(dialect, { webRoot: root });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('answers the app at / and at its own URLs, never cached stale', async () => {
    for (const url of ['/', '/calls/call_01ARZ3NDEKTSV4RRFFQ69G5FAV', '/analytics?status=failed']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      // The security headers hold for the app too: scripts only from the server itself.
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
      expect(res.body).toBe(SERVED);
    }
  });

  it('serves hashed assets for a year, and a missing one is a 404, not the app', async () => {
    const asset = await t.app.inject({ method: 'GET', url: '/assets/app-1a2b.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const missing = await t.app.inject({ method: 'GET', url: '/assets/app-old.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('never answers /api with the app', async () => {
    for (const url of [
      '/api',
      '/api/',
      '/api/nothing-here',
      '/api/call-history/x/y/z',
      '/%61pi/nothing-here',
    ]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'route_not_found' });
    }
  });

  it('tells the app how the server is set up, and nothing secret', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/dashboard-config.json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ devMode: true });
  });

  it('with Clerk sign-in, tells the app the publishable key and lets the browser reach Clerk', async () => {
    const clerk = createTestClerk();
    const withClerk = await createTestApp(dialect, {
      webRoot: root,
      env: { ...clerk.env, CLERK_PUBLISHABLE_KEY: TEST_PUBLISHABLE_KEY },
    });
    try {
      const config = await withClerk.app.inject({ method: 'GET', url: '/dashboard-config.json' });
      expect(config.json()).toEqual({ devMode: false, clerkPublishableKey: TEST_PUBLISHABLE_KEY });
      const page = await withClerk.app.inject({ method: 'GET', url: '/' });
      expect(page.body).toContain(
        `content="{&quot;devMode&quot;:false,&quot;clerkPublishableKey&quot;:&quot;${TEST_PUBLISHABLE_KEY}&quot;}"`,
      );
      const csp = page.headers['content-security-policy'] as string;
      expect(csp).toContain(`connect-src 'self' https://${FRONTEND_API_HOST}`);
      expect(csp).toContain("img-src 'self' data: https://img.clerk.com");
      // Clerk's code is bundled: scripts still come only from this server.
      expect(csp).toContain("script-src 'self';");
    } finally {
      await withClerk.close();
    }
    // Without Clerk, the browser talks to this server only.
    const csp = (await t.app.inject({ method: 'GET', url: '/' })).headers[
      'content-security-policy'
    ] as string;
    expect(csp).toContain("connect-src 'self';");
    expect(csp).not.toContain('clerk');
  });

  it('says how to build the app when it is not built, and the API still works', async () => {
    const bare = await createTestApp(dialect, { webRoot: path.join(root, 'not-built') });
    try {
      const res = await bare.app.inject({ method: 'GET', url: '/' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('npm run build');
      const api = await bare.app.inject({ method: 'GET', url: '/api/call-history' });
      expect(api.statusCode).toBe(200);
    } finally {
      await bare.close();
    }
  });
});
