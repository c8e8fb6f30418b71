// HTTP contract of /api/call-history. Thin: validate (by schema), call the service, answer.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { ProblemSchema } from '../../http/schema-helpers.js';
import { csvChunks, EXPORT_CONTENT_TYPES } from './calls.export.js';
import type { Services } from '../../services.js';
import {
  Call,
  CallEventList,
  CallIdParams,
  CallPage,
  CallExportQuery,
  CallSidParams,
  EraseCallsBody,
  EraseCallsResult,
  CallStats,
  CallStatsQuery,
  CreateCallBody,
  ListCallEventsQuery,
  ListCallsQuery,
  UpdateCallStatusBody,
} from './calls.schemas.js';

const problems = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
  413: ProblemSchema,
  415: ProblemSchema,
  429: ProblemSchema,
  503: ProblemSchema,
};

/** A stream whose client has this much unsent is dropped; it reconnects and reads again. */
const STREAM_BUFFER_LIMIT = 1024 * 1024;
/** A comment line this often keeps proxies and load balancers from closing an idle stream. */
const STREAM_HEARTBEAT_MS = 15_000;
const STREAM_RETRY_MS = 2_000;
/** How long one stream lasts before the client must reconnect (and authenticate again). */
const STREAM_LIFETIME_MS = 10 * 60_000;

export const callRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (
  app,
  { services },
) => {
  const { calls, callStream } = services;

  app.post(
    '/api/call-history',
    {
      config: { access: 'calls:write', ingest: 'api' },
      schema: {
        operationId: 'createCall',
        summary: 'Create a call record, or merge into the one with the same callSid',
        body: CreateCallBody,
        response: { 200: Call, 201: Call, ...problems },
      },
    },
    async (request, reply) => {
      const { call, created, outcome } = await calls.ingest(request.auth, 'create', request.body);
      request.ingestOutcome = outcome;
      // Without a signed delivery there is no replay, so the call is always there.
      if (call === undefined) throw new Error('ingest answered no call for a create');
      if (created) void reply.code(201).header('location', `/api/call-history/${call.id}`);
      return call;
    },
  );

  app.patch(
    '/api/call-history/:id/status',
    {
      config: { access: 'calls:write', ingest: 'api' },
      schema: {
        operationId: 'updateCallStatus',
        summary: "Add a call's outcome and data; repeatable",
        params: CallIdParams,
        body: UpdateCallStatusBody,
        response: { 200: Call, ...problems },
      },
    },
    async (request) => {
      const { call, outcome } = await calls.updateStatus(
        request.auth,
        request.params.id,
        request.body,
      );
      request.ingestOutcome = outcome;
      return call;
    },
  );

  app.get(
    '/api/call-history',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'listCalls',
        summary: 'Calls, newest first, a page at a time',
        querystring: ListCallsQuery,
        // The page's schema (documentation, tests); the handler sends it as JSON text.
        response: { 200: Type.Unsafe<string | Buffer>({ ...CallPage }), ...problems },
      },
    },
    // The answer comes as JSON text (see listJson), sent as it is: Fastify serialises only
    // objects. Its shape is the schema's, tested against list's objects on both dialects.
    async (request, reply) =>
      reply
        .type('application/json; charset=utf-8')
        .send(await calls.listJson(request.auth, request.query)),
  );

  app.get(
    '/api/call-history/stats',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'callStats',
        summary: 'Totals, splits, durations, cost and a time series of the matching calls',
        querystring: CallStatsQuery,
        response: { 200: CallStats, ...problems },
      },
    },
    (request) => calls.stats(request.auth, request.query),
  );

  app.get(
    '/api/call-history/export',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'exportCalls',
        summary: 'The matching calls as CSV or NDJSON, newest first, streamed',
        querystring: CallExportQuery,
        response: {
          // Streamed as it is read, never serialised (Fastify pipes streams).
          200: Type.Unsafe<Readable>({ type: 'string', description: 'CSV or NDJSON' }),
          ...problems,
        },
      },
    },
    async (request, reply) => {
      const format = request.query.format ?? 'csv';
      const chunks =
        format === 'ndjson'
          ? await calls.exportNdjson(request.auth, request.query)
          : csvChunks(await calls.exportCsv(request.auth, request.query));
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      void reply
        .header('content-type', EXPORT_CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="calls-${stamp}.${format}"`);
      return reply.send(Readable.from(chunks));
    },
  );

  app.post(
    '/api/call-history/erase',
    {
      config: { access: 'calls:write' },
      schema: {
        operationId: 'eraseCaller',
        summary: "Delete every call from one caller (a data subject's erasure request)",
        body: EraseCallsBody,
        response: { 200: EraseCallsResult, ...problems },
      },
    },
    (request) => calls.eraseCaller(request.auth, request.body),
  );

  // Server-sent events: the tenant's calls as they are created, change or go (see
  // call-stream.ts). The response is written by hand, as a stream that stays open, so the
  // headers the hooks set on `reply` are set here again.
  app.addHook('preClose', async () => callStream.endAll());
  app.get(
    '/api/call-history/stream',
    {
      // A HEAD would open a stream that sends nothing and never ends.
      exposeHeadRoute: false,
      config: { access: 'calls:read' },
      schema: {
        operationId: 'streamCalls',
        summary: 'Server-sent events: calls as they are created, change or are deleted',
        response: {
          200: Type.Unsafe<never>({ type: 'string', description: 'text/event-stream' }),
          ...problems,
        },
      },
    },
    async (request, reply) => {
      const raw = reply.raw;
      let ended = false;
      let release = () => {};
      /** Ends the stream; `drop`: at once, unsent bytes and all (a client that stopped reading). */
      const end = (drop = false) => {
        if (ended) return;
        ended = true;
        release();
        if (drop) raw.destroy();
        else if (!raw.writableEnded) raw.end();
      };
      // Opened before anything is sent: if the instance cannot listen, the client gets a 503.
      const close = await callStream.open(request.auth.tenantId, {
        send: (events) => {
          if (ended) return true;
          // A client this far behind has stopped reading: it is dropped, not buffered for.
          if (raw.writableLength > STREAM_BUFFER_LIMIT) return false;
          raw.write(events.map(({ event, data }) => `event: ${event}\ndata: ${data}\n\n`).join(''));
          return true;
        },
        drop: () => end(true),
      });
      reply.hijack();
      const heartbeat = setInterval(() => {
        if (raw.writableLength > STREAM_BUFFER_LIMIT) end(true);
        else raw.write(': keep-alive\n\n');
      }, STREAM_HEARTBEAT_MS);
      // A stream is authorised when it opens; it ends after a while so that the client comes
      // back with its credential as it is then (a revoked key, an expired session: refused).
      const lifetime = setTimeout(() => end(), STREAM_LIFETIME_MS);
      release = () => {
        clearInterval(heartbeat);
        clearTimeout(lifetime);
        close();
      };
      // The client may have gone (or the server begun to stop) while the stream was opening.
      if (ended || raw.destroyed) {
        ended = false;
        end();
        return;
      }
      raw.on('close', () => end());
      raw.writeHead(200, {
        // What the hooks set on the reply (CORS for the configured origins, the request id),
        // which a hijacked response does not send by itself.
        ...(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        // A stream's connection serves nothing after it: when the stream ends, so does it.
        connection: 'close',
      });
      // How long a browser waits before reconnecting; then `ready`: changes from now on arrive.
      raw.write(`retry: ${STREAM_RETRY_MS}\n\nevent: ready\ndata: {}\n\n`);
    },
  );

  app.get(
    '/api/call-history/by-sid/:callSid',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'getCallBySid',
        summary: "A call by its phone system's id",
        params: CallSidParams,
        response: { 200: Call, ...problems },
      },
    },
    (request) => calls.getBySid(request.auth, request.params.callSid),
  );

  app.get(
    '/api/call-history/:id',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'getCall',
        summary: 'A call by id',
        params: CallIdParams,
        response: { 200: Call, ...problems },
      },
    },
    (request) => calls.get(request.auth, request.params.id),
  );

  app.get(
    '/api/call-history/:id/events',
    {
      config: { access: 'calls:read' },
      schema: {
        operationId: 'listCallEvents',
        summary: "The call's timeline: every accepted write, oldest first",
        params: CallIdParams,
        querystring: ListCallEventsQuery,
        response: { 200: CallEventList, ...problems },
      },
    },
    (request) => calls.listEvents(request.auth, request.params.id, request.query),
  );

  app.delete(
    '/api/call-history/:id',
    {
      config: { access: 'calls:write' },
      schema: {
        operationId: 'deleteCall',
        summary: 'Delete a call and its timeline',
        params: CallIdParams,
        response: { 204: Type.Null(), ...problems },
      },
    },
    async (request, reply) => {
      await calls.delete(request.auth, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
