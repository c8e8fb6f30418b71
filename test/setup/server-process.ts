// Runs a Node server script (the real Callmind server by default) as a child process, the way
// production does: its own process, its own event loop, `npm start`'s node flags, a real TCP port
// on 127.0.0.1. Used by the kill -9, shutdown and soak tests and by the benchmarks. Children are
// only ever signalled by their own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_SCRIPT = 'src/main.ts';

/**
 * The node flags `npm start` gives the server (package.json's start script, between `node` and
 * the script), so a test or a benchmark runs the server as a user does. Flags given later on
 * the same command line win: BENCH_SERVER_NODE_ARGS="--heap-growing-percent=0
 * --max-semi-space-size=0" measures V8's own defaults (0 is V8's "not set").
 */
export function startScriptNodeArgs(repoRoot: string = REPO_ROOT): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    scripts?: { start?: string };
  };
  const words = manifest.scripts?.start?.split(/\s+/).filter(Boolean) ?? [];
  const script = words.findIndex((word) => word.endsWith('.js'));
  if (words[0] !== 'node' || script < 0) {
    throw new Error(`package.json's start script is not "node <flags> <script>.js"`);
  }
  return words.slice(1, script);
}

/** How a server runs from its TypeScript sources: the tsx loader, then `npm start`'s flags. */
export function sourceServerNodeArgs(): string[] {
  return ['--import', 'tsx', ...startScriptNodeArgs()];
}

const OUTPUT_TAIL_CHARS = 64 * 1024;
/** Settings the server reads (src/config.ts): never inherited, so a run measures what it says. */
const SERVER_SETTINGS = [
  'PORT',
  'HOST',
  'LOG_LEVEL',
  'BODY_LIMIT',
  'NODE_ENV',
  'AUTH_REQUIRED',
  'WRITE_BATCH_MAX',
];
const SERVER_SETTING_PREFIXES = ['DATABASE_', 'SQLITE_'];

function inheritedEnv(): Record<string, string | undefined> {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (SERVER_SETTINGS.includes(name) || SERVER_SETTING_PREFIXES.some((p) => name.startsWith(p))) {
      delete env[name];
    }
  }
  return env;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnServerOptions {
  /** Script path relative to the repository root; default src/main.ts. */
  readonly script?: string;
  /**
   * Node's options before the script; default `--import tsx` (which runs TypeScript sources) and
   * `npm start`'s flags. The benchmarks run the build (`dist/main.js`) as `npm start` does,
   * with its flags and without the loader.
   */
  readonly nodeArgs?: readonly string[];
  /** Extra environment: DATABASE_URL, LOG_LEVEL, WRITE_BATCH_MAX, ... (PORT and HOST are set). */
  readonly env?: Record<string, string>;
  /** Path polled until it answers 200; default /readyz. */
  readonly readyPath?: string;
  readonly readyTimeoutMs?: number;
  /** Called with every chunk the child writes to stdout or stderr. */
  readonly onOutput?: (chunk: string) => void;
}

export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  readonly child: ChildProcess;
  /** Settles when the child has exited, however it ended. */
  readonly exited: Promise<ExitInfo>;
  /** True until the child has exited. */
  readonly alive: boolean;
  /** The last 64 KiB the child wrote to stdout and stderr, for diagnostics. */
  output(): string;
  /** SIGKILL by pid, then waits for the exit. */
  kill(): Promise<ExitInfo>;
  /** SIGTERM by pid (a graceful shutdown), SIGKILL if it has not exited after graceMs. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

/** A TCP port that was free a moment ago: listen on port 0, read the port, close. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      if (address === null || typeof address === 'string') {
        probe.close();
        reject(new Error('could not read the probe port'));
        return;
      }
      probe.close((error) => (error ? reject(error) : resolve(address.port)));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Spawns `node --import tsx <npm start's flags> <script>` (or `node <nodeArgs> <script>`) from the repository root with PORT (a free port) and
 * HOST=127.0.0.1, and resolves once readyPath answers 200. Retries with another port if the one
 * picked was taken in the meantime (the child exits early with EADDRINUSE).
 */
export async function spawnServer(options: SpawnServerOptions = {}): Promise<ServerProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await spawnOnce(options, await findFreePort());
    } catch (error) {
      lastError = error;
      if (!(error instanceof Error && error.message.includes('EADDRINUSE'))) throw error;
    }
  }
  throw lastError;
}

async function spawnOnce(options: SpawnServerOptions, port: number): Promise<ServerProcess> {
  const script = options.script ?? SERVER_SCRIPT;
  const nodeArgs = options.nodeArgs ?? sourceServerNodeArgs();
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: REPO_ROOT,
    env: {
      ...inheritedEnv(),
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      ...options.env,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    // spawn reports the reason asynchronously through 'error'.
    const reason = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not start ${script}: ${reason.message}`);
  }
  const pid = child.pid;

  let tail = '';
  const record = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
    options.onOutput?.(text);
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);

  let alive = true;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      resolve({ code, signal });
    });
  });

  const signal = (name: NodeJS.Signals) => {
    if (!alive) return;
    try {
      process.kill(pid, name);
    } catch (error) {
      // ESRCH: it exited between the check and the signal.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };

  const server: ServerProcess = {
    pid,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    child,
    exited,
    get alive() {
      return alive;
    },
    output: () => tail,
    async kill() {
      signal('SIGKILL');
      return exited;
    },
    async stop(graceMs = 10_000) {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };

  try {
    await waitUntilReady(server, options.readyPath ?? '/readyz', options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server;
}

async function waitUntilReady(
  server: ServerProcess,
  readyPath: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!server.alive) {
      const { code, signal } = await server.exited;
      throw new Error(
        `server (pid ${server.pid}) exited before it was ready (code ${code}, signal ${signal}):\n` +
          server.output(),
      );
    }
    try {
      const res = await fetch(`${server.baseUrl}${readyPath}`, {
        signal: AbortSignal.timeout(2000),
      });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(
    `server (pid ${server.pid}) was not ready within ${timeoutMs} ms:\n${server.output()}`,
  );
}
