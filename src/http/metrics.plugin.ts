// GET /metrics for a Prometheus scraper, and the hooks that count every request and every ingest
// outcome into the composition's registry (src/metrics.ts).
//
// Access: with METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` (else 401);
// without it, /metrics is open in dev mode only (loopback, no authentication anywhere) and a 404
// whenever the server requires credentials, so that an exposed server never hands its figures to
// anyone who asks. The API's credentials are not accepted: a scraper is not a tenant, and the
// figures are the whole instance's. When metrics are off, nothing is counted either.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { UnauthorizedError } from '../errors.js';
import type { Metrics } from '../metrics.js';

export interface MetricsOptions {
  readonly config: Pick<Config, 'metrics'>;
  readonly metrics: Metrics;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Called on the root instance before the routes, so that its hooks see every route. */
export function registerMetrics(app: FastifyInstance, { config, metrics }: MetricsOptions): void {
  const { enabled, token } = config.metrics;
  // Registered even when off: the dashboard's catch-all would otherwise answer with its page.
  app.get('/metrics', { exposeHeadRoute: false }, async (request, reply) => {
    if (!enabled) return reply.callNotFound();
    if (token !== undefined) {
      const given = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
      // Compared as digests: equal lengths, and no timing hint about the token's length.
      if (given === undefined || !timingSafeEqual(digest(given), digest(token))) {
        throw new UnauthorizedError('/metrics needs Authorization: Bearer <METRICS_TOKEN>');
      }
    }
    void reply.header('cache-control', 'no-store').type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  if (!enabled) return;

  app.addHook('onResponse', async (request, reply) => {
    // The pattern the router matched, never the URL (ids, callSids, query strings).
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.observeRequest(request.method, route, status, reply.elapsedTime / 1000);
    const source = request.routeOptions.config.ingest;
    if (source === undefined) return;
    if (status >= 400 && status < 500) metrics.countIngest(source, 'rejected');
    else if (status < 300) {
      metrics.countIngest(source, request.ingestOutcome ?? (status === 201 ? 'created' : 'merged'));
    }
  });
}
