// The live call stream behind GET /api/call-history/stream. Every write to a call is announced
// on the database's change channel (in memory on SQLite, LISTEN/NOTIFY on PostgreSQL, so a
// write on any instance reaches streams held by every other). Each instance collects the ids
// its open streams' tenants care about, reads those calls once per short round, and sends each
// stream of the tenant the calls as the list shows them.
import { jsonTextToString } from '../../lib/json-text.js';
import { MAX_CHANGE_MESSAGE_BYTES, type ChangeChannel } from '../../db/change-channel.js';
import { AppError } from '../../errors.js';
import type { CallRepository } from './calls.repository.js';

/** What happened to a call (`upsert`, `delete`) or to many calls of a tenant at once (`bulk`). */
export type CallChange =
  | { readonly tenantId: string; readonly kind: 'upsert' | 'delete'; readonly callId: string }
  /** A tenant's calls changed in bulk (an erasure, an import). */
  | { readonly tenantId: string; readonly kind: 'bulk' };

/**
 * What a stream receives: a call as the list shows it (new or changed), the id of a call that
 * is gone, or `refresh`: too much changed, or something may have been missed, so read the list
 * again.
 */
export type CallStreamEvent =
  | { readonly event: 'call'; readonly data: string }
  | { readonly event: 'deleted'; readonly data: string }
  | { readonly event: 'refresh'; readonly data: string };

/** One open stream: `send` returns false when its client has stopped keeping up. */
export interface CallStreamSink {
  send(events: readonly CallStreamEvent[]): boolean;
  /**
   * Ends the stream at once, unsent bytes and all: its client stopped reading, or the server
   * is stopping. The client reconnects, and reads the list again.
   */
  drop(): void;
}

export interface CallStreamSettings {
  /** How long changes are collected before one read sends them (a burst costs one read). */
  readonly roundMs: number;
  /** More changed calls than this for a tenant in one round are sent as one `refresh`. */
  readonly maxCallsPerRound: number;
  /** Open streams per instance; more are refused (503). */
  readonly maxStreams: number;
  /** Open streams per tenant on an instance, so that one tenant cannot take them all (429). */
  readonly maxStreamsPerTenant: number;
}

export const CALL_STREAM_SETTINGS: CallStreamSettings = {
  roundMs: 100,
  maxCallsPerRound: 500,
  maxStreams: 1_000,
  maxStreamsPerTenant: 100,
};

/** Changes travel as short JSON, several to a message: `[{"t":tenant,"k":kind,"c":callId}]`. */
function encodeChange(change: CallChange): string {
  return JSON.stringify(
    change.kind === 'bulk'
      ? { t: change.tenantId, k: change.kind }
      : { t: change.tenantId, k: change.kind, c: change.callId },
  );
}

/** The changes a message holds; none if it is not ours (another program may NOTIFY too). */
function decodeChanges(message: string): CallChange[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return [];
  }
  return (Array.isArray(parsed) ? parsed : []).flatMap((item): CallChange[] => {
    const { t, k, c } = (item ?? {}) as { t?: unknown; k?: unknown; c?: unknown };
    if (typeof t !== 'string') return [];
    if (k === 'bulk') return [{ tenantId: t, kind: k }];
    if ((k === 'upsert' || k === 'delete') && typeof c === 'string') {
      return [{ tenantId: t, kind: k, callId: c }];
    }
    return [];
  });
}

/** Encoded changes joined into messages of at most `maxBytes` each. */
function batchMessages(encoded: readonly string[], maxBytes: number): string[] {
  const messages: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const item of encoded) {
    const size = Buffer.byteLength(item) + 1;
    if (current.length > 0 && bytes + size > maxBytes) {
      messages.push(`[${current.join(',')}]`);
      current = [];
      bytes = 2;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) messages.push(`[${current.join(',')}]`);
  return messages;
}

export class TooManyTenantStreamsError extends AppError {
  constructor(max: number) {
    super(
      429,
      'too_many_streams',
      'Too many requests',
      `this organization already holds ${max} open streams on this server; close one first`,
      [],
      { 'retry-after': '10' },
    );
  }
}

export class TooManyStreamsError extends AppError {
  constructor(max: number) {
    super(
      503,
      'too_many_streams',
      'Service unavailable',
      `this server already holds ${max} open streams; try again later`,
      [],
      { 'retry-after': '10' },
    );
  }
}

export type CallStreamService = ReturnType<typeof createCallStreamService>;

export function createCallStreamService({
  channel,
  calls,
  settings = CALL_STREAM_SETTINGS,
}: {
  channel: ChangeChannel;
  calls: Pick<CallRepository, 'listedJsonOf'>;
  settings?: CallStreamSettings;
}) {
  const streams = new Map<string, Set<CallStreamSink>>();
  /** Per tenant: the calls changed since the last round, or 'refresh' once past the bound. */
  const pending = new Map<string, Set<string> | 'refresh'>();
  let round: NodeJS.Timeout | undefined;
  /** The round being run: rounds run one at a time, so an older read never follows a newer. */
  let running: Promise<void> | undefined;
  let listening: Promise<() => void> | undefined;
  let count = 0;
  /** Changes published in this turn of the event loop, sent as few messages after it. */
  let outgoing: string[] = [];

  /** Publications on their way to the channel (flush waits for them). */
  const sending = new Set<Promise<void>>();

  function sendOutgoing(): void {
    const batch = outgoing;
    outgoing = [];
    for (const message of batchMessages(batch, MAX_CHANGE_MESSAGE_BYTES)) {
      const sent = channel.publish(message).catch(() => {});
      sending.add(sent);
      void sent.then(() => sending.delete(sent));
    }
  }

  function deliver(tenantId: string, events: readonly CallStreamEvent[]): void {
    for (const sink of streams.get(tenantId) ?? []) {
      // A client that stopped reading is dropped rather than buffered without end.
      if (!sink.send(events)) sink.drop();
    }
  }

  const REFRESH: CallStreamEvent = { event: 'refresh', data: '{}' };

  function scheduleRound(): void {
    round ??= setTimeout(() => {
      const next = (running ?? Promise.resolve()).then(runRound).catch(() => {});
      running = next;
      void next.then(() => {
        if (running === next) running = undefined;
      });
    }, settings.roundMs);
  }

  async function runRound(): Promise<void> {
    round = undefined;
    const work = [...pending];
    pending.clear();
    for (const [tenantId, ids] of work) {
      if (!streams.has(tenantId)) continue;
      if (ids === 'refresh') {
        deliver(tenantId, [REFRESH]);
        continue;
      }
      try {
        const wanted = [...ids];
        const found = new Map(
          (await calls.listedJsonOf(tenantId, wanted)).map((row) => [
            row.id,
            jsonTextToString(row.line),
          ]),
        );
        deliver(
          tenantId,
          wanted.map((id): CallStreamEvent => {
            const line = found.get(id);
            return line === undefined
              ? { event: 'deleted', data: JSON.stringify({ id }) }
              : { event: 'call', data: line };
          }),
        );
      } catch {
        // The database is away: the streams cannot be told what changed, only that something
        // did; their clients read the list again once it answers.
        deliver(tenantId, [REFRESH]);
      }
    }
  }

  function heard(message: string | null): void {
    if (message === null) {
      // Messages may have been lost: every stream reads its list again.
      for (const tenantId of streams.keys()) pending.set(tenantId, 'refresh');
      scheduleRound();
      return;
    }
    for (const change of decodeChanges(message)) note(change);
    if (pending.size > 0) scheduleRound();
  }

  function note(change: CallChange): void {
    if (!streams.has(change.tenantId)) {
      return;
    } else if (change.kind === 'bulk') {
      // Many calls changed at once (an erasure, an import): the tenant's streams read again.
      pending.set(change.tenantId, 'refresh');
    } else {
      const ids = pending.get(change.tenantId) ?? new Set<string>();
      if (ids === 'refresh') return;
      ids.add(change.callId);
      pending.set(change.tenantId, ids.size > settings.maxCallsPerRound ? 'refresh' : ids);
    }
  }

  return {
    /** Tells every instance's streams about a write; never fails the write (see below). */
    publish(change: CallChange): void {
      // After the commit, so a stream never shows what was rolled back. The changes of one
      // turn go out together (on PostgreSQL one NOTIFY, not one per write). A publish that
      // fails (the database went away just then) loses them: open streams miss an update and
      // show it at their next read of the list.
      if (outgoing.length === 0) setImmediate(sendOutgoing);
      outgoing.push(encodeChange(change));
    },

    /**
     * Sends what was published and waits until it is out: a short-lived process (the CLI's
     * import) calls it before it closes the database, which would otherwise cut it off.
     */
    async flush(): Promise<void> {
      sendOutgoing();
      await Promise.all([...sending]);
    },

    /**
     * Opens a stream of the tenant's changes. Resolves once changes will be heard (on
     * PostgreSQL, once this instance listens); returns the function that closes it.
     */
    async open(tenantId: string, sink: CallStreamSink): Promise<() => void> {
      if (count >= settings.maxStreams) throw new TooManyStreamsError(settings.maxStreams);
      if ((streams.get(tenantId)?.size ?? 0) >= settings.maxStreamsPerTenant) {
        throw new TooManyTenantStreamsError(settings.maxStreamsPerTenant);
      }
      count += 1;
      try {
        listening ??= channel.subscribe(heard);
        await listening;
      } catch (error) {
        listening = undefined;
        count -= 1;
        throw error;
      }
      const sinks = streams.get(tenantId) ?? new Set<CallStreamSink>();
      sinks.add(sink);
      streams.set(tenantId, sinks);
      let closed = false;
      return () => {
        if (closed) return;
        closed = true;
        count -= 1;
        sinks.delete(sink);
        if (sinks.size === 0 && streams.get(tenantId) === sinks) streams.delete(tenantId);
      };
    },

    /** Ends every open stream (the server is stopping). */
    endAll(): void {
      if (round !== undefined) clearTimeout(round);
      round = undefined;
      // At once: a client that stopped reading would otherwise hold the shutdown.
      for (const sinks of [...streams.values()]) for (const sink of [...sinks]) sink.drop();
    },
  };
}
