// The PostgreSQL driver, loaded when a PostgreSQL database is first opened rather than when the
// server starts: a server on SQLite never uses it, and loading it costs about 3 MiB of heap.
// node-postgres is a CommonJS package, so require() gives the same object `import pg` would.
import { createRequire } from 'node:module';
import type pg from 'pg';

const requireFromHere = createRequire(import.meta.url);
let driver: typeof pg | undefined;

export function postgresDriver(): typeof pg {
  driver ??= requireFromHere('pg') as typeof pg;
  return driver;
}
