// The dashboard in a real browser, for the browser tests and bench:dashboard alike: Debian's
// Chromium driven by playwright-core, and the app built as `npm run build` builds it.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { REPO_ROOT } from './server-process.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const hasChromium = (): boolean => fs.existsSync(CHROMIUM_PATH);

/** Headless Chromium; without the networking flags it keeps calling hosts this machine cannot reach. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * Builds the app into `outDir` (dist/web by default) under NODE_ENV=production, as
 * `npm run build` does: under NODE_ENV=test (vitest's) React's JSX would be built for development.
 */
export async function buildDashboard(outDir?: string): Promise<void> {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: path.join(REPO_ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      ...(outDir === undefined ? {} : { build: { outDir, emptyOutDir: true } }),
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}
