// The command the server runs with: `npm start` and the Docker image pass node the same heap
// flags (README, "Memory: the heap flags npm start sets"), and this Node accepts them and caps
// the young generation with them. A Node whose V8 dropped a flag fails here, not in production.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pathToFileURL } from 'node:url';
import { WORKER_YOUNG_GENERATION_MB } from '../../src/db/worker-heap.js';
import { REPO_ROOT, startScriptNodeArgs } from '../setup/server-process.js';

/** The Dockerfile's exec-form CMD, as the array it is. */
function dockerCommand(): string[] {
  const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const match = /^CMD (\[.*\])$/m.exec(dockerfile);
  if (match === null) throw new Error('the Dockerfile has no exec-form CMD');
  return JSON.parse(match[1]!) as string[];
}

/** Allocates short-lived objects, then its isolate's new_space size. */
const CHURN = `
    const v8 = require('node:v8');
    let kept = [];
    for (let i = 0; i < 3e6; i++) {
      kept.push({ i, text: 'call ' + i });
      if (kept.length > 2e5) kept = [];
    }
    const youngGeneration = v8.getHeapSpaceStatistics()
      .find((s) => s.space_name === 'new_space').space_size;`;

/** new_space's size after churning through short-lived objects, in a node run with `flags`. */
function youngGenerationBytes(flags: readonly string[]): number {
  const churn = `${CHURN}\n process.stdout.write(String(youngGeneration));`;
  return Number(execFileSync(process.execPath, [...flags, '-e', churn], { encoding: 'utf8' }));
}

interface WorkerYoungGenerations {
  /** A worker given resourceLimits while the start flags' --max-semi-space-size is in force. */
  readonly limitsAlone: number;
  /** A worker given workerResourceLimits (src/db/worker-heap.ts), as the database's threads are. */
  readonly throughHelper: number;
  /** The main thread, churning after the helper ran. */
  readonly main: number;
}

/** The young generations of the worker threads a node with the start flags makes. */
function workerYoungGenerations(youngGenerationMb: number): WorkerYoungGenerations {
  const helper = pathToFileURL(path.join(REPO_ROOT, 'src/db/worker-heap.ts')).href;
  const script = `
    (async () => {
      const { Worker } = require('node:worker_threads');
      const source = ${JSON.stringify(CHURN + '\n require("node:worker_threads").parentPort.postMessage(youngGeneration);')};
      const measure = (resourceLimits) => new Promise((resolve, reject) => {
        const worker = new Worker(source, { eval: true, resourceLimits });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      const limitsAlone = await measure({ maxYoungGenerationSizeMb: ${youngGenerationMb} });
      const { workerResourceLimits } = await import(${JSON.stringify(helper)});
      const throughHelper = await measure(workerResourceLimits(${youngGenerationMb}));
      ${CHURN}
      process.stdout.write(JSON.stringify({ limitsAlone, throughHelper, main: youngGeneration }));
    })();`;
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', ...startScriptNodeArgs(REPO_ROOT), '-e', script],
    { encoding: 'utf8', cwd: REPO_ROOT },
  );
  return JSON.parse(output) as WorkerYoungGenerations;
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

  it("gives the database's reader threads their own smaller young generation under those flags", () => {
    const sizes = workerYoungGenerations(WORKER_YOUNG_GENERATION_MB.reader);
    const MiB = 1024 * 1024;
    // The flag alone overrides a worker's resourceLimits: the reason for the helper.
    expect(sizes.limitsAlone).toBeGreaterThan(WORKER_YOUNG_GENERATION_MB.reader * MiB);
    // Two semispaces of the three parts the limit is made of.
    expect(sizes.throughHelper).toBeLessThanOrEqual(
      (WORKER_YOUNG_GENERATION_MB.reader * MiB * 2) / 3,
    );
    // The main thread keeps the young generation the flags gave it.
    expect(sizes.main).toBeGreaterThan(WORKER_YOUNG_GENERATION_MB.reader * MiB);
    expect(sizes.main).toBeLessThanOrEqual(16 * MiB);
  });
});
