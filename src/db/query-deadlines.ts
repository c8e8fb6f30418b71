// The client-side bound on a PostgreSQL query: a host that froze with its connections open
// answers nothing, and only the client can notice.
//
// pg has one, query_timeout, but it is costly in a way no profile of time shows. With it set
// (or with pg's promise form of query, see database.ts), about 1.9 MB of every young-generation
// collection's survivors went on into the old generation, although nothing kept them reachable
// afterwards: Kysely over a pg pool, 100 list queries a second, --trace-gc-nvp. The callback form
// without query_timeout: 11 kB. In the server that meant a full collection every 1.5–2 s at 100
// list pages a second, each holding the answers in flight back by 15–40 ms: the paced list's
// p99 (README, "Finding calls at a million"). So queries are watched here instead: one timer
// for all of them, and per query an entry that holds only how to give up on it.

/** Stops watching a query: it answered (or failed) in time. */
export type Unwatch = () => void;

export interface QueryDeadlines {
  /**
   * Watches one query: `expire` runs once if it is still running `timeoutMs` after now
   * (checked every `checkEveryMs`, so up to that much later).
   */
  watch(expire: () => void): Unwatch;
  /** Queries being watched (for tests). */
  readonly watching: number;
  /** Stops the timer; queries still watched are no longer bounded. */
  close(): void;
}

interface Watched {
  readonly deadline: number;
  readonly expire: () => void;
}

export function createQueryDeadlines(options: {
  readonly timeoutMs: number;
  readonly checkEveryMs: number;
}): QueryDeadlines {
  const watched = new Set<Watched>();
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    const now = performance.now();
    for (const entry of watched) {
      if (entry.deadline > now) continue;
      watched.delete(entry);
      entry.expire();
    }
    if (watched.size === 0) stop();
  };
  const stop = () => {
    if (timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
  };

  return {
    watch(expire) {
      const entry: Watched = { deadline: performance.now() + options.timeoutMs, expire };
      watched.add(entry);
      // The timer runs while anything is watched; under load it never stops, so queries cost
      // a set entry each and no timer of their own.
      if (timer === undefined) {
        timer = setInterval(check, options.checkEveryMs);
        // A process with nothing else to do may exit: the queries it would bound are gone.
        timer.unref();
      }
      return () => {
        watched.delete(entry);
      };
    },
    get watching() {
      return watched.size;
    },
    close: stop,
  };
}
