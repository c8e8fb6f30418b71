// Frozen in time: never edit a migration that has shipped; add a new one.
// Rollups for the stats (GET /api/call-history/stats): sums of the calls per period, kept by
// triggers on every write path (ingest, merges, the sweeper, erasure, retention, imports) and
// filled here for the calls already stored. A stats request whose only filter is a time range
// reads a few thousand rollup rows instead of every call in the range (200k for a year of the
// largest tenant); the edges of the range that are not whole periods are read from `calls`.
//
// A tenant's calls are sparse in time (~550 a day for the largest), so a rollup per quarter hour
// would hold nearly as many rows as there are calls. Periods are therefore nested, and each read
// takes the coarsest that fits (see call-stats.ts, planRanges):
//   call_rollup_slots      per (tenant, UTC hour | UTC day): calls by status, inbound, by
//                          sentiment, duration count and sum (integer milliseconds), cost count
//                          and sum (micro-dollars). The series and every total come from these.
//   call_rollup_agents     per (tenant, UTC day | UTC month, agent): calls.
//   call_rollup_durations  per (tenant, UTC day | UTC month, duration bin): calls with a duration.
// `span` says which period a row sums ('h', 'd', 'm') and `period` is the matching prefix of the
// ISO start time ('2025-03-04T17', '2025-03-04', '2025-03'), so a range of periods is a range
// of text in the (tenant, span, period) index.
//
// Duration bins (call_rollup_duration_bins) are one second wide below a minute, then about 5 %
// wide (integer bounds), so no bin holds a large share of the calls: an exact percentile finds
// its bin from the rollups, then walks only that bin's durations (calls_tenant_duration_started_idx).
//
// Writes differ by dialect, reads do not:
// - SQLite has one writer (a write holds the database's lock), so a row of the current hour is no
//   point of contention: its triggers UPSERT one row per (tenant, span, period[, agent|bin]).
//   Nothing to compact, reads never sum pending rows, and rows a delete or a move leaves counting
//   no call are removed by the trigger.
// - PostgreSQL has many concurrent writers (several server instances share the database); an
//   UPSERT would make every write of a tenant wait on the row of the current hour. Its trigger
//   only INSERTs delta rows (+1 for the new values, -1 for the old; one row of differences when
//   an update keeps the call in its hour), marked `pending`; the compactor (maintenance service)
//   folds each group's rows into one (DELETE … RETURNING, then INSERT the sum, in one statement:
//   exact with concurrent writers and compactors).
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from '../migrator.js';

/** Every call status (calls.schemas.ts CALL_STATUSES when this was written) and its column. */
const STATUS_COLUMNS = [
  ['ringing', 'ringing'],
  ['in-progress', 'in_progress'],
  ['completed', 'completed'],
  ['missed', 'missed'],
  ['failed', 'failed'],
] as const;

/** One call's part of a value column, as SQL over a call row and a sign ('1' or '-1'). */
type Value = (row: string, sign: string) => string;

/** The slots' value columns and each one's SQL. */
function slotValues(dialect: MigrationDialect): Array<[string, Value]> {
  // Milliseconds rounded half up the same way on both engines (PostgreSQL's round() of a double
  // rounds half to even; SQLite's CAST truncates, which is floor for durations, never negative).
  const milliseconds = (row: string) =>
    dialect === 'postgres'
      ? `floor(${row}.duration * 1000 + 0.5)::bigint`
      : `CAST(${row}.duration * 1000 + 0.5 AS INTEGER)`;
  const when = (condition: string, value: string) =>
    `CASE WHEN ${condition} THEN ${value} ELSE 0 END`;
  return [
    ...STATUS_COLUMNS.map(([status, column]): [string, Value] => [
      column,
      (row, sign) => when(`${row}.status = '${status}'`, sign),
    ]),
    ['inbound', (row, sign) => when(`${row}.direction = 'inbound'`, sign)],
    ['positive', (row, sign) => when(`${row}.sentiment = 'positive'`, sign)],
    ['negative', (row, sign) => when(`${row}.sentiment = 'negative'`, sign)],
    ['neutral', (row, sign) => when(`${row}.sentiment = 'neutral'`, sign)],
    ['duration_count', (row, sign) => when(`${row}.duration IS NOT NULL`, sign)],
    [
      'duration_ms',
      (row, sign) => when(`${row}.duration IS NOT NULL`, `${sign} * ${milliseconds(row)}`),
    ],
    ['cost_count', (row, sign) => when(`${row}.cost_micros IS NOT NULL`, sign)],
    [
      'cost_micros',
      (row, sign) => when(`${row}.cost_micros IS NOT NULL`, `${sign} * ${row}.cost_micros`),
    ],
  ];
}

const BIG_COLUMNS = new Set(['duration_ms', 'cost_micros']);

/** The periods each rollup keeps: span code and the length of the started_at prefix. */
const SLOT_SPANS = [
  ['h', 13],
  ['d', 10],
] as const;
const DAY_MONTH_SPANS = [
  ['d', 10],
  ['m', 7],
] as const;

interface Rollup {
  readonly table: string;
  readonly spans: ReadonlyArray<readonly [string, number]>;
  /** The dimension beside the period (agent or bin): its column, and its SQL over a call row. */
  readonly dimension?: { column: string; type: string; of: (row: string) => string };
  readonly values: Array<[string, Value]>;
  /** Which calls count at all (durations: those with one), as SQL over a call row. */
  readonly counts?: (row: string) => string;
}

const BIN_OF = (value: string) =>
  `coalesce((SELECT b.bin FROM call_rollup_duration_bins b WHERE b.lo <= ${value}
    ORDER BY b.lo DESC LIMIT 1), 0)`;

function rollups(dialect: MigrationDialect): Rollup[] {
  return [
    {
      table: 'call_rollup_slots',
      spans: SLOT_SPANS,
      values: slotValues(dialect),
    },
    {
      table: 'call_rollup_agents',
      spans: DAY_MONTH_SPANS,
      dimension: { column: 'agent_id', type: 'text', of: (row) => `${row}.agent_id` },
      values: [['calls', (_row, sign) => sign]],
    },
    {
      table: 'call_rollup_durations',
      spans: DAY_MONTH_SPANS,
      dimension: { column: 'bin', type: 'integer', of: (row) => BIN_OF(`${row}.duration`) },
      values: [['calls', (_row, sign) => sign]],
      counts: (row) => `${row}.duration IS NOT NULL`,
    },
  ];
}

/** Bins of about 5 %: [0,1) … [59,60), then integer bounds 60, 63, 67, … ; the last is open. */
function durationBins(): Array<{ bin: number; lo: number; hi: number | null }> {
  const bounds: number[] = [];
  for (let second = 0; second < 60; second++) bounds.push(second);
  // Up to 30 days (the longest duration accepted); the last bin is open above.
  for (let lo = 60; lo <= 30 * 24 * 3600; lo = Math.ceil(lo * 1.05)) bounds.push(lo);
  return bounds.map((lo, bin) => ({ bin, lo, hi: bounds[bin + 1] ?? null }));
}

const keyColumns = (rollup: Rollup) => [
  'tenant_id',
  'span',
  'period',
  ...(rollup.dimension ? [rollup.dimension.column] : []),
];
const valueColumns = (rollup: Rollup) => rollup.values.map(([column]) => column);

async function createTables(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  const postgres = dialect === 'postgres';
  await sql`${sql.raw(`CREATE TABLE call_rollup_duration_bins (
      bin integer PRIMARY KEY,
      lo double precision NOT NULL UNIQUE,
      hi double precision
    )`)}`.execute(db);
  for (const { bin, lo, hi } of durationBins()) {
    await sql`INSERT INTO call_rollup_duration_bins (bin, lo, hi) VALUES (${bin}, ${lo}, ${hi})`.execute(
      db,
    );
  }

  for (const rollup of rollups(dialect)) {
    const columns = [
      'tenant_id text NOT NULL',
      'span text NOT NULL',
      `period text ${postgres ? 'COLLATE "C" ' : ''}NOT NULL`,
      ...(rollup.dimension ? [`${rollup.dimension.column} ${rollup.dimension.type} NOT NULL`] : []),
      ...valueColumns(rollup).map(
        (column) => `${column} ${BIG_COLUMNS.has(column) ? 'bigint' : 'integer'} NOT NULL`,
      ),
    ];
    const key = keyColumns(rollup).join(', ');
    if (postgres) {
      // Delta rows: no unique key. `pending` marks rows the compactor has not summed yet.
      await sql`${sql.raw(`CREATE TABLE ${rollup.table} (
          ${[...columns, 'pending boolean NOT NULL DEFAULT true'].join(',\n')}
        )`)}`.execute(db);
      await sql`${sql.raw(`CREATE INDEX ${rollup.table}_idx ON ${rollup.table} (${key})`)}`.execute(
        db,
      );
      await sql`${sql.raw(`CREATE INDEX ${rollup.table}_pending_idx ON ${rollup.table} (${key})
          WHERE pending`)}`.execute(db);
    } else {
      await sql`${sql.raw(`CREATE TABLE ${rollup.table} (
          ${[...columns, `PRIMARY KEY (${key})`].join(',\n')}
        ) WITHOUT ROWID`)}`.execute(db);
    }
  }

  // An exact percentile walks one bin's durations within the time range, in duration order.
  await sql`CREATE INDEX calls_tenant_duration_started_idx ON calls (tenant_id, duration, started_at)
    WHERE duration IS NOT NULL`.execute(db);
}

/** The calls already stored, one grouped pass per rollup and period kind. */
async function backfill(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  for (const rollup of rollups(dialect)) {
    for (const [span, length] of rollup.spans) {
      const period = `substr(calls.started_at, 1, ${length})`;
      const groups = [
        'calls.tenant_id',
        period,
        ...(rollup.dimension ? [rollup.dimension.of('calls')] : []),
      ];
      const columns = [
        ...keyColumns(rollup),
        ...valueColumns(rollup),
        ...(dialect === 'postgres' ? ['pending'] : []),
      ];
      await sql`${sql.raw(`INSERT INTO ${rollup.table} (${columns.join(', ')})
          SELECT calls.tenant_id, '${span}', ${groups.slice(1).join(', ')},
            ${rollup.values.map(([, value]) => `sum(${value('calls', '1')})`).join(', ')}
            ${dialect === 'postgres' ? ', false' : ''}
          FROM calls ${rollup.counts ? `WHERE ${rollup.counts('calls')}` : ''}
          GROUP BY ${groups.join(', ')}`)}`.execute(db);
    }
  }
}

// ---- Triggers ---------------------------------------------------------------------------

/** A rollup row's key for a call row (`new` or `old`) and one of the rollup's period kinds. */
function keyOf(rollup: Rollup, [span, length]: readonly [string, number], row: string): string[] {
  return [
    `${row}.tenant_id`,
    `'${span}'`,
    `substr(${row}.started_at, 1, ${length})`,
    ...(rollup.dimension ? [rollup.dimension.of(row)] : []),
  ];
}

const valuesOf = (rollup: Rollup, row: string, sign: string) =>
  rollup.values.map(([, value]) => value(row, sign));
const counts = (rollup: Rollup, row: string) => (rollup.counts ? rollup.counts(row) : 'true');
const hourOf = (row: string) => `substr(${row}.started_at, 1, 13)`;
const dayOf = (row: string) => `substr(${row}.started_at, 1, 10)`;
const SLOT_VALUE_READS = ['status', 'direction', 'sentiment', 'duration', 'cost_micros'];

// ---- SQLite: upserts -------------------------------------------------------------------
//
// A statement in a trigger costs a few microseconds even when its WHERE is false (its cursors
// open first), so each kind of change has its own trigger, whose WHEN SQLite checks first: a
// call's completion (status, duration, sentiment, cost) runs four small statements.

function sqliteUpsert(
  rollup: Rollup,
  span: readonly [string, number],
  row: 'new' | 'old',
  where = counts(rollup, row),
): string {
  const values = valueColumns(rollup);
  // The WHERE also settles SQLite's parse of INSERT … SELECT … ON CONFLICT.
  return `INSERT INTO ${rollup.table} (${[...keyColumns(rollup), ...values].join(', ')})
    SELECT ${[...keyOf(rollup, span, row), ...valuesOf(rollup, row, row === 'new' ? '1' : '-1')].join(', ')}
    WHERE ${where}
    ON CONFLICT (${keyColumns(rollup).join(', ')}) DO UPDATE SET
      ${values.map((column) => `${column} = ${column} + excluded.${column}`).join(', ')};`;
}

/** Removes the row `old` was counted in if no call counts in it any more. */
function sqliteRemoveEmpty(rollup: Rollup, span: readonly [string, number]): string {
  const empty =
    rollup.table === 'call_rollup_slots'
      ? STATUS_COLUMNS.map(([, column]) => `${column} = 0`).join(' AND ')
      : 'calls = 0';
  const key = keyOf(rollup, span, 'old').map((value, i) => `${keyColumns(rollup)[i]} = ${value}`);
  return `DELETE FROM ${rollup.table} WHERE ${counts(rollup, 'old')} AND ${key.join(' AND ')}
    AND ${empty};`;
}

/** A call that stays in its row: the row gains the difference of the new values and the old. */
function sqliteAddDifference(rollup: Rollup, span: readonly [string, number]): string {
  const key = keyOf(rollup, span, 'new').map((value, i) => `${keyColumns(rollup)[i]} = ${value}`);
  return `UPDATE ${rollup.table} SET ${rollup.values
    .map(
      ([column, value]) =>
        `${column} = ${column} + ((${value('new', '1')}) - (${value('old', '1')}))`,
    )
    .join(', ')}
    WHERE ${key.join(' AND ')};`;
}

/** A call that moves: out of its old rows, into its new ones. */
const sqliteMove = (rollup: Rollup) =>
  rollup.spans.flatMap((span) => [
    sqliteUpsert(rollup, span, 'old'),
    sqliteRemoveEmpty(rollup, span),
    sqliteUpsert(rollup, span, 'new'),
  ]);

async function createSqliteTriggers(db: Kysely<any>): Promise<void> {
  const [slots, agents, durations] = rollups('sqlite') as [Rollup, Rollup, Rollup];
  const firstDuration = `old.duration IS NULL AND new.duration IS NOT NULL
    AND ${dayOf('new')} IS ${dayOf('old')}`;
  const triggers: Array<[name: string, event: string, when: string, statements: string[]]> = [
    [
      'insert',
      'INSERT',
      'true',
      [slots, agents].flatMap((rollup) =>
        rollup.spans.map((span) => sqliteUpsert(rollup, span, 'new')),
      ),
    ],
    [
      'insert_duration',
      'INSERT',
      'new.duration IS NOT NULL',
      durations.spans.map((span) => sqliteUpsert(durations, span, 'new')),
    ],
    [
      'delete',
      'DELETE',
      'true',
      [slots, agents, durations].flatMap((rollup) =>
        rollup.spans.flatMap((span) => [
          sqliteUpsert(rollup, span, 'old'),
          sqliteRemoveEmpty(rollup, span),
        ]),
      ),
    ],
    // Status, duration, sentiment, cost: the call stays in its hour.
    [
      'update',
      `UPDATE OF ${SLOT_VALUE_READS.join(', ')}`,
      `${hourOf('new')} IS ${hourOf('old')}
        AND (${SLOT_VALUE_READS.map((column) => `new.${column} IS NOT old.${column}`).join(' OR ')})`,
      slots.spans.map((span) => sqliteAddDifference(slots, span)),
    ],
    [
      'update_hour',
      'UPDATE OF started_at',
      `${hourOf('new')} IS NOT ${hourOf('old')}`,
      sqliteMove(slots),
    ],
    [
      'update_agent',
      'UPDATE OF agent_id, started_at',
      `new.agent_id IS NOT old.agent_id OR ${dayOf('new')} IS NOT ${dayOf('old')}`,
      sqliteMove(agents),
    ],
    // A completion: the call gets its first duration.
    [
      'update_first_duration',
      'UPDATE OF duration',
      firstDuration,
      durations.spans.map((span) => sqliteUpsert(durations, span, 'new')),
    ],
    // Any other change of the duration moves the call out of its bin and into the new one (maybe
    // the same): cheaper than looking both bins up to compare them.
    [
      'update_duration',
      'UPDATE OF duration, started_at',
      `(new.duration IS NOT old.duration
          OR (${dayOf('new')} IS NOT ${dayOf('old')} AND new.duration IS NOT NULL))
        AND NOT (${firstDuration})`,
      sqliteMove(durations),
    ],
  ];
  for (const [name, event, when, statements] of triggers) {
    await sql`${sql.raw(`CREATE TRIGGER calls_rollups_${name} AFTER ${event} ON calls
      WHEN ${when}
      BEGIN
        ${statements.join('\n')}
      END`)}`.execute(db);
  }
}

// ---- PostgreSQL: delta inserts -----------------------------------------------------------

/** One INSERT of delta rows: for each call row and sign given, one per period kind. */
function postgresInsert(rollup: Rollup, rows: ReadonlyArray<['NEW' | 'OLD', string]>): string {
  const columns = [...keyColumns(rollup), ...valueColumns(rollup)];
  const tuples = rows.flatMap(([row, sign]) =>
    rollup.spans.map(
      (span) => `(${[...keyOf(rollup, span, row), ...valuesOf(rollup, row, sign)].join(', ')})`,
    ),
  );
  return `INSERT INTO ${rollup.table} (${columns.join(', ')}) VALUES ${tuples.join(',\n')};`;
}

async function createPostgresTriggers(db: Kysely<any>): Promise<void> {
  const [slots, agents, durations] = rollups('postgres') as [Rollup, Rollup, Rollup];
  const changed = (columns: readonly string[]) =>
    columns.map((column) => `NEW.${column} IS DISTINCT FROM OLD.${column}`).join(' OR ');
  const difference = slots.spans.map(
    (span) =>
      `(${[
        ...keyOf(slots, span, 'NEW'),
        ...slots.values.map(([, value]) => `(${value('NEW', '1')}) - (${value('OLD', '1')})`),
      ].join(', ')})`,
  );
  const dayMoved = `${dayOf('NEW')} <> ${dayOf('OLD')}`;
  await sql`${sql.raw(`CREATE FUNCTION callmind_rollup_calls() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        ${postgresInsert(slots, [['NEW', '1']])}
        ${postgresInsert(agents, [['NEW', '1']])}
        IF NEW.duration IS NOT NULL THEN
          ${postgresInsert(durations, [['NEW', '1']])}
        END IF;
      ELSIF TG_OP = 'DELETE' THEN
        ${postgresInsert(slots, [['OLD', '-1']])}
        ${postgresInsert(agents, [['OLD', '-1']])}
        IF OLD.duration IS NOT NULL THEN
          ${postgresInsert(durations, [['OLD', '-1']])}
        END IF;
      ELSE
        -- A call that stays in its hour adds one row of differences per period kind.
        IF ${hourOf('NEW')} = ${hourOf('OLD')} THEN
          IF ${changed(SLOT_VALUE_READS)} THEN
            INSERT INTO call_rollup_slots (${[...keyColumns(slots), ...valueColumns(slots)].join(', ')})
              VALUES ${difference.join(',\n')};
          END IF;
        ELSE
          ${postgresInsert(slots, [
            ['OLD', '-1'],
            ['NEW', '1'],
          ])}
        END IF;
        IF NEW.agent_id IS DISTINCT FROM OLD.agent_id OR ${dayMoved} THEN
          ${postgresInsert(agents, [
            ['OLD', '-1'],
            ['NEW', '1'],
          ])}
        END IF;
        IF ${changed(['duration'])} OR ${dayMoved} THEN
          IF OLD.duration IS NOT NULL THEN
            ${postgresInsert(durations, [['OLD', '-1']])}
          END IF;
          IF NEW.duration IS NOT NULL THEN
            ${postgresInsert(durations, [['NEW', '1']])}
          END IF;
        END IF;
      END IF;
      RETURN NULL;
    END $$`)}`.execute(db);
  await sql`
    CREATE TRIGGER calls_rollups AFTER INSERT OR UPDATE OR DELETE ON calls
    FOR EACH ROW EXECUTE FUNCTION callmind_rollup_calls()`.execute(db);
}

export async function up(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  await createTables(db, dialect);
  // Triggers before the backfill: on PostgreSQL, CREATE TRIGGER locks out writers until the
  // migration commits, so no write can land between the backfill's snapshot and its trigger.
  if (dialect === 'postgres') await createPostgresTriggers(db);
  else await createSqliteTriggers(db);
  await backfill(db, dialect);
  // Planner statistics now, not when autovacuum gets to it: the stats queries join these.
  if (dialect === 'postgres') {
    await sql`ANALYZE call_rollup_slots, call_rollup_agents, call_rollup_durations`.execute(db);
  }
}

export async function down(db: Kysely<any>, dialect: MigrationDialect): Promise<void> {
  if (dialect === 'postgres') {
    await sql`DROP TRIGGER calls_rollups ON calls`.execute(db);
    await sql`DROP FUNCTION callmind_rollup_calls()`.execute(db);
  } else {
    for (const name of [
      'insert',
      'insert_duration',
      'delete',
      'update',
      'update_hour',
      'update_agent',
      'update_first_duration',
      'update_duration',
    ]) {
      await sql`${sql.raw(`DROP TRIGGER calls_rollups_${name}`)}`.execute(db);
    }
  }
  await sql`DROP INDEX calls_tenant_duration_started_idx`.execute(db);
  for (const rollup of rollups(dialect).reverse()) {
    await sql`${sql.raw(`DROP TABLE ${rollup.table}`)}`.execute(db);
  }
  await sql`DROP TABLE call_rollup_duration_bins`.execute(db);
}
