// The dashboard: the single-page app built into dist/web (`npm run build`), served at / by the
// same server. Its hashed assets are cached for good; every other GET outside /api answers
// index.html, so the app's own URLs (/calls/…, /analytics) work when opened directly. /api is
// never answered with the app: an unknown API path stays a JSON 404.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where the build puts the app: dist/web beside src/ and dist/ (this file is two levels down). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web', import.meta.url));

export interface DashboardConfig {
  /** No sign-in: the app says so in a banner and sends no credential. */
  readonly devMode: boolean;
  /** Sign in with Clerk (CLERK_PUBLISHABLE_KEY); without it, with an organization API key. */
  readonly clerkPublishableKey?: string;
}

export interface WebOptions {
  readonly root?: string;
  /** What the app needs to know before it can sign anyone in. */
  readonly dashboard: DashboardConfig;
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Callmind</title></head>
<body><main><h1>The dashboard is not built</h1><p>Run <code>npm run build</code> (or start the
server with <code>npm start</code>, which builds it); the API at <code>/api</code> works
meanwhile.</p></main></body></html>`;

/**
 * The app's page with its configuration in a meta tag, so that it can start without asking for
 * it (a round trip and a render sooner to the first rows); the CSP allows no inline script.
 */
export function withDashboardConfig(html: string, config: DashboardConfig): string {
  const content = JSON.stringify(config).replaceAll('&', '&amp;').replaceAll('"', '&quot;');
  return html.replace('</head>', `<meta name="callmind-config" content="${content}">\n</head>`);
}

export async function webRoutes(app: FastifyInstance, options: WebOptions): Promise<void> {
  const root = options.root ?? DEFAULT_WEB_ROOT;
  const index = path.join(root, 'index.html');
  const built = fs.existsSync(index);
  // Read once: the build does not change under a running server.
  const page = built
    ? withDashboardConfig(fs.readFileSync(index, 'utf8'), options.dashboard)
    : undefined;

  // Public: the app reads it before anyone has signed in (from the page's meta tag, or here
  // when another server serves the page, as Vite's in development). It holds nothing secret.
  app.get('/dashboard-config.json', async (_request, reply) => {
    void reply.header('cache-control', 'no-cache');
    return options.dashboard;
  });

  if (built) {
    await app.register(fastifyStatic, {
      root,
      // Only the catch-all below answers paths that are not files.
      wildcard: false,
      index: false,
      // Its own header (max-age=0) would replace the one set here.
      cacheControl: false,
      setHeaders: (response, filePath) => {
        response.setHeader(
          'cache-control',
          filePath.startsWith(path.join(root, 'assets'))
            ? 'public, max-age=31536000, immutable'
            : 'no-cache',
        );
      },
    });
  }

  app.get('/*', async (request, reply) => {
    // The router's decoded path, so that /%61pi/… is /api/… here too.
    const pathname = `/${(request.params as { '*'?: string })['*'] ?? ''}`;
    // The API's own 404, and no app for a missing asset (a stale tab after a deploy) or a
    // missing page of the API docs (/docs is Swagger UI's, see openapi.plugin.ts).
    if (
      pathname === '/api' ||
      pathname.startsWith('/api/') ||
      pathname.startsWith('/assets/') ||
      pathname.startsWith('/docs/')
    ) {
      return reply.callNotFound();
    }
    if (page === undefined) {
      return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    void reply.header('cache-control', 'no-cache');
    return reply.type('text/html; charset=utf-8').send(page);
  });
}
