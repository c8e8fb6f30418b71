// The sweepers: stale calls are ended as failed (missing_final_event) and a late final event still
// lands; retention deletes what is older than the tenant's or the default number of days, and
// nothing else. Both dialects, with a clock the test moves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../src/modules/calls/calls.schemas.js';
import { operatorAuthContext } from '../../src/modules/identity/identity.js';
import { startSweeper } from '../../src/modules/maintenance/maintenance.service.js';
import { newCallSid, uniqueId } from '../factories.js';
import { createTestApp, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';
import { stoppingAfter } from '../setup/stopping.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.each(TEST_DIALECTS)('sweepers (%s)', (dialect) => {
  let t: TestApp;
  let now = Date.parse('2025-06-01T12:00:00Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();

  beforeAll(async () => {
    t = await createTestApp(dialect, {
      clock: () => new Date(now),
      env: { RETENTION_DAYS: '30', STALE_CALL_AFTER_MINUTES: '240' },
    });
  });
  afterAll(() => t.close());

  const post = async (body: Record<string, unknown>): Promise<Call> => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/call-history',
      payload: { agentId: 'agent_sweep', callSid: newCallSid(), ...body },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<Call>();
  };
  const get = async (id: string) => t.app.inject({ method: 'GET', url: `/api/call-history/${id}` });

  it('ends calls left live past the limit as failed, once, and a late final event still lands', async () => {
    const stale = await post({ status: 'ringing', startedAt: ago(5 * HOUR) });
    const staleInProgress = await post({
      status: 'in-progress',
      startedAt: ago(4 * HOUR + 60_000),
    });
    const recent = await post({ status: 'in-progress', startedAt: ago(1 * HOUR) });
    const finished = await post({ status: 'completed', startedAt: ago(10 * HOUR), duration: 60 });

    expect(await t.services.maintenance.sweep()).toEqual({ ended: 2, deleted: 0 });
    for (const call of [stale, staleInProgress]) {
      const swept = (await get(call.id)).json<Call>();
      expect(swept.status).toBe('failed');
      expect(swept.endReason).toBe('missing_final_event');
      expect(swept.endedAt, 'nobody knows when it ended').toBeNull();
      const events = (
        await t.app.inject({ method: 'GET', url: `/api/call-history/${call.id}/events` })
      ).json().data;
      expect(events.at(-1)).toMatchObject({
        kind: 'sweep',
        statusBefore: call.status,
        statusAfter: 'failed',
      });
    }
    expect((await get(recent.id)).json().status).toBe('in-progress');
    expect((await get(finished.id)).json()).toEqual(finished);
    expect(await t.services.maintenance.sweep()).toEqual({ ended: 0, deleted: 0 });

    // The final event arrives after all: it wins, and the sweeper's reason goes with it.
    const late = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/calls/completed',
      payload: { callSid: stale.callSid, duration: 42, summary: 'it did end' },
    });
    expect(late.statusCode).toBe(200);
    expect(late.json()).toMatchObject({
      status: 'completed',
      duration: 42,
      summary: 'it did end',
      endReason: null,
    });
  });

  it('sweeps a backlog in batches', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 620; i++) {
      ids.push((await post({ status: 'in-progress', startedAt: ago(6 * HOUR + i) })).id);
    }
    expect(await t.services.maintenance.sweep()).toEqual({ ended: 620, deleted: 0 });
    const page = await t.app.inject({
      method: 'GET',
      url: '/api/call-history?status=in-progress,ringing&from=2025-06-01T00:00:00Z&to=2025-06-01T07:00:00Z',
    });
    expect(page.json().data).toEqual([]);
  }, 60_000);

  it('a sweep told to stop (a shutdown) ends after the batch in hand; the next sweep does the rest', async () => {
    for (let i = 0; i < 620; i++) {
      await post({ status: 'ringing', startedAt: ago(7 * HOUR + i) });
    }
    // Stopping is set once the first batch (500) has begun: the retention and compaction
    // steps after it start nothing either.
    const stopping = stoppingAfter(1);
    expect(await t.services.maintenance.sweep(stopping)).toEqual({ ended: 500, deleted: 0 });
    expect(stopping.checked).toBeGreaterThan(1);
    expect(await t.services.maintenance.sweep()).toEqual({ ended: 120, deleted: 0 });
  }, 60_000);

  it('retention: the default, a tenant that keeps forever, a tenant that keeps less', async () => {
    const old = await post({ status: 'completed', startedAt: ago(40 * DAY) });
    const young = await post({ status: 'completed', startedAt: ago(10 * DAY) });
    // Another tenant, written through the service layer as an operator would.
    const other = operatorAuthContext({ orgId: uniqueId('org_'), userId: null });
    await t.services.agents.create(other, { name: 'Other line', id: 'agent_other' });
    const ingestOther = async (startedAt: string) =>
      (
        await t.services.calls.ingest(other, 'create', {
          agentId: 'agent_other',
          callSid: newCallSid(),
          status: 'completed',
          startedAt,
        })
      ).call!;
    const otherOld = await ingestOther(ago(40 * DAY));

    // The local tenant keeps calls forever: only the other tenant's old call goes.
    const forever = await t.app.inject({
      method: 'PUT',
      url: '/api/settings',
      payload: { retentionDays: 0 },
    });
    expect(forever.json()).toEqual({
      retentionDays: 0,
      defaultRetentionDays: 30,
      effectiveRetentionDays: 0,
    });
    expect(await t.services.maintenance.sweep()).toMatchObject({ deleted: 1 });
    await expect(t.services.calls.get(other, otherOld.id)).rejects.toThrow(/no call/);
    expect((await get(old.id)).statusCode).toBe(200);

    // Then it keeps five days: both of its old calls go, the other tenant is untouched.
    const otherYoung = await ingestOther(ago(10 * DAY));
    await t.app.inject({ method: 'PUT', url: '/api/settings', payload: { retentionDays: 5 } });
    expect(await t.services.maintenance.sweep()).toMatchObject({ deleted: 2 });
    expect((await get(old.id)).statusCode).toBe(404);
    expect((await get(young.id)).statusCode).toBe(404);
    expect((await t.services.calls.get(other, otherYoung.id)).id).toBe(otherYoung.id);

    // Back to the default; a bad value names its field.
    const reset = await t.app.inject({
      method: 'PUT',
      url: '/api/settings',
      payload: { retentionDays: null },
    });
    expect(reset.json().effectiveRetentionDays).toBe(30);
    expect((await t.app.inject({ method: 'GET', url: '/api/settings' })).json()).toEqual(
      reset.json(),
    );
    const bad = await t.app.inject({
      method: 'PUT',
      url: '/api/settings',
      payload: { retentionDays: -3 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('retentionDays');

    // Time passes: the other tenant's young call reaches the default's 30 days.
    now += 25 * DAY;
    expect(await t.services.maintenance.sweep()).toMatchObject({ deleted: 1 });
    await expect(t.services.calls.get(other, otherYoung.id)).rejects.toThrow(/no call/);
  });
});

describe('the sweeper timer', () => {
  it('runs on its interval, never twice at once, and reports failures without stopping', async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    const results: Array<unknown> = [];
    const sweeper = startSweeper(
      async () => {
        running++;
        if (running > 1) overlapped = true;
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 30));
        running--;
        if (runs === 2) throw new Error('database went away');
        return { ended: runs, deleted: 0 };
      },
      5,
      (result) => results.push(result),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await sweeper.stop();
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runs, 'no run after stop').toBe(after);
    expect(overlapped).toBe(false);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(results[1]).toBeInstanceOf(Error);
    expect(results[2]).toEqual({ ended: 3, deleted: 0 });
  });

  it('stop() tells the sweep in hand to stop, waits for it, and starts no other', async () => {
    let batches = 0;
    let sweeps = 0;
    let told = false;
    const sweeper = startSweeper(
      async (stopping) => {
        sweeps++;
        // A sweep of many batches, looking at `stopping` before each, as the real ones do.
        while (!stopping.aborted) {
          batches++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        told = true;
        return { ended: batches, deleted: 0 };
      },
      5,
      () => {},
    );
    while (batches < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    const stoppedAt = batches;
    await sweeper.stop();
    expect(told).toBe(true);
    // stop() came while a batch was in hand (the sweep was between its checks): no other began.
    expect(batches).toBe(stoppedAt);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sweeps).toBe(1);
  });
});
