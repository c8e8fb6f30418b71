// A broadcast channel between the server instances sharing one database: what the live call
// stream (GET /api/call-history/stream) hears about writes. SQLite has one process, so the
// channel is in memory. PostgreSQL may have several instances behind a load balancer, so a
// write on one must reach streams held open by another: NOTIFY on publish, and one LISTEN
// connection per instance.
import type pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { postgresDriver } from './pg-driver.js';
import type { Database } from './types.js';

/**
 * `message` is what some instance published; `null` means messages may have been lost (the
 * listening connection dropped and came back), so a listener should catch up some other way.
 */
export type ChangeListener = (message: string | null) => void;

export interface ChangeChannel {
  /** Sends `message` (at most MAX_CHANGE_MESSAGE_BYTES) to every listener of every instance. */
  publish(message: string): Promise<void>;
  /**
   * Listens until the returned function is called. Resolves once messages published from
   * then on will be heard; rejects (and listens to nothing) if the channel cannot listen.
   */
  subscribe(listener: ChangeListener): Promise<() => void>;
  close(): Promise<void>;
}

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more; messages name ids, not records. */
export const MAX_CHANGE_MESSAGE_BYTES = 7_900;

function checkSize(message: string): void {
  if (Buffer.byteLength(message) > MAX_CHANGE_MESSAGE_BYTES) {
    throw new Error(`a change message may hold ${MAX_CHANGE_MESSAGE_BYTES} bytes at most`);
  }
}

/** The channel could not listen in time (the database is unreachable): a transient failure. */
export class ChannelUnavailableError extends Error {
  readonly code = 'CHANGE_CHANNEL_UNAVAILABLE';
  constructor() {
    super('the change channel could not listen to the database in time');
  }
}

class Listeners {
  readonly #listeners = new Set<ChangeListener>();

  add(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(message: string | null): void {
    // A listener that throws must not keep the message from the others.
    for (const listener of [...this.#listeners]) {
      try {
        listener(message);
      } catch {
        // Listeners handle their own failures; see the stream's use.
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/** One process: messages go straight to the listeners, after the publisher's turn ends. */
export function createMemoryChangeChannel(): ChangeChannel {
  const listeners = new Listeners();
  return {
    async publish(message) {
      checkSize(message);
      queueMicrotask(() => listeners.emit(message));
    },
    subscribe: async (listener) => listeners.add(listener),
    async close() {
      listeners.clear();
    },
  };
}

export interface PostgresChannelOptions {
  /** The NOTIFY channel's name. */
  readonly channel: string;
  /** A connection string for the LISTEN connection (the pool's own). */
  readonly connectionString: string;
  /** Session options for it (see postgresSessionOptions). */
  readonly sessionOptions?: string | undefined;
  /** Waits before reconnecting after the LISTEN connection drops: 250 ms, doubling, up to this. */
  readonly maxReconnectDelayMs?: number;
  /** How long a subscriber waits for the LISTEN connection before giving up. */
  readonly listenTimeoutMs: number;
  /** How often the LISTEN connection is checked with a query (default 30 s). */
  readonly pingMs?: number;
}

/** A promise with its resolve function, for "the connection is open" moments. */
function opening(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * NOTIFY through the pool (so it costs no connection of its own) and LISTEN on one connection
 * of its own, opened when the first listener subscribes. Every instance, the publisher too,
 * hears a message once, when PostgreSQL delivers it. If the LISTEN connection drops, listeners
 * hear `null` once it is back, since what was sent meanwhile is lost.
 */
export function createPostgresChangeChannel(
  db: Kysely<Database>,
  options: PostgresChannelOptions,
): ChangeChannel {
  const listeners = new Listeners();
  const maxDelay = options.maxReconnectDelayMs ?? 5_000;
  let client: pg.Client | undefined;
  let open = opening();
  let started = false;
  let connecting: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  let delay = 250;

  const connect = async (): Promise<void> => {
    const driver = postgresDriver();
    const next = new driver.Client({
      connectionString: options.connectionString,
      application_name: 'callmind_listen',
      connectionTimeoutMillis: options.listenTimeoutMs,
      // A LISTEN connection only ever reads: without these, one that a NAT or a failover
      // dropped silently would look alive for hours (see also the ping below).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: options.listenTimeoutMs,
      ...(options.sessionOptions === undefined ? {} : { options: options.sessionOptions }),
    });
    // Errors after connecting arrive as events; without a handler they would crash the process.
    next.on('error', () => reconnect(next));
    next.on('end', () => reconnect(next));
    next.on('notification', (notification) => {
      if (notification.channel === options.channel) listeners.emit(notification.payload ?? '');
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${driver.escapeIdentifier(options.channel)}`);
    } catch (error) {
      next.removeAllListeners('end');
      await next.end().catch(() => {});
      throw error;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    delay = 250;
    open.resolve();
  };

  // Every pingMs (30 s), a query on the LISTEN connection: one that fails or hangs past the timeout
  // means notifications stopped arriving, so the connection is replaced (and listeners hear
  // null, since messages may have been lost).
  const ping = setInterval(() => {
    const current = client;
    if (current === undefined) return;
    current.query('SELECT 1').catch(() => reconnect(current));
  }, options.pingMs ?? 30_000);
  ping.unref();

  function reconnect(failed: pg.Client): void {
    if (closed || client !== failed) return;
    client = undefined;
    open = opening();
    failed.removeAllListeners('end');
    void failed.end().catch(() => {});
    schedule();
  }

  function schedule(): void {
    if (closed || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      connecting = connect().then(
        // Whatever was published while the connection was down is lost: say so.
        () => listeners.emit(null),
        () => {
          delay = Math.min(delay * 2, maxDelay);
          schedule();
        },
      );
    }, delay);
    retry.unref();
  }

  return {
    async publish(message) {
      checkSize(message);
      await sql`SELECT pg_notify(${options.channel}, ${message})`.execute(db);
    },
    async subscribe(listener) {
      if (closed) throw new Error('the change channel is closed');
      if (!started) {
        started = true;
        connecting = connect().catch(() => schedule());
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ChannelUnavailableError()), options.listenTimeoutMs);
      });
      try {
        await Promise.race([open.promise, timedOut]);
      } finally {
        clearTimeout(timer);
      }
      return listeners.add(listener);
    },
    async close() {
      closed = true;
      clearInterval(ping);
      if (retry !== undefined) clearTimeout(retry);
      await connecting?.catch(() => {});
      listeners.clear();
      const last = client;
      client = undefined;
      if (last !== undefined) {
        last.removeAllListeners('end');
        await last.end().catch(() => {});
      }
    },
  };
}
