// The ceiling for bench/ingest.ts: what Fastify alone can do on this machine with the same
// bodies. Each write route parses the JSON body and answers {"ok":true}: no validation, no
// database, no logging of requests. Run as its own process, like the real server:
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

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ port, host });
