// The security headers every answer carries: helmet's set, with our Content-Security-Policy,
// computed once at start-up and copied onto each reply. @fastify/helmet (used before) built
// helmet's middleware anew for every request, parsing the policy each time: 2 % of the main
// thread under ingest in a profile, and a closure and two hooks' work per request besides.
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

export type SecurityHeaders = Readonly<Record<string, string>>;

/**
 * What helmet's middleware sets with `options`, as lower-case header names and values. Only
 * static directives: a directive given as a function of the request would be called once here.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): SecurityHeaders {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    // helmet removes X-Powered-By, which Fastify never sets.
    removeHeader() {},
  };
  // helmet 8 throws a bad option itself; its callback is only ever called without an error.
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {});
  return Object.freeze(headers);
}
