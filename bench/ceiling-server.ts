// The ceiling of the benchmarks (bench/suite.ts, bench/ingest.ts, bench/query.ts): what
// Fastify alone can do on this machine with the same requests. Each write route parses the JSON
// body and answers {"ok":true}: no validation, no database, no logging of requests. The read
// route answers a JSON page of the size asked for, serialised once. Run as its own process, like
// the real server:
//   PORT=4000 HOST=127.0.0.1 node --import tsx bench/ceiling-server.ts
import Fastify, { LogController } from 'fastify';

const port = Number(process.env.PORT ?? 4000);
const host = process.env.HOST ?? '127.0.0.1';
const level = process.env.LOG_LEVEL ?? 'warn';

const app = Fastify({
  logger: { level },
  logController: new LogController({ disableRequestLogging: true }),
});

app.get('/readyz', () => ({ status: 'ready' }));
// Same paths as the real server, so the load generator's requests are byte-for-byte the same.
app.post('/api/call-history', () => ({ ok: true }));
app.patch('/api/call-history/:id/status', () => ({ ok: true }));
app.post('/api/webhooks/calls/started', () => ({ ok: true }));
app.post('/api/webhooks/calls/completed', () => ({ ok: true }));

const MAX_PAGE_BYTES = 16 * 1024 * 1024;
const pages = new Map<number, string>();

/** A page of made-up calls of about `bytes` bytes, like the list's: up to 50 calls. */
function pageOf(bytes: number): string {
  const call = (i: number, transcript: string) => ({
    id: `call_01CEILING${String(i).padStart(17, '0')}`,
    callSid: `CA-ceiling-${i}`,
    agentId: 'agent_ceiling',
    status: 'completed',
    direction: 'inbound',
    startedAt: '2026-11-25T10:00:00.000Z',
    topics: ['billing'],
    collectedData: { plan: 'pro' },
    transcript,
  });
  const frame = JSON.stringify({ data: [], nextCursor: 'ceiling' }).length;
  const bare = JSON.stringify(call(0, '')).length + 1;
  const count = Math.max(1, Math.min(50, Math.floor((bytes - frame) / (bare + 100))));
  const fill = Math.max(0, Math.floor((bytes - frame) / count) - bare);
  const words = 'Agent: thank you for calling, how can I help you today? '.repeat(
    Math.ceil(fill / 50) + 1,
  );
  const data = Array.from({ length: count }, (_, i) => call(i, words.slice(0, fill)));
  return JSON.stringify({ data, nextCursor: 'ceiling' });
}

// Same path as the list, so the load generator's requests are the same; ?ceilingBytes=N picks
// the size of the answer (default 100 kB). The page is serialised once per size and kept.
app.get('/api/call-history', (request, reply) => {
  const asked = Number((request.query as Record<string, unknown>).ceilingBytes ?? 100_000);
  const bytes = Number.isFinite(asked) ? Math.min(MAX_PAGE_BYTES, Math.max(2, asked)) : 100_000;
  let page = pages.get(bytes);
  if (page === undefined) {
    page = pageOf(bytes);
    pages.set(bytes, page);
  }
  return reply.type('application/json; charset=utf-8').send(page);
});

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ port, host });
