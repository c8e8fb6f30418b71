// What each thread loads when the server starts, read from the static import graph of its entry
// modules (esbuild's metafile; dynamic imports and the PostgreSQL driver's require() are not
// followed, as they are not run at start). Every module loaded is heap in that thread's isolate
// for the life of the process: the PostgreSQL driver is about 3 MiB on a server that runs on
// SQLite, and SQLite's writer thread, which only runs the write steps, loaded the driver and
// the schema library too until its imports were narrowed (with the server's own pg and Clerk,
// 10–20 MB of resident memory at rest).
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** The packages in the static import closure of `entries` (names as in node_modules). */
async function packagesLoadedAtStart(entries: readonly string[]): Promise<Set<string>> {
  const { metafile } = await build({
    entryPoints: entries.map((entry) => path.join(root, entry)),
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    outdir: 'unused',
    platform: 'node',
    format: 'esm',
    // A native addon esbuild cannot bundle; it is a leaf here.
    external: ['better-sqlite3'],
    logLevel: 'silent',
  });
  return packagesOf(staticClosure(metafile, entries));
}

function staticClosure(metafile: Metafile, entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...entries];
  for (let input = pending.pop(); input !== undefined; input = pending.pop()) {
    if (seen.has(input)) continue;
    seen.add(input);
    for (const imported of metafile.inputs[input]?.imports ?? []) {
      if (imported.kind === 'dynamic-import') continue;
      if (imported.external) {
        if (!isBuiltin(imported.path)) seen.add(`node_modules/${imported.path}/`);
      } else {
        pending.push(imported.path);
      }
    }
  }
  return seen;
}

function packagesOf(files: Set<string>): Set<string> {
  const packages = new Set<string>();
  for (const file of files) {
    const inModules = file.split('node_modules/').at(-1);
    if (inModules === undefined || inModules === file) continue;
    const parts = inModules.split('/');
    packages.add(parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return packages;
}

describe('modules loaded at start', () => {
  it("SQLite's writer thread loads Kysely and the SQLite driver, nothing else", async () => {
    const packages = await packagesLoadedAtStart([
      'src/db/sqlite-writer-worker.ts',
      'src/write-steps.ts',
    ]);
    expect([...packages].sort()).toEqual(['better-sqlite3', 'kysely']);
  });

  it('the server loads neither the PostgreSQL driver nor Clerk until it needs them', async () => {
    const packages = await packagesLoadedAtStart(['src/main.ts']);
    // The check is only worth something if the graph was followed into the server's packages.
    expect(packages).toContain('fastify');
    expect(packages).toContain('kysely');
    expect(packages).not.toContain('pg');
    expect(packages).not.toContain('@clerk/backend');
  });
});
