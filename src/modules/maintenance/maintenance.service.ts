// The background sweepers: retention (calls older than the tenant's or the default number of
// days go) and stale calls (a call still ringing or in progress long after it started lost its
// final event: it is ended as failed, endReason missing_final_event), then the compaction of the
// stats rollups' delta rows (PostgreSQL). Also the tenant setting they read. Each batch is its
// own short write; a sweep does a bounded amount of work, so one tick never holds the database
// for long and a backlog drains over several ticks.
import type { CallChange } from '../calls/call-stream.js';
import type { Transactor } from '../../db/transactor.js';
import type { Clock } from '../../lib/time.js';
import type { Stopping } from '../../lib/stopping.js';
import type { CallRollupRepository } from '../calls/call-rollups.repository.js';
import type { AuthContext } from '../identity/identity.js';
import type { MaintenanceRepository } from './maintenance.repository.js';

const BATCH = 500;
/**
 * How often the compactor VACUUMs the rollup tables. Each write leaves a few delta rows that
 * compaction deletes, so without a vacuum the tables fill with dead rows, and with them every
 * later insert and compaction slows: the soak test measured PostgreSQL's p99 climbing from 17 ms
 * to 27 s over ten minutes at 123 calls/s on a server with autovacuum off. Vacuuming the three
 * small tables takes milliseconds. The search index's queue of notes churns the same way and is
 * vacuumed with them.
 */
const ROLLUP_VACUUM_INTERVAL_MS = 30_000;
// At the same pace the tables that changed much since their last ANALYZE are analyzed: on a
// server with autovacuum (and so autoanalyze) off, the same soak's p99 went from 22 ms to 10 s
// in ten minutes under plans made for the empty tables, and stayed at 14-29 ms with an ANALYZE
// a minute.
/** Batches per kind of work per sweep: at most 10,000 calls ended and 10,000 deleted a tick. */
const MAX_BATCHES = 20;
const DAY_MS = 86_400_000;

export interface SweepResult {
  readonly ended: number;
  readonly deleted: number;
}

export interface RetentionSettings {
  /** The tenant's own setting: days, 0 for forever, null to follow the default. */
  readonly retentionDays: number | null;
  readonly defaultRetentionDays: number;
  /** What applies: days, or 0 for forever. */
  readonly effectiveRetentionDays: number;
}

export interface MaintenanceServiceDeps {
  readonly maintenance: MaintenanceRepository;
  readonly rollups: Pick<CallRollupRepository, 'inTransaction' | 'compacts' | 'vacuum'>;
  readonly transactor: Transactor;
  readonly clock: Clock;
  readonly retentionDays: number;
  readonly staleCallAfterMinutes: number;
  /** Tells the live streams about committed changes (calls/call-stream.ts). */
  readonly publishChange: (change: CallChange) => void;
}

export type MaintenanceService = ReturnType<typeof createMaintenanceService>;

export function createMaintenanceService({
  maintenance,
  rollups,
  transactor,
  clock,
  retentionDays,
  staleCallAfterMinutes,
  publishChange,
}: MaintenanceServiceDeps) {
  const settingsOf = (own: number | null): RetentionSettings => ({
    retentionDays: own,
    defaultRetentionDays: retentionDays,
    effectiveRetentionDays: own ?? retentionDays,
  });

  /**
   * Up to MAX_BATCHES of `work`, until one does less than a whole batch or `stopping` is set
   * (a server shutting down waits for one batch, not for the rest of a sweep).
   */
  async function inBatches(work: () => Promise<number>, stopping?: Stopping): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < MAX_BATCHES && stopping?.aborted !== true; batch++) {
      const done = await work();
      total += done;
      if (done < BATCH) break;
    }
    return total;
  }

  /**
   * PostgreSQL's rollup triggers only insert delta rows (no row is a hot spot for concurrent
   * writers), and a stats read sums every row of its periods (about 2 ms per 10,000): folding
   * each group's deltas into one row keeps those reads short. Runs after each sweep, and on its
   * own every ROLLUP_COMPACT_SECONDS. SQLite's triggers keep one row per group: nothing to do.
   * Returns how many groups were folded (in the busiest rollup).
   */
  let lastVacuum = clock().getTime();
  async function compactRollups(stopping?: Stopping): Promise<number> {
    if (!rollups.compacts) return 0;
    const compacted = await inBatches(
      () => transactor.write((trx) => rollups.inTransaction(trx).compact(BATCH)),
      stopping,
    );
    const now = clock().getTime();
    if (stopping?.aborted !== true && now - lastVacuum >= ROLLUP_VACUUM_INTERVAL_MS) {
      lastVacuum = now;
      await rollups.vacuum();
      await maintenance.vacuumSearchNotes();
      await maintenance.analyzeChanged();
    }
    return compacted;
  }

  return {
    compactRollups,

    /**
     * One sweep: stale calls ended, expired calls deleted, then the rollups compacted. Once
     * `stopping` is set it ends after the batch in hand; what is left waits for the next sweep.
     */
    async sweep(stopping?: Stopping): Promise<SweepResult> {
      const now = clock();
      let ended = 0;
      if (staleCallAfterMinutes > 0) {
        const cutoff = new Date(now.getTime() - staleCallAfterMinutes * 60_000).toISOString();
        ended = await inBatches(async () => {
          const stale = await transactor.write(async (trx) => {
            const repo = maintenance.inTransaction(trx);
            const claimed = await repo.claimStaleCalls(cutoff, BATCH);
            for (const call of claimed) await repo.endStaleCall(call, now.toISOString());
            return claimed;
          });
          for (const call of stale) {
            publishChange({ tenantId: call.tenantId, kind: 'upsert', callId: call.id });
          }
          return stale.length;
        }, stopping);
      }

      const cutoffFor = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
      /** One batch of expired calls deleted; the live streams of their tenants told. */
      const deleteBatch = async (days: number, tenantId: string | undefined) => {
        const gone = await transactor.write((trx) =>
          maintenance.inTransaction(trx).deleteExpired(cutoffFor(days), tenantId, BATCH),
        );
        for (const call of gone) {
          publishChange({ tenantId: call.tenantId, kind: 'delete', callId: call.id });
        }
        return gone.length;
      };
      let deleted = 0;
      for (const { tenantId, days } of await maintenance.retentionOverrides()) {
        if (days === 0) continue;
        deleted += await inBatches(() => deleteBatch(days, tenantId), stopping);
      }
      if (retentionDays > 0)
        deleted += await inBatches(() => deleteBatch(retentionDays, undefined), stopping);
      // After the sweeps, which add deltas of their own (calls ended, calls deleted).
      await compactRollups(stopping);
      return { ended, deleted };
    },

    async getRetention(auth: AuthContext): Promise<RetentionSettings> {
      const { retentionDays: own } = await maintenance.getSettings(auth.tenantId);
      return settingsOf(own);
    },

    async setRetention(auth: AuthContext, days: number | null): Promise<RetentionSettings> {
      await transactor.write((trx) =>
        maintenance.inTransaction(trx).setRetention(auth.tenantId, days, clock().toISOString()),
      );
      return settingsOf(days);
    },
  };
}

/**
 * Runs `sweep` every `intervalMs`, never two at once; a failed sweep is reported and retried.
 * Any periodic work fits (the rollup compaction alone, say, on a shorter interval). `stop()`
 * sets the `stopping` the sweep was given and waits for it to end: a sweep that looks at it
 * between batches keeps a shutdown's wait to one batch.
 */
export function startSweeper<T = SweepResult>(
  sweep: (stopping: Stopping) => Promise<T>,
  intervalMs: number,
  onResult: (result: T | Error) => void,
): { stop(): Promise<void> } {
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running !== undefined || stopping.signal.aborted) return;
    running = sweep(stopping.signal)
      .then(onResult, (error: unknown) =>
        onResult(error instanceof Error ? error : new Error(String(error))),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await running;
    },
  };
}
