import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/types.js';

export type HealthRepository = ReturnType<typeof createHealthRepository>;

export function createHealthRepository(db: Kysely<Database>) {
  return {
    /** A round trip to the database: proves the connection and the file are usable. */
    async ping(): Promise<void> {
      await sql`select 1`.execute(db);
    },
  };
}
