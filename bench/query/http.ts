// Load over HTTP: autocannon for request/response load, a streaming reader for the export, and
// a sampler of a server process's resident memory.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

// autocannon ships no type declarations; this is the part of its API used here.
export interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (
    request: AutocannonRequest,
    context: Record<string, unknown>,
  ) => AutocannonRequest;
  onResponse?: (
    status: number,
    body: string,
    context: Record<string, unknown>,
    headers: Record<string, string | string[]>,
  ) => void;
}
interface AutocannonStats {
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  requests: AutocannonStats & { total: number };
  latency: AutocannonStats;
  throughput: AutocannonStats;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  timeout?: number;
  headers?: Record<string, string>;
  requests: AutocannonRequest[];
}) => PromiseLike<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadResult {
  readonly connections: number;
  readonly seconds: number;
  readonly reqPerSec: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number };
  readonly totalRequests: number;
  /** Transport errors plus timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  readonly statusCodes: Record<string, number>;
  readonly bytesPerSec: number;
}

export async function runLoad(
  baseUrl: string,
  options: { connections: number; seconds: number; requests: AutocannonRequest[] },
): Promise<LoadResult> {
  const result = await autocannon({
    url: baseUrl,
    connections: options.connections,
    duration: options.seconds,
    timeout: 10,
    headers: { 'content-type': 'application/json' },
    requests: options.requests,
  });
  return {
    connections: options.connections,
    seconds: options.seconds,
    reqPerSec: result.requests.mean,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    totalRequests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
    ),
    bytesPerSec: result.throughput.mean,
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * GETs `path` at a steady `rate` per second for `seconds`, on up to `connections` keep-alive
 * connections, whether or not earlier answers have come (an open loop). Each latency runs from
 * when the request was due, so time spent waiting for a free connection counts. (autocannon's
 * own rate limit sends each second's requests in a burst at the start of the second, which
 * measures a queue again.)
 */
export async function runPaced(
  baseUrl: string,
  path: string,
  options: { rate: number; seconds: number; connections: number },
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  let bytes = 0;
  const one = (due: number) =>
    new Promise<void>((resolve) => {
      const request = http.get(`${baseUrl}${path}`, { agent }, (response) => {
        const status = String(response.statusCode ?? 0);
        statusCodes[status] = (statusCodes[status] ?? 0) + 1;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        response.on('end', () => {
          latencies.push(performance.now() - due);
          resolve();
        });
        response.on('error', () => {
          errors += 1;
          resolve();
        });
      });
      request.setTimeout(10_000, () => request.destroy());
      request.on('error', () => {
        errors += 1;
        resolve();
      });
    });
  const interval = 1000 / options.rate;
  const total = Math.max(1, Math.floor(options.seconds * options.rate));
  const begun = performance.now();
  const requests: Array<Promise<void>> = [];
  for (let i = 0; i < total; i += 1) {
    const due = begun + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    requests.push(one(due));
  }
  await Promise.all(requests);
  const elapsed = (performance.now() - begun) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    sorted.length === 0
      ? Number.NaN
      : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    connections: options.connections,
    seconds: options.seconds,
    reqPerSec: latencies.length / elapsed,
    latencyMs: { p50: round(at(50)), p90: round(at(90)), p99: round(at(99)), max: round(at(100)) },
    totalRequests: latencies.length,
    errors,
    non2xx: Object.entries(statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .reduce((sum, [, count]) => sum + count, 0),
    statusCodes,
    bytesPerSec: bytes / elapsed,
  };
}

export function headerValue(
  headers: Record<string, string | string[]>,
  name: string,
): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

// --- CPU and memory ------------------------------------------------------------------------------

/**
 * CPU time a process has used so far, all its threads, user and system, in µs (Linux /proc: the
 * 14th and 15th fields of its stat line, in clock ticks of 1/100 s, USER_HZ on Linux).
 */
export function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (2nd field) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`unreadable /proc/${pid}/stat`);
  return ticks * 10_000;
}

/**
 * CPU time every PostgreSQL process on this machine has used so far, in µs: each live one's own
 * (as cpuMicros) plus what the postmaster has reaped of those that exited (the 16th and 17th
 * fields). The bench's PostgreSQL runs here: its backends (the search indexer's among them),
 * checkpointer and autovacuum workers all count.
 */
export function postgresCpuMicros(): number {
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks * 10_000;
}

/**
 * The CPU one answered request took over a load phase, in ms: the server's (every thread), every
 * PostgreSQL process's when `postgres` (its backends run the server's queries), and the load
 * generator's: this process's own, since autocannon runs in it and it does nothing else meanwhile.
 * On two cores the three share, their sum bounds the rate: 2 s of CPU a second over the sum.
 */
export interface CpuPerRequest {
  readonly serverMs: number;
  readonly postgresMs?: number;
  readonly loadGeneratorMs: number;
}

export async function measuringCpu(
  serverPid: number,
  postgres: boolean,
  load: () => Promise<LoadResult>,
): Promise<{ http: LoadResult; cpu: CpuPerRequest }> {
  const serverBefore = cpuMicros(serverPid);
  const postgresBefore = postgres ? postgresCpuMicros() : 0;
  const ownBefore = process.cpuUsage();
  const http = await load();
  const own = process.cpuUsage(ownBefore);
  const perRequest = (micros: number) => micros / 1000 / Math.max(1, http.totalRequests);
  return {
    http,
    cpu: {
      serverMs: perRequest(cpuMicros(serverPid) - serverBefore),
      ...(postgres ? { postgresMs: perRequest(postgresCpuMicros() - postgresBefore) } : {}),
      loadGeneratorMs: perRequest(own.user + own.system),
    },
  };
}

export function cpuNote(cpu: CpuPerRequest): string {
  const postgres = cpu.postgresMs === undefined ? '' : `, PostgreSQL ${cpu.postgresMs.toFixed(2)}`;
  return `CPU a request (ms): server ${cpu.serverMs.toFixed(2)}${postgres}, load generator ${cpu.loadGeneratorMs.toFixed(2)}`;
}

/** VmRSS of a process, in KiB (Linux /proc). */
export function residentKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's VmRSS every `intervalMs` until stopped. */
export class RssSampler {
  readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const kib = residentKiB(this.pid);
    if (kib !== undefined) this.samples.push(kib);
  }

  stop(): { peakKiB: number; lastKiB: number; samples: number } {
    clearInterval(this.timer);
    this.sample();
    return {
      peakKiB: Math.max(...this.samples),
      lastKiB: this.samples.at(-1) ?? 0,
      samples: this.samples.length,
    };
  }
}

// --- Export --------------------------------------------------------------------------------------

const NEWLINE = 0x0a;
const QUOTE = 0x22;

/**
 * Counts records in a stream of NDJSON or CSV bytes without decoding them. A CSV record ends at
 * a line feed outside quotes (transcripts hold line breaks inside quoted cells); a doubled quote
 * inside a cell toggles twice, which leaves the state right.
 */
export class RecordCounter {
  records = 0;
  bytes = 0;
  private inQuotes = false;

  constructor(private readonly format: 'csv' | 'ndjson') {}

  push(buffer: Buffer): void {
    this.bytes += buffer.length;
    if (this.format === 'ndjson') {
      for (let at = buffer.indexOf(NEWLINE); at !== -1; at = buffer.indexOf(NEWLINE, at + 1)) {
        this.records += 1;
      }
      return;
    }
    let at = 0;
    while (at < buffer.length) {
      if (this.inQuotes) {
        const close = buffer.indexOf(QUOTE, at);
        if (close === -1) return;
        this.inQuotes = false;
        at = close + 1;
        continue;
      }
      const quote = buffer.indexOf(QUOTE, at);
      const newline = buffer.indexOf(NEWLINE, at);
      if (newline !== -1 && (quote === -1 || newline < quote)) {
        this.records += 1;
        at = newline + 1;
      } else if (quote !== -1) {
        this.inQuotes = true;
        at = quote + 1;
      } else {
        return;
      }
    }
  }
}

export interface ExportResult {
  readonly available: boolean;
  readonly status: number;
  /** Data rows (CSV: without its header). */
  readonly rows: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly firstByteMs: number;
  readonly rowsPerSec: number;
  readonly megabytesPerSec: number;
  /** Completed or cut short by `signal`. */
  readonly complete: boolean;
}

/**
 * GET with node:http on a connection of its own, handing each chunk to `onChunk`. Aborting
 * destroys the socket: the server sees the client go (an aborted fetch() may leave its socket
 * open and unread, which to the server is a stalled client holding the response open).
 */
export function getStreaming(
  url: string,
  onChunk: (chunk: Buffer, status: number) => void,
  signal?: AbortSignal,
): Promise<{ status: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let complete = false;
    const request = http.get(url, { agent: false }, (response) => {
      status = response.statusCode ?? 0;
      response.on('data', (chunk: Buffer) => onChunk(chunk, status));
      response.on('end', () => {
        complete = true;
      });
      response.on('close', () => resolve({ status, complete }));
      response.on('error', () => resolve({ status, complete }));
    });
    request.on('error', (error) => {
      if (signal?.aborted) resolve({ status, complete });
      else reject(error);
    });
    if (signal?.aborted) request.destroy();
    signal?.addEventListener('abort', () => request.destroy(), { once: true });
  });
}

/** Streams GET /api/call-history/export to the end (or until `signal`), counting rows. */
export async function readExport(
  baseUrl: string,
  format: 'csv' | 'ndjson',
  query: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<ExportResult> {
  const started = performance.now();
  const params = new URLSearchParams({ format, ...query });
  const counter = new RecordCounter(format);
  let firstByteMs = 0;
  const { status, complete } = await getStreaming(
    `${baseUrl}/api/call-history/export?${params.toString()}`,
    (chunk, status) => {
      if (firstByteMs === 0) firstByteMs = performance.now() - started;
      // Only a 200 is an export; an error's body is not rows.
      if (status === 200) counter.push(chunk);
    },
    signal,
  );
  const seconds = (performance.now() - started) / 1000;
  const rows = status === 200 ? Math.max(0, counter.records - (format === 'csv' ? 1 : 0)) : 0;
  return {
    available: status !== 404,
    status,
    rows,
    bytes: counter.bytes,
    seconds,
    firstByteMs,
    rowsPerSec: rows / seconds,
    megabytesPerSec: counter.bytes / 1e6 / seconds,
    complete,
  };
}
