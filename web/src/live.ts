// The live stream, kept open while a page shows calls: reconnects after a drop (the server's
// `retry` hint, 2 s), and after a reconnect asks the page to read its list again, since changes
// made meanwhile were not heard.
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { ApiError, type ListedCall } from './api';
import { useApi } from './session';

/** `unavailable`: the credential may not read the stream; no use retrying. */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'unavailable';

export interface LiveHandlers {
  onCall(call: ListedCall): void;
  onDeleted(id: string): void;
  onRefresh(): void;
}

const RECONNECT_MS = 2_000;
/** After a refusal for load (429, 503), as the server's Retry-After says. */
const BUSY_RECONNECT_MS = 10_000;

/** How long a list waits for the stream before it is read anyway. */
const STREAM_SETTLE_MS = 1_000;

/**
 * True once the stream listens or has failed for now, or after STREAM_SETTLE_MS: from then on,
 * a list read misses no change (the stream carries every later one, and a stream that listens
 * only after STREAM_SETTLE_MS asks for a refresh: useLiveCalls). It stays true.
 */
export function useStreamSettled(state: LiveState): boolean {
  const [waited, setWaited] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => setWaited(true), STREAM_SETTLE_MS);
    return () => clearTimeout(timer);
  }, []);
  return state !== 'connecting' || waited;
}

export function useLiveCalls(handlers: LiveHandlers): LiveState {
  const api = useApi();
  const [state, setState] = useState<LiveState>('connecting');
  // The latest handlers, without reopening the stream when they change.
  const current = useRef(handlers);
  useLayoutEffect(() => {
    current.current = handlers;
  });

  useEffect(() => {
    const controller = new AbortController();
    const openedAt = Date.now();
    let attempts = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connect = () => {
      attempts += 1;
      const reconnecting = attempts > 1;
      void api
        .stream(
          '/api/call-history/stream',
          (event, data) => {
            if (event === 'ready') {
              setState('live');
              // After a reconnect, changes made while the stream was down were not heard. So
              // too on a first connection slower than STREAM_SETTLE_MS: the page has read
              // already (useStreamSettled), and what changed since was heard by no one.
              const pageReadFirst = Date.now() - openedAt >= STREAM_SETTLE_MS;
              if (reconnecting || pageReadFirst) current.current.onRefresh();
            } else if (event === 'call') {
              current.current.onCall(JSON.parse(data) as ListedCall);
            } else if (event === 'deleted') {
              current.current.onDeleted((JSON.parse(data) as { id: string }).id);
            } else if (event === 'refresh') {
              current.current.onRefresh();
            }
          },
          controller.signal,
        )
        .catch((error: unknown) => {
          if (controller.signal.aborted) return;
          const status = error instanceof ApiError ? error.status : 0;
          if (status === 401 || status === 403) {
            setState('unavailable');
            return;
          }
          setState('reconnecting');
          timer = setTimeout(
            connect,
            status === 429 || status === 503 ? BUSY_RECONNECT_MS : RECONNECT_MS,
          );
        });
    };
    connect();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [api]);
  return state;
}
