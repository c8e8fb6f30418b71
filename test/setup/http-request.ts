// One HTTP request with node:http on a caller's keep-alive agent (about twice the load fetch
// gives from the same CPU), for the load-driving tests: kill -9, SIGTERM, soak.
import http from 'node:http';

export interface RawAnswer {
  readonly status: number;
  readonly text: string;
  /** False when the answer began and was cut off (a killed or closing server). */
  readonly complete: boolean;
}

/**
 * Sends `body` as JSON (when given) and reads the whole answer. Rejects only when no answer
 * began: a refused or reset connection, or `timeoutMs` passing.
 */
export function sendRequest(
  agent: http.Agent,
  baseUrl: string,
  method: string,
  url: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<RawAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${url}`, {
      method,
      agent,
      headers:
        payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      // An error mid-answer is reported by 'close' with complete false.
      res.on('error', () => {});
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          complete: res.complete,
        }),
      );
    });
    req.end(payload);
  });
}
