// The command the server runs with: `npm start` and the Docker image pass node the same heap
// flags (README, "Memory: the heap flags npm start sets"), and this Node accepts them and caps
// the young generation with them. A Node whose V8 dropped a flag fails here, not in production.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, startScriptNodeArgs } from '../setup/server-process.js';

/** The Dockerfile's exec-form CMD, as the array it is. */
function dockerCommand(): string[] {
  const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const match = /^CMD (\[.*\])$/m.exec(dockerfile);
  if (match === null) throw new Error('the Dockerfile has no exec-form CMD');
  return JSON.parse(match[1]!) as string[];
}

/** new_space's size after churning through short-lived objects, in a node run with `flags`. */
function youngGenerationBytes(flags: readonly string[]): number {
  const churn = `
    const v8 = require('node:v8');
    let kept = [];
    for (let i = 0; i < 3e6; i++) {
      kept.push({ i, text: 'call ' + i });
      if (kept.length > 2e5) kept = [];
    }
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(space.space_size));`;
  return Number(execFileSync(process.execPath, [...flags, '-e', churn], { encoding: 'utf8' }));
}

describe('the start command', () => {
  const startFlags = startScriptNodeArgs(REPO_ROOT);

  it('sets the heap flags, and the Docker image runs the same command', () => {
    expect(startFlags).toEqual(
      expect.arrayContaining(['--max-semi-space-size=8', '--heap-growing-percent=25']),
    );
    expect(dockerCommand()).toEqual(['node', ...startFlags, 'dist/main.js']);
  });

  it('is accepted by this Node and caps the young generation at 16 MiB', () => {
    const withFlags = youngGenerationBytes(startFlags);
    const ownSizing = youngGenerationBytes([]);
    expect(withFlags).toBeLessThanOrEqual(16 * 1024 * 1024);
    // The same churn lets V8's own sizing grow past it, so the cap is the flag's doing.
    expect(ownSizing).toBeGreaterThan(withFlags);
  });
});
