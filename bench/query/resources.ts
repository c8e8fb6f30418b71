// What a benchmark run starts and makes: server processes (stopped by pid at the end, or if the
// run fails or is interrupted), temporary SQLite files and PostgreSQL databases (removed at the
// end), and the lines servers logged at error level. Shared by bench/query.ts and bench/suite.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Dialect } from '../../src/db/database.js';
import { searchFileOf } from '../../src/db/sqlite-search-file.js';
import { spawnServer, type ServerProcess } from '../../test/setup/server-process.js';
import { postgresUrl, withPostgresAdmin } from './databases.js';
import {
  migrateDatabase,
  postgresFixtureName,
  removeSqliteFiles,
  type Fixture,
} from './fixture.js';

export interface ServerHandle {
  readonly server: ServerProcess;
  /** Lines the server logged at error level or above, or that were not JSON. */
  readonly errorLines: () => string[];
}

/** Lines a server logged at error level or above (pino level >= 50), or that were not JSON. */
function errorLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
      } catch {
        return true;
      }
    })
    .slice(0, 20);
}

export class BenchResources {
  /** Lines servers logged at error level, and exits other than 0, by where they happened. */
  readonly serverProblems: Array<{ where: string; lines: string[] }> = [];
  private readonly started: ServerProcess[] = [];
  private readonly tempFiles: string[] = [];
  private readonly tempPostgres: string[] = [];
  private readonly runTag = Date.now().toString(36);

  /**
   * @param prefix names this run's temporary files and databases (`<prefix>-…`, and
   *   `callmind_bench_<prefix>_…`: only callmind_bench_* databases are ever created or dropped).
   * @param adminUrl an admin connection to the PostgreSQL server.
   */
  constructor(
    private readonly prefix: string,
    private readonly adminUrl: string,
  ) {}

  /**
   * A server as its own process: the real one from source unless `script` names another (with
   * `nodeArgs` instead of the TypeScript loader, for a built script).
   */
  async startServer(
    env: Record<string, string>,
    script?: string,
    nodeArgs?: readonly string[],
  ): Promise<ServerHandle> {
    let output = '';
    const server = await spawnServer({
      ...(script === undefined ? {} : { script }),
      ...(nodeArgs === undefined ? {} : { nodeArgs }),
      env,
      onOutput: (chunk) => {
        if (output.length < 1024 * 1024) output += chunk;
      },
    });
    this.started.push(server);
    return { server, errorLines: () => errorLines(output) };
  }

  async stopServer(where: string, handle: ServerHandle): Promise<void> {
    const exit = await handle.server.stop();
    const lines = handle.errorLines();
    if (exit.code !== 0) lines.push(`exited with ${JSON.stringify(exit)}`);
    if (lines.length > 0) this.serverProblems.push({ where, lines });
  }

  /** A copy of the fixture that write scenarios may change; removed at the end. */
  async copyOfFixture(fixture: Fixture, calls: number): Promise<string> {
    if (fixture.dialect === 'sqlite') {
      const copy = path.join(
        os.tmpdir(),
        'callmind-bench',
        `${this.prefix}-copy-${this.runTag}.sqlite`,
      );
      this.tempFiles.push(copy, searchFileOf(copy));
      fs.copyFileSync(fixture.location, copy);
      // The fixture's search index, made from it: the copy keeps it (src/db/sqlite-search-file.ts).
      fs.copyFileSync(searchFileOf(fixture.location), searchFileOf(copy));
      return `sqlite:${copy}`;
    }
    const name = `${postgresFixtureName(calls)}_copy_${this.runTag}`;
    this.tempPostgres.push(name);
    await withPostgresAdmin(this.adminUrl, (admin) => admin.create(name, fixture.location));
    return postgresUrl(this.adminUrl, name);
  }

  /** An empty, migrated database, with or without the search index; removed at the end. */
  async emptyDatabase(dialect: Dialect, withIndex: boolean): Promise<string> {
    const suffix = `${withIndex ? 'index' : 'noindex'}_${this.tempFiles.length + this.tempPostgres.length}`;
    if (dialect === 'sqlite') {
      const file = path.join(
        os.tmpdir(),
        'callmind-bench',
        `${this.prefix}-empty-${this.runTag}-${suffix}.sqlite`,
      );
      this.tempFiles.push(file);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const url = `sqlite:${file}`;
      await migrateDatabase(url);
      if (!withIndex) {
        const db = new BetterSqlite3(file);
        try {
          db.exec(`DROP TRIGGER calls_search_insert; DROP TRIGGER calls_search_update;
                   DROP TRIGGER calls_search_delete;`);
        } finally {
          db.close();
        }
      }
      return url;
    }
    const name = `callmind_bench_${this.prefix}_${this.runTag}_${suffix}`;
    this.tempPostgres.push(name);
    await withPostgresAdmin(this.adminUrl, (admin) => admin.create(name));
    const url = postgresUrl(this.adminUrl, name);
    await migrateDatabase(url);
    if (!withIndex) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('DROP TRIGGER calls_search ON calls');
      } finally {
        await client.end();
      }
    }
    return url;
  }

  /** Kills every server still running and removes every temporary database. */
  async cleanUp(): Promise<void> {
    await Promise.all(this.started.filter((s) => s.alive).map((s) => s.kill()));
    for (const file of this.tempFiles) removeSqliteFiles(file);
    this.tempFiles.length = 0;
    if (this.tempPostgres.length > 0) {
      const names = this.tempPostgres.splice(0);
      await withPostgresAdmin(this.adminUrl, async (admin) => {
        for (const name of names) await admin.drop(name);
      }).catch((error: unknown) => console.error('could not drop', names, error));
    }
  }
}
