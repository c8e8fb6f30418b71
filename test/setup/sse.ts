// A client of server-sent events over a real socket, for tests: opens the stream with fetch
// (headers allowed, as the dashboard does), parses events as they arrive, and lets a test wait
// for the next event that matches.

export interface StreamEvent {
  readonly event: string;
  readonly data: string;
}

export interface EventStreamClient {
  readonly status: number;
  /** The body of a refusal (not 200). */
  readonly problem: string | undefined;
  readonly headers: Headers;
  /** Every event received so far, in order. */
  readonly received: readonly StreamEvent[];
  /** The first event not yet taken that matches, waiting up to `timeoutMs` for it. */
  next(match?: (event: StreamEvent) => boolean, timeoutMs?: number): Promise<StreamEvent>;
  /** Whether the server has ended the stream. */
  readonly ended: boolean;
  close(): void;
}

export async function openEventStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<EventStreamClient> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const received: StreamEvent[] = [];
  const taken = new Set<number>();
  const waiters = new Set<() => void>();
  let ended = false;
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  // A refusal's body (a problem) is read now, so its connection is free again.
  const problem = response.ok ? undefined : await response.text();
  if (response.ok && response.body !== null) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
            }
            if (data.length > 0) received.push({ event, data: data.join('\n') });
          }
          wake();
        }
      } catch {
        // Aborted by close(), or the connection dropped: the stream has ended either way.
      }
      ended = true;
      wake();
    })();
  }
  return {
    status: response.status,
    problem,
    headers: response.headers,
    received,
    get ended() {
      return ended;
    },
    next(match = () => true, timeoutMs = 5_000) {
      return new Promise<StreamEvent>((resolve, reject) => {
        const check = () => {
          const index = received.findIndex((event, i) => !taken.has(i) && match(event));
          if (index >= 0) {
            taken.add(index);
            done();
            resolve(received[index]!);
          } else if (ended) {
            done();
            reject(new Error('the stream ended before a matching event arrived'));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`no matching event in ${timeoutMs} ms; got ${JSON.stringify(received)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      controller.abort();
    },
  };
}
