// The stats rollups on both dialects: after random inserts, updates and deletes (and, on
// PostgreSQL, compactions in between) every rollup sums to what the calls hold; stats read from
// the rollups equal stats read from the calls; concurrent writers and compactors lose nothing.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/db/database.js';
import { createCallRollupRepository } from '../../src/modules/calls/call-rollups.repository.js';
import { createCallRepository } from '../../src/modules/calls/calls.repository.js';
import { createMaintenanceRepository } from '../../src/modules/maintenance/maintenance.repository.js';
import { createMaintenanceService } from '../../src/modules/maintenance/maintenance.service.js';
import type { CallStatsQuery } from '../../src/modules/calls/calls.schemas.js';
import { DEV_AUTH_CONTEXT } from '../../src/modules/identity/identity.js';
import { newCallRow, prng, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const TENANTS = [DEV_AUTH_CONTEXT.tenantId, 'tenant_rollup_b'];
const AGENTS = ['agent_r1', 'agent_r2', 'agent_r3'];
const STATUSES = ['ringing', 'in-progress', 'completed', 'missed', 'failed'];
const START = Date.parse('2024-12-20T00:00:00Z');
const SPAN = 50 * 86_400_000;

type Random = () => number;
const pick = <T>(random: Random, list: readonly T[]): T =>
  list[Math.floor(random() * list.length)]!;

/** The fields the rollups read, drawn at random (durations with fractions, zero, long ones). */
function randomFields(random: Random) {
  const duration =
    random() < 0.25
      ? null
      : pick(random, [0, 0.4, 59.9995, 60, 61.5, 3600.25]) * (random() < 0.5 ? 1 : 0) +
        Math.floor(random() * 2000) +
        (random() < 0.3 ? Math.round(random() * 1000) / 1000 : 0);
  return {
    started_at: new Date(START + Math.floor(random() * SPAN)).toISOString(),
    status: pick(random, STATUSES),
    agent_id: pick(random, AGENTS),
    direction: random() < 0.6 ? 'inbound' : 'outbound',
    sentiment: pick(random, ['positive', 'negative', 'neutral', null]),
    duration,
    cost_micros: random() < 0.3 ? null : Math.floor(random() * 5_000_000),
  };
}

const SLOT_SPANS = [
  ['h', 13],
  ['d', 10],
] as const;
const DAY_MONTH_SPANS = [
  ['d', 10],
  ['m', 7],
] as const;
const SLOT_VALUES = [
  'ringing',
  'in_progress',
  'completed',
  'missed',
  'failed',
  'inbound',
  'positive',
  'negative',
  'neutral',
  'duration_count',
  'duration_ms',
  'cost_count',
  'cost_micros',
] as const;

interface CallFields {
  tenant_id: string;
  started_at: string;
  status: string;
  agent_id: string;
  direction: string;
  sentiment: string | null;
  duration: number | null;
  cost_micros: number | string | null;
}

/** What each rollup should hold, computed here from the calls: key → values. */
function expectedRollups(calls: readonly CallFields[], bins: ReadonlyArray<{ lo: number }>) {
  const slots = new Map<string, number[]>();
  const agents = new Map<string, number[]>();
  const durations = new Map<string, number[]>();
  const add = (map: Map<string, number[]>, key: string, values: number[]) => {
    const sums = map.get(key) ?? values.map(() => 0);
    map.set(
      key,
      sums.map((sum, i) => sum + values[i]!),
    );
  };
  const binOf = (duration: number) => {
    let bin = 0;
    bins.forEach(({ lo }, i) => {
      if (lo <= duration) bin = i;
    });
    return bin;
  };
  for (const call of calls) {
    const statusColumn = call.status.replace('-', '_');
    const duration = call.duration === null ? null : Number(call.duration);
    const cost = call.cost_micros === null ? null : Number(call.cost_micros);
    const values = SLOT_VALUES.map((column) => {
      if (column === statusColumn) return 1;
      if (column === 'inbound') return call.direction === 'inbound' ? 1 : 0;
      if (column === call.sentiment) return 1;
      if (column === 'duration_count') return duration === null ? 0 : 1;
      if (column === 'duration_ms')
        return duration === null ? 0 : Math.floor(duration * 1000 + 0.5);
      if (column === 'cost_count') return cost === null ? 0 : 1;
      if (column === 'cost_micros') return cost ?? 0;
      return 0;
    });
    for (const [span, length] of SLOT_SPANS) {
      add(slots, `${call.tenant_id}|${span}|${call.started_at.slice(0, length)}`, values);
    }
    for (const [span, length] of DAY_MONTH_SPANS) {
      const period = `${call.tenant_id}|${span}|${call.started_at.slice(0, length)}`;
      add(agents, `${period}|${call.agent_id}`, [1]);
      if (duration !== null) add(durations, `${period}|${binOf(duration)}`, [1]);
    }
  }
  return { slots, agents, durations };
}

describe.each(TEST_DIALECTS)('stats rollups (%s)', (dialect: Dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(() => t.close());

  const db = () => t.database.db;

  /** Each rollup summed per group, zero groups left out: key → values. */
  async function actualRollups() {
    const read = async (
      table: string,
      dimension: string | undefined,
      values: readonly string[],
    ) => {
      const keys = ['tenant_id', 'span', 'period', ...(dimension ? [dimension] : [])];
      const { rows } = await sql<Record<string, string | number>>`SELECT ${sql.raw(
        keys.join(', '),
      )}, ${sql.raw(values.map((value) => `sum(${value}) AS ${value}`).join(', '))}
        FROM ${sql.table(table)} GROUP BY ${sql.raw(keys.join(', '))}`.execute(db());
      const map = new Map<string, number[]>();
      for (const row of rows) {
        const sums = values.map((value) => Number(row[value]));
        if (sums.every((sum) => sum === 0)) continue;
        map.set(keys.map((key) => String(row[key])).join('|'), sums);
      }
      return map;
    };
    return {
      slots: await read('call_rollup_slots', undefined, SLOT_VALUES),
      agents: await read('call_rollup_agents', 'agent_id', ['calls']),
      durations: await read('call_rollup_durations', 'bin', ['calls']),
    };
  }

  async function expected() {
    const calls = await db()
      .selectFrom('calls')
      .select([
        'tenant_id',
        'started_at',
        'status',
        'agent_id',
        'direction',
        'sentiment',
        'duration',
        'cost_micros',
      ])
      .where('tenant_id', 'in', TENANTS)
      .execute();
    const bins = await db()
      .selectFrom('call_rollup_duration_bins')
      .select('lo')
      .orderBy('bin')
      .execute();
    return expectedRollups(calls, bins);
  }

  const sorted = (map: Map<string, number[]>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));

  async function expectRollupsMatch(label: string) {
    const [want, got] = [await expected(), await actualRollups()];
    for (const table of ['slots', 'agents', 'durations'] as const) {
      expect(sorted(got[table]), `${label}: ${table}`).toEqual(sorted(want[table]));
    }
  }

  it.runIf(dialect === 'postgres')(
    'the compactor vacuums the dead rows compaction and search indexing leave, every 30 s',
    async () => {
      const calls = createCallRepository(db(), dialect);
      for (let i = 0; i < 40; i += 1) {
        await calls.insertIfAbsent(newCallRow('tenant_vacuum', { status: 'completed' }));
      }
      // Indexing the calls deletes their notes from the search index's queue: dead rows too.
      await db()
        .transaction()
        .execute((trx) => calls.inTransaction(trx).indexPendingSearch(1_000));
      // Exact counts of dead rows, read from the table itself (not the statistics collector).
      await sql`CREATE EXTENSION IF NOT EXISTS pgstattuple`.execute(db());
      const deadIn = async (table: string) =>
        Number(
          (
            await sql<{
              n: string;
            }>`SELECT dead_tuple_count AS n FROM pgstattuple(${table})`.execute(db())
          ).rows[0]!.n,
        );
      const dead = async () => [
        await deadIn('call_rollup_slots'),
        await deadIn('call_search_pending'),
      ];
      let now = Date.parse('2026-12-05T12:00:00Z');
      const maintenance = createMaintenanceService({
        maintenance: createMaintenanceRepository(db(), dialect),
        rollups: createCallRollupRepository(db(), dialect),
        transactor: t.services.transactor,
        clock: () => new Date(now),
        retentionDays: 0,
        staleCallAfterMinutes: 0,
        publishChange: () => {},
      });
      // Compaction deletes the delta rows it folds: dead rows, kept until a vacuum.
      await maintenance.compactRollups();
      expect((await dead()).every((n) => n > 0)).toBe(true);
      now += 29_000;
      await maintenance.compactRollups();
      expect((await dead()).every((n) => n > 0)).toBe(true);
      now += 1_000;
      await maintenance.compactRollups();
      expect(await dead()).toEqual([0, 0]);
      // Tables changed much since their last ANALYZE are analyzed at the same pace. Once the
      // writes' statistics have reached pg_stat_user_tables (within seconds), the next turn
      // analyzes the rollups the writes and compactions churned.
      const stats = async () =>
        (
          await sql<{ changed: string; at: Date | null }>`
            SELECT n_mod_since_analyze AS changed, last_analyze AS at
            FROM pg_stat_user_tables WHERE relname = 'call_rollup_slots'`.execute(db())
        ).rows[0]!;
      await expect
        .poll(async () => Number((await stats()).changed), { timeout: 20_000 })
        .toBeGreaterThan(60);
      const before = (await stats()).at;
      now += 30_000;
      await maintenance.compactRollups();
      const after = (await stats()).at;
      expect(after).not.toBeNull();
      expect(after).not.toEqual(before);
      // Gone again (their rollups sum to zero), so the other tests see only their own tenants.
      await db().deleteFrom('calls').where('tenant_id', '=', 'tenant_vacuum').execute();
    },
  );

  it('sum to what the calls hold after random inserts, updates and deletes', async () => {
    const random = prng(20261204);
    const calls = createCallRepository(db(), dialect);
    const live: Array<{ tenant: string; id: string }> = [];
    for (let step = 0; step < 400; step++) {
      const roll = random();
      if (roll < 0.45 || live.length === 0) {
        const tenant = pick(random, TENANTS);
        const row = newCallRow(tenant, randomFields(random));
        await calls.insertIfAbsent(row);
        live.push({ tenant, id: row.id });
      } else if (roll < 0.85) {
        const { tenant, id } = pick(random, live);
        // A random subset of the fields, as merges, the sweeper and imports change them.
        const fields = randomFields(random);
        const changes = Object.fromEntries(Object.entries(fields).filter(() => random() < 0.4));
        if (random() < 0.2) changes.summary = `touched ${step}`; // a change no rollup reads
        if (Object.keys(changes).length > 0) await calls.update(tenant, id, changes);
      } else {
        const [gone] = live.splice(Math.floor(random() * live.length), 1);
        await calls.delete(gone!.tenant, gone!.id);
      }
      if (step % 97 === 0) await t.services.maintenance.compactRollups();
      if (step % 133 === 0) await expectRollupsMatch(`step ${step}`);
    }
    await expectRollupsMatch('before compaction');

    await t.services.maintenance.compactRollups();
    await expectRollupsMatch('after compaction');
    // Compacted, every group is one row and none sums to nothing (SQLite: always).
    for (const table of ['call_rollup_slots', 'call_rollup_agents', 'call_rollup_durations']) {
      const dimension =
        table === 'call_rollup_agents'
          ? ', agent_id'
          : table === 'call_rollup_durations'
            ? ', bin'
            : '';
      const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM (
          SELECT 1 FROM ${sql.table(table)} GROUP BY tenant_id, span, period${sql.raw(dimension)}
          HAVING count(*) > 1) AS duplicated`.execute(db());
      expect(Number(rows[0]!.n), table).toBe(0);
      if (dialect === 'postgres') {
        const pending = await sql<{ n: number | string }>`SELECT count(*) AS n
          FROM ${sql.table(table)} WHERE pending`.execute(db());
        expect(Number(pending.rows[0]!.n), `${table} pending`).toBe(0);
      }
    }
    const emptySlots = await sql<{ n: number | string }>`SELECT count(*) AS n FROM call_rollup_slots
      WHERE ringing = 0 AND in_progress = 0 AND completed = 0 AND missed = 0 AND failed = 0`.execute(
      db(),
    );
    expect(Number(emptySlots.rows[0]!.n)).toBe(0);
  }, 120_000);

  it('give the stats the calls give, for random ranges, zones and buckets', async () => {
    const random = prng(42);
    const zones = [
      'UTC',
      'Asia/Kathmandu',
      'Asia/Kolkata',
      'America/St_Johns',
      'Europe/Lisbon',
      'America/New_York',
      'Australia/Lord_Howe',
    ];
    const instant = () => START - 86_400_000 + Math.floor(random() * (SPAN + 2 * 86_400_000));
    for (let i = 0; i < 60; i++) {
      const a = instant();
      const b = instant();
      const bucket = pick(random, ['hour', 'day', 'week'] as const);
      const query: CallStatsQuery = {
        bucket,
        tz: pick(random, zones),
        ...(random() < 0.85 && a !== b ? { from: new Date(Math.min(a, b)).toISOString() } : {}),
        ...(random() < 0.85 && a !== b ? { to: new Date(Math.max(a, b)).toISOString() } : {}),
      };
      if (bucket === 'hour' && (query.from === undefined || query.to === undefined)) {
        query.bucket = 'day';
      }
      const fromRollups = await t.services.calls.stats(DEV_AUTH_CONTEXT, query);
      // Naming every agent matches the same calls, but takes the path that reads the calls.
      const fromCalls = await t.services.calls.stats(DEV_AUTH_CONTEXT, {
        ...query,
        agentId: AGENTS.join(','),
      });
      expect(fromRollups, JSON.stringify(query)).toEqual(fromCalls);
    }
  }, 120_000);

  it.runIf(dialect === 'postgres')(
    'lose nothing to concurrent writers and two compactors',
    async () => {
      const tenant = uniqueId('org_concurrent_');
      const random = prng(7);
      const rows = Array.from({ length: 60 }, () => newCallRow(tenant, randomFields(random)));
      const writers = rows.map(async (row, i) => {
        const calls = createCallRepository(db(), dialect);
        await calls.insertIfAbsent(row);
        await calls.update(tenant, row.id, {
          status: 'completed',
          duration: 10 + i,
          sentiment: 'positive',
        });
        if (i % 3 === 0) await calls.delete(tenant, row.id);
      });
      const compactors = Array.from({ length: 6 }, async () => {
        for (let round = 0; round < 5; round++) {
          await t.services.maintenance.compactRollups();
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      });
      await Promise.all([...writers, ...compactors]);
      await t.services.maintenance.compactRollups();
      const { rows: sums } = await sql<{ completed: string; duration_ms: string }>`
        SELECT sum(completed) AS completed, sum(duration_ms) AS duration_ms
        FROM call_rollup_slots WHERE tenant_id = ${tenant} AND span = 'd'`.execute(db());
      const kept = rows.map((_, i) => i).filter((i) => i % 3 !== 0);
      expect(Number(sums[0]!.completed)).toBe(kept.length);
      expect(Number(sums[0]!.duration_ms)).toBe(kept.reduce((sum, i) => sum + (10 + i) * 1000, 0));
    },
    60_000,
  );
});
