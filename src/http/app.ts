// buildApp: the Fastify instance with every route, the auth seam and the error handler.
// It takes ready-made services (src/services.ts) and never opens anything itself.
import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  errorCodes,
  LogController,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import secureJsonParse from 'secure-json-parse';
import type { Config } from '../config.js';
import { AppError, ForbiddenError, UnauthorizedError } from '../errors.js';
import { createFailureThrottle } from '../lib/failure-throttle.js';
import { apiKeyRoutes } from '../modules/api-keys/api-keys.routes.js';
import { settingsRoutes } from '../modules/maintenance/settings.routes.js';
import type { Delivery, IngestOutcome } from '../modules/calls/calls.service.js';
import type { IngestSource } from '../metrics.js';
import type { AuthContext, Scope } from '../modules/identity/identity.js';
import { agentRoutes } from '../modules/agents/agents.routes.js';
import { callRoutes } from '../modules/calls/calls.routes.js';
import { healthRoutes } from '../modules/health/health.routes.js';
import { webhookRoutes } from '../modules/webhooks/webhooks.routes.js';
import { providerRoutes } from '../modules/providers/providers.routes.js';
import type { ProviderName } from '../modules/providers/providers.schemas.js';
import type { Services } from '../services.js';
import { errorHandler, sendProblem } from './error-handler.js';
import { registerApiDescription } from './openapi.plugin.js';
import { registerMetrics } from './metrics.plugin.js';
import { securityHeaders } from './security-headers.js';
import { webRoutes } from './web.plugin.js';
import { createValidatorCompiler } from './validation.js';

/** What a route needs of the credential: a scope, or an admin of the tenant. */
export type Access = Scope | 'admin';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for every /api route before its handler runs. */
    auth: AuthContext;
    /** The JSON body's bytes as received: signatures are computed over them. */
    rawBody?: Buffer;
    /** Set when the request is a Standard Webhooks delivery verified by its signature. */
    webhookDelivery?: Delivery;
    /** Set by an ingest route's handler: what the write did, for the metrics. */
    ingestOutcome?: IngestOutcome;
  }
  interface FastifyInstance {
    /**
     * Every /api route that needs a credential, with what it requires (tests check that each
     * refuses a request without one). The public API description is not among them.
     */
    apiRoutes: ReadonlyArray<{ method: string; url: string; access: Access }>;
  }
  interface FastifyContextConfig {
    /** Required on every /api route (checked when routes are registered). */
    access?: Access;
    /** The route also accepts Standard Webhooks signatures instead of a bearer credential. */
    signedWebhook?: boolean;
    /** An /api route anyone may call, said explicitly instead of by a missing `access`. */
    public?: true;
    /** The route writes calls: its outcomes are counted as callmind_ingest_total{source}. */
    ingest?: IngestSource;
    /**
     * A provider's webhook (modules/providers): without a bearer credential, it is authenticated
     * by that provider's signature once its body has arrived.
     */
    providerWebhook?: ProviderName;
  }
}

export type App = FastifyInstance;

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Logged form of a URL: the path, and the names (never the values) of query parameters. */
export function redactUrl(url: string): string {
  const [pathname, query] = url.split('?', 2);
  if (query === undefined) return pathname ?? '';
  const names = [...new URLSearchParams(query).keys()];
  return `${pathname}?${names.map((name) => `${name}=…`).join('&')}`;
}

export function loggerOptions(config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    // Tokens and caller data never reach the logs: headers are not logged at all, bodies never,
    // and query values are dropped (filters may name a caller's number).
    redact: { paths: ['req.headers', 'res.headers', '*.authorization'], remove: true },
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({
        method: req.method,
        url: redactUrl(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      // Only what identifies an error: a client error's `rawPacket` holds the raw request bytes,
      // Authorization header included.
      err: (err: Error & { code?: unknown; statusCode?: unknown }) => ({
        type: err.name,
        message: err.message,
        code: err.code,
        statusCode: err.statusCode,
        stack: err.stack ?? '',
      }),
    },
  };
}

/**
 * What sits at the edge: CORS for the configured browser origins (first, so a preflight is
 * answered before authentication), security headers the dashboard can live with, and a rate
 * limit per credential (after authentication, so one tenant cannot spend another's budget).
 */
async function registerEdgeProtections(app: FastifyInstance, config: Config): Promise<void> {
  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...config.corsOrigins],
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: [
        'location',
        'x-request-id',
        'retry-after',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    });
  }
  // With Clerk sign-in, the browser also talks to the instance's Frontend API, shows avatars
  // from img.clerk.com and runs Clerk's timers in a blob: worker. Clerk's code is in our bundle
  // (its build with no remotely hosted code), so scripts still come only from here.
  const clerkApi = config.clerk.frontendApi;
  const withClerk = (...sources: string[]) => (clerkApi === undefined ? [] : sources);
  const headers = securityHeaders({
    contentSecurityPolicy: {
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:', ...withClerk('https://img.clerk.com')],
        // Recordings live wherever the telephony platform keeps them.
        'media-src': ["'self'", 'https:', 'http:'],
        'connect-src': ["'self'", ...(clerkApi === undefined ? [] : [clerkApi])],
        'worker-src': ["'self'", ...withClerk('blob:')],
        'frame-ancestors': ["'none'"],
        'object-src': ["'none'"],
      },
    },
  });
  // Every answer, the not-found and error ones included: onRequest runs for all of them.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
  if (config.rateLimit.max > 0) {
    await app.register(rateLimit, {
      hook: 'preHandler',
      max: config.rateLimit.max,
      timeWindow: config.rateLimit.windowMs,
      // Per credential; per address only for what has none (health checks are not limited).
      keyGenerator: (request) => request.auth?.credentialId ?? request.ip,
      allowList: (request) => request.routeOptions.config.access === undefined,
      errorResponseBuilder: (_request, context) =>
        new AppError(
          429,
          'rate_limited',
          'Too many requests',
          `more than ${context.max} requests in the window; retry in ${context.after}`,
          [],
          { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        ),
    });
  }
}

/** A webhook route called with a signature and without a bearer credential. */
function isSignedDelivery(request: {
  routeOptions: { config: { signedWebhook?: boolean } };
  headers: Record<string, unknown>;
}): boolean {
  return (
    request.routeOptions.config.signedWebhook === true &&
    request.headers.authorization === undefined &&
    request.headers['webhook-signature'] !== undefined
  );
}

export interface BuildAppOptions {
  readonly config: Config;
  readonly services: Services;
  /** Tests pass `false` (silence) or a pino destination; the server passes its logger options. */
  readonly logger?: FastifyServerOptions['logger'];
  /** Where the built dashboard is (tests build their own); dist/web by default. */
  readonly webRoot?: string;
}

export async function buildApp({
  config,
  services,
  logger,
  webRoot,
}: BuildAppOptions): Promise<App> {
  const app = Fastify({
    logger: logger ?? loggerOptions(config),
    bodyLimit: config.bodyLimit,
    // One line per request, written in onResponse below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming)
        ? incoming
        : randomUUID();
    },
    // Fastify's defaults already refuse __proto__ and constructor.prototype keys in JSON bodies.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(createValidatorCompiler());
  await registerEdgeProtections(app, config);
  // Only JSON bodies: text/plain would otherwise parse as a string and fail later with a
  // confusing message; with no parser Fastify answers 415.
  app.removeContentTypeParser('text/plain');
  // JSON parsed as Fastify does (prototype poisoning refused), keeping the bytes for signatures.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    request.rawBody = bytes;
    if (bytes.length === 0) {
      done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined);
      return;
    }
    try {
      done(
        null,
        secureJsonParse.parse(bytes.toString('utf8'), undefined, {
          protoAction: 'error',
          constructorAction: 'error',
        }),
      );
    } catch (error) {
      (error as { statusCode?: number }).statusCode = 400;
      done(error as Error, undefined);
    }
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    sendProblem(request, reply, {
      status: 404,
      code: 'route_not_found',
      title: 'Not found',
      detail: `no route for ${request.method} ${request.url.split('?')[0]}`,
    });
  });

  app.decorateRequest('auth', null as unknown as AuthContext);
  const apiRoutes: Array<{ method: string; url: string; access: Access }> = [];
  app.decorate('apiRoutes', apiRoutes);
  // A route that forgot to say who may call it must not start serving. A public one (only the
  // API description, GET /api/openapi.json) says so and declares no access: the hooks below
  // then treat it as they treat /healthz, and it stays out of apiRoutes.
  app.addHook('onRoute', (route) => {
    const url: string = route.url;
    if (!url.startsWith('/api/')) return;
    const access = route.config?.access;
    if (route.config?.public === true) {
      if (access === undefined) return;
      throw new Error(`route ${String(route.method)} ${url} is public and declares access`);
    }
    if (access === undefined)
      throw new Error(`route ${String(route.method)} ${url} declares no access`);
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') apiRoutes.push({ method, url, access });
    }
  });
  const failures = createFailureThrottle(config.rateLimit.authFailuresPerMinute, 60_000);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    // Decided by the route the router matched, not by the URL's text: the router decodes
    // %-escapes and accepts absolute-form targets that a text prefix check would miss.
    if (request.routeOptions.config.access === undefined) return;
    // Call records carry caller data: no shared cache may keep them.
    void reply.header('cache-control', 'no-store');
    // A signed webhook has no bearer credential: its signature is checked once the body
    // (whose bytes it covers) has arrived, in preValidation below.
    if (isSignedDelivery(request)) return;
    // Likewise a provider's webhook, in the providers module's preValidation hook.
    if (
      request.routeOptions.config.providerWebhook !== undefined &&
      request.headers.authorization === undefined
    ) {
      return;
    }
    const wait = failures.retryAfterSeconds(request.ip);
    if (wait > 0) {
      throw new AppError(
        429,
        'too_many_failed_authentications',
        'Too many requests',
        'too many requests with bad credentials from this address; wait and try again',
        [],
        { 'retry-after': String(wait) },
      );
    }
    try {
      request.auth = await services.authenticator.authenticate(request.headers);
    } catch (error) {
      if (error instanceof UnauthorizedError) failures.record(request.ip);
      throw error;
    }
  });
  app.addHook('preValidation', async (request) => {
    if (!isSignedDelivery(request)) return;
    const header = (name: string) => {
      const value = request.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    const tenant = (request.query as Record<string, unknown> | undefined)?.tenant;
    const { webhookId, ...auth } = await services.webhookSigning.verify({
      tenant: typeof tenant === 'string' ? tenant : undefined,
      id: header('webhook-id'),
      timestamp: header('webhook-timestamp'),
      signature: header('webhook-signature'),
      body: request.rawBody ?? Buffer.alloc(0),
    });
    request.auth = auth;
    request.webhookDelivery = { webhookId };
  });
  app.addHook('preHandler', async (request) => {
    const access = request.routeOptions.config.access;
    if (access === undefined) return;
    // Every path above sets auth or throws; refuse rather than trust a path that did neither.
    if ((request.auth as AuthContext | null) === null) throw new UnauthorizedError();
    if (access === 'admin') {
      if (!request.auth.isAdmin) {
        throw new ForbiddenError('admin_required', 'only an admin of the organization can do this');
      }
    } else if (!request.auth.scopes.includes(access)) {
      throw new ForbiddenError('insufficient_scope', `this credential lacks the ${access} scope`);
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  });

  registerMetrics(app, { config, metrics: services.metrics });
  // Before the routes: the document is generated from the routes registered after it.
  await registerApiDescription(app);
  await app.register(healthRoutes, { services });
  await app.register(callRoutes, { services });
  await app.register(webhookRoutes, { services });
  await app.register(providerRoutes, { services, config });
  await app.register(agentRoutes, { services });
  await app.register(apiKeyRoutes, { services });
  await app.register(settingsRoutes, { services });
  await app.register(webRoutes, {
    dashboard: {
      devMode: config.devMode,
      ...(config.clerk.publishableKey === undefined
        ? {}
        : { clerkPublishableKey: config.clerk.publishableKey }),
    },
    ...(webRoot === undefined ? {} : { root: webRoot }),
  });

  if (config.devMode) {
    app.addHook('onReady', async () => {
      app.log.warn(
        'DEV MODE: no authentication; every request acts as the local tenant. ' +
          'Bound to loopback only. Set AUTH_REQUIRED=1 (and a credential) before exposing it.',
      );
    });
  }
  return app;
}
