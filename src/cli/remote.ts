// The CLI's commands that talk to a running server over HTTP, through the typed client (the
// others open the database themselves, in commands.ts). Printing is left to main.ts.
import fs from 'node:fs';
import readline from 'node:readline';
import {
  createCallmindClient,
  type Call,
  type CallmindClient,
  type CreateCallBody,
  type RetryEvent,
} from '../client/index.js';

export interface RemoteOptions {
  /** --url, else CALLMIND_URL. */
  readonly url?: string | undefined;
  /** --token, else CALLMIND_TOKEN (an environment variable stays out of `ps` and shell history). */
  readonly token?: string | undefined;
}

/** Thrown when no server was named: main.ts reports it as a usage error. */
export class MissingUrlError extends Error {
  override readonly name = 'MissingUrlError';
}

export function remoteClient(
  options: RemoteOptions,
  onRetry: (event: RetryEvent) => void,
  env: NodeJS.ProcessEnv = process.env,
): CallmindClient {
  const url = options.url ?? env.CALLMIND_URL;
  if (url === undefined || url === '') {
    throw new MissingUrlError('name the server with --url URL or CALLMIND_URL');
  }
  const token = options.token ?? env.CALLMIND_TOKEN;
  return createCallmindClient({
    baseUrl: url,
    ...(token === undefined || token === '' ? {} : { token }),
    userAgent: 'callmind-cli',
    onRetry,
  });
}

/** A call of the file the server refused (or that could not be read), and how far the push got. */
export class PushError extends Error {
  override readonly name = 'PushError';
  constructor(
    readonly line: number,
    readonly pushed: number,
    cause: unknown,
  ) {
    super(`line ${line}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export interface PushCounts {
  readonly calls: number;
}

/**
 * Sends every call of an NDJSON file (the API's export, `GET /api/call-history/export?format=
 * ndjson`, or `calls list --json`; `-` for stdin) to the server, `concurrency` at a time, in
 * constant memory. Each call is written by callSid, so pushing a file again, or after a failure
 * part-way, merges instead of duplicating. Stops at the first call the server refuses.
 */
export async function pushCalls(
  client: CallmindClient,
  file: string,
  concurrency: number,
): Promise<PushCounts> {
  const input = readline.createInterface({
    input: file === '-' ? process.stdin : fs.createReadStream(file, 'utf8'),
    crlfDelay: Infinity,
  });
  const inFlight = new Set<Promise<void>>();
  let failure: { line: number; error: unknown } | undefined;
  let pushed = 0;
  let number = 0;
  try {
    for await (const text of input) {
      number += 1;
      if (text.trim() === '') continue;
      const line = number;
      const task = sendLine(client, text).then(
        () => {
          pushed += 1;
        },
        (error: unknown) => {
          failure ??= { line, error };
        },
      );
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (failure !== undefined) break;
    }
    await Promise.all(inFlight);
  } finally {
    input.close();
  }
  if (failure !== undefined) throw new PushError(failure.line, pushed, failure.error);
  return { calls: pushed };
}

async function sendLine(client: CallmindClient, text: string): Promise<void> {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  const body = toCreateBody(record);
  // A call still waiting for its `started` webhook has no agent yet: send it as it came.
  if (body.agentId === '') {
    const { agentId: _none, ...completed } = body;
    await client.webhooks.completed({
      ...completed,
      status: completed.status as 'completed' | 'missed' | 'failed' | null | undefined,
    });
  } else {
    await client.calls.create(body);
  }
}

/**
 * The create body that makes (or merges into) the same call: every field of the record but its
 * server-made ones (id, timestamps of the record) and its owner, which is the credential's.
 */
export function toCreateBody(record: unknown): CreateCallBody {
  const call = record as Partial<Call> & { kind?: unknown };
  if (call === null || typeof call !== 'object' || Array.isArray(call)) {
    throw new Error('not a JSON object');
  }
  if (call.kind !== undefined) {
    throw new Error('this is a `callmind export` file: load it with `callmind import`');
  }
  if (typeof call.callSid !== 'string' || typeof call.agentId !== 'string') {
    throw new Error('not a call record (no callSid or agentId)');
  }
  const {
    agentId,
    callSid,
    direction,
    callerNumber,
    callerName,
    status,
    startedAt,
    endedAt,
    duration,
    recordingUrl,
    transcript,
    sentiment,
    topics,
    summary,
    collectedData,
    cost,
    endReason,
  } = call;
  return {
    agentId,
    callSid,
    direction,
    callerNumber,
    callerName,
    status,
    startedAt,
    endedAt,
    duration,
    recordingUrl,
    transcript,
    sentiment,
    topics,
    summary,
    collectedData,
    cost,
    endReason,
  };
}
