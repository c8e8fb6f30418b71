// PostgreSQL's single-statement writes: what each statement settles, what it leaves to the
// locking transaction, and that a merge never overwrites a change it did not read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectTransactor } from '../../src/db/transactor.js';
import { createAgentRepository } from '../../src/modules/agents/agents.repository.js';
import { createAgentService } from '../../src/modules/agents/agents.service.js';
import { createCallRepository } from '../../src/modules/calls/calls.repository.js';
import { createPostgresCallWrites, type IngestWrite } from '../../src/modules/calls/call-writes.js';
import {
  createPostgresCallWriteRepository,
  type PostgresCallWriteRepository,
} from '../../src/modules/calls/postgres-call-writes.repository.js';
import type { AuthContext } from '../../src/modules/identity/identity.js';
import { createProviderRepository } from '../../src/modules/providers/providers.repository.js';
import { createWebhookSigningRepository } from '../../src/modules/webhook-signing/webhook-signing.repository.js';
import { newCallId } from '../../src/lib/ids.js';
import { systemClock } from '../../src/lib/time.js';
import { newCallRow, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

describe.runIf(TEST_DIALECTS.includes('postgres'))('PostgreSQL single-statement writes', () => {
  let t: TestApp;
  let statements: PostgresCallWriteRepository;
  beforeAll(async () => {
    t = await createTestApp('postgres');
    statements = createPostgresCallWriteRepository(t.database.db);
  });
  afterAll(() => t.close());

  const event = { kind: 'create', receivedAt: '2026-12-06T10:00:00.000Z', payload: '{}' };

  async function addAgent(tenant: string, id: string, owner: string) {
    await t.database.db
      .insertInto('agents')
      .values({
        tenant_id: tenant,
        id,
        name: id,
        user_id: owner,
        org_id: `org_${owner}`,
        created_at: event.receivedAt,
        updated_at: event.receivedAt,
      })
      .execute();
  }

  const eventsOf = (callId: string) =>
    t.database.db
      .selectFrom('call_events')
      .select(['kind', 'outcome', 'status_before', 'status_after'])
      .where('call_id', '=', callId)
      .orderBy('id')
      .execute();

  const callsWithSid = async (tenant: string, callSid: string) =>
    t.database.db
      .selectFrom('calls')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .where('call_sid', '=', callSid)
      .execute();

  it('creates a call with its agent’s owner and its event; a taken callSid returns the stored call', async () => {
    const tenant = uniqueId('tenant_fast_');
    await addAgent(tenant, 'agent_a', 'user_a');
    const row = newCallRow(tenant, { agent_id: 'agent_a', user_id: 'user_claimed' });
    const created = await statements.create(row, 'agent_a', event);
    expect(created.kind).toBe('created');
    if (created.kind !== 'created') return;
    expect(created.row).toMatchObject({ id: row.id, user_id: 'user_a', org_id: 'org_user_a' });
    expect(await eventsOf(row.id)).toEqual([
      { kind: 'create', outcome: 'created', status_before: null, status_after: 'in-progress' },
    ]);

    const again = await statements.create({ ...row, id: newCallId() }, 'agent_a', event);
    expect(again.kind).toBe('exists');
    if (again.kind !== 'exists') return;
    expect(again.stored.row.id).toBe(row.id);
    expect(again.stored.version).toMatch(/^\d+$/);
    expect(again.owner).toEqual({ userId: 'user_a', orgId: 'org_user_a' });
    expect(await callsWithSid(tenant, row.call_sid)).toHaveLength(1);
    expect(await eventsOf(row.id)).toHaveLength(1);
  });

  it('without an agent the row keeps its own owner; an unknown agent is left to the transaction, writing nothing', async () => {
    const tenant = uniqueId('tenant_fast_');
    const own = newCallRow(tenant, { agent_id: '', user_id: 'user_self', org_id: null });
    const created = await statements.create(own, undefined, event);
    expect(created.kind === 'created' && created.row.user_id).toBe('user_self');

    const orphan = newCallRow(tenant, { agent_id: 'agent_missing' });
    expect(await statements.create(orphan, 'agent_missing', event)).toEqual({ kind: 'unsettled' });
    expect(await callsWithSid(tenant, orphan.call_sid)).toEqual([]);
    expect(await eventsOf(orphan.id)).toEqual([]);
  });

  it('merges only into the version it read: a stale version changes nothing and records no event', async () => {
    const tenant = uniqueId('tenant_fast_');
    const row = newCallRow(tenant, { agent_id: '' });
    await statements.create(row, undefined, event);
    const read = (await statements.read(tenant, row.id))!;
    expect(await statements.read(tenant, 'call_missing')).toBeUndefined();

    const merge = { kind: 'status_update', receivedAt: event.receivedAt, payload: '{}' };
    // Nothing to change: only the event, and the version stays.
    expect(
      await statements.mergeAtVersion(read, {}, { ...merge, statusAfter: 'in-progress' }),
    ).toBe(true);
    const unchanged = (await statements.read(tenant, row.id))!;
    expect(unchanged.version).toBe(read.version);

    expect(
      await statements.mergeAtVersion(
        read,
        { status: 'completed', summary: 'first' },
        { ...merge, statusAfter: 'completed' },
      ),
    ).toBe(true);
    const afterFirst = (await statements.read(tenant, row.id))!;
    expect(afterFirst.row).toMatchObject({ status: 'completed', summary: 'first' });
    expect(afterFirst.version).not.toBe(read.version);

    // The version read before that update is stale now: neither a change nor an event.
    expect(
      await statements.mergeAtVersion(
        read,
        { summary: 'lost' },
        { ...merge, statusAfter: 'completed' },
      ),
    ).toBe(false);
    expect(await statements.mergeAtVersion(read, {}, { ...merge, statusAfter: 'completed' })).toBe(
      false,
    );
    expect((await statements.read(tenant, row.id))!.row.summary).toBe('first');
    expect(await eventsOf(row.id)).toEqual([
      { kind: 'create', outcome: 'created', status_before: null, status_after: 'in-progress' },
      {
        kind: 'status_update',
        outcome: 'merged',
        status_before: 'in-progress',
        status_after: 'in-progress',
      },
      {
        kind: 'status_update',
        outcome: 'merged',
        status_before: 'in-progress',
        status_after: 'completed',
      },
    ]);
  });

  it('a write that loses its version to another runs again in a transaction and keeps both changes', async () => {
    const tenant = uniqueId('tenant_fast_');
    const db = t.database.db;
    const calls = createCallRepository(db, 'postgres');
    const deps = {
      calls,
      agents: createAgentService({
        agents: createAgentRepository(db),
        clock: systemClock,
        registerUnknownAgents: false,
      }),
      deliveries: createWebhookSigningRepository(db),
      sequences: createProviderRepository(db),
    };
    // Another request changes the call between this write's read and its update.
    let interleaved = 0;
    const racing: PostgresCallWriteRepository = {
      ...statements,
      async mergeAtVersion(stored, changes, mergeEvent) {
        if (interleaved === 0) {
          interleaved += 1;
          await calls.update(tenant, stored.row.id, {
            collected_data: JSON.stringify({ fromOther: 1 }),
          });
        }
        return statements.mergeAtVersion(stored, changes, mergeEvent);
      },
    };
    const writes = createPostgresCallWrites(new DirectTransactor(db), deps, racing);
    const auth: AuthContext = {
      kind: 'api_key',
      tenantId: tenant,
      userId: null,
      orgId: null,
      scopes: [],
      isAdmin: false,
      credentialId: 'test',
    };
    const base: IngestWrite = {
      auth,
      kind: 'started',
      callSid: uniqueId('CA-race-'),
      input: { status: 'in-progress' },
      claimedOwner: { userId: null, orgId: null },
      payload: '{}',
      delivery: undefined,
      order: undefined,
      now: event.receivedAt,
      newId: newCallId(),
    };
    const started = await writes.ingest(base);
    expect(started.created).toBe(true);

    const completed = await writes.ingest({
      ...base,
      kind: 'completed',
      input: { status: 'completed', collectedData: { fromThis: 2 } },
      newId: newCallId(),
    });
    expect(interleaved).toBe(1);
    expect(completed.call?.collectedData).toEqual({ fromOther: 1, fromThis: 2 });
    const [stored] = await callsWithSid(tenant, base.callSid);
    expect(JSON.parse(stored!.collected_data)).toEqual({ fromOther: 1, fromThis: 2 });
    expect(stored!.status).toBe('completed');
    // The statement that lost recorded nothing; the transaction recorded the one merge.
    expect((await eventsOf(stored!.id)).map((row) => row.outcome)).toEqual(['created', 'merged']);

    const patched = await writes.updateStatus({
      tenantId: tenant,
      id: stored!.id,
      input: { summary: 'patched' },
      payload: '{}',
      now: event.receivedAt,
    });
    expect(patched.call).toMatchObject({ summary: 'patched', status: 'completed' });
  });
});
