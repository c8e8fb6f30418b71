// The callmind CLI as an operator runs it: its own process, from source.
import { execFile } from 'node:child_process';
import { REPO_ROOT } from './server-process.js';

export const CLI_ARGS = ['--import', 'tsx', 'src/cli/main.ts'];
export const CLI_TIMEOUT_MS = 30_000;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Only what the CLI reads, so a DATABASE_URL or NODE_ENV in the developer's shell cannot leak in. */
export function cliEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', ...extra };
}

export function runCli(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...CLI_ARGS, ...args],
      { cwd: REPO_ROOT, env, timeout: CLI_TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (error === null) return resolve({ code: 0, stdout, stderr });
        // A number is the exit status; anything else (a timeout's kill, a failed spawn) is not
        // an answer from the CLI.
        if (typeof error.code === 'number') return resolve({ code: error.code, stdout, stderr });
        reject(new Error(`callmind ${args.join(' ')} did not finish: ${stderr}`, { cause: error }));
      },
    );
  });
}
