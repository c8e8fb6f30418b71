// Moving house: export every call from SQLite, import it into PostgreSQL and back, and compare
// field by field; importing twice changes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportData, importData } from '../../src/cli/commands.js';
import { operatorAuthContext } from '../../src/modules/identity/identity.js';
import { callStartBody, completionBody, newCallSid } from '../factories.js';
import { parseCsv } from '../setup/csv.js';
import { createTestApp, makeTempDir, TEST_DIALECTS, type TestApp } from '../setup/test-app.js';

const readExport = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, any>);

/** The export without its header (which carries the time of export). */
const body = (file: string) => readExport(file).slice(1);

describe('export and import', () => {
  const target = TEST_DIALECTS.includes('postgres') ? 'postgres' : 'sqlite';
  const apps: TestApp[] = [];
  let source: TestApp;
  const dir = makeTempDir('callmind-transfer-');
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    source = await createTestApp('sqlite');
    apps.push(source);
    const inject = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
      const res = await source.app.inject({ method, url, ...(payload ? { payload } : {}) });
      return res.body === '' ? null : res.json();
    };
    // An org's agent, made through the service as the CLI would.
    await source.services.agents.create(
      operatorAuthContext({ orgId: 'org_acme', userId: null }),
      { name: 'Acme line', id: 'agent_acme' },
      { userId: null, orgId: 'org_acme' },
    );
    for (let i = 0; i < 40; i++) {
      const created = await inject(
        'POST',
        '/api/call-history',
        callStartBody({ startedAt: new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString() }),
      );
      if (i % 2 === 0) {
        await inject(
          'PATCH',
          `/api/call-history/${created.id}/status`,
          completionBody({
            transcript: `Agent: Grüß Gott ${i} 👋\nCaller: «ça va»`,
            collectedData: { n: i, nested: { list: [1, 'two', null] } },
            cost: 0.000001 * i,
          }),
        );
      }
      if (i === 39) await inject('DELETE', `/api/call-history/${created.id}`);
    }
    // A call whose completed webhook came first: no agent yet, inferred start.
    await inject('POST', '/api/webhooks/calls/completed', {
      callSid: newCallSid(),
      duration: 12.5,
    });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`round-trips SQLite → ${target} → SQLite without loss, and import is idempotent`, async () => {
    const exported = await exportData(source.config, file('a.ndjson'));
    expect(exported).toMatchObject({ agents: 2, calls: 40 });
    expect(exported.events).toBeGreaterThan(40);

    const middle = await createTestApp(target);
    apps.push(middle);
    const first = await importData(middle.config, file('a.ndjson'));
    expect(first).toEqual({
      agents: { imported: 2, skipped: 0 },
      calls: { imported: 40, skipped: 0 },
      events: exported.events,
    });
    await exportData(middle.config, file('b.ndjson'));
    expect(body(file('b.ndjson'))).toEqual(body(file('a.ndjson')));

    const again = await importData(middle.config, file('a.ndjson'));
    expect(again).toEqual({
      agents: { imported: 0, skipped: 2 },
      calls: { imported: 0, skipped: 40 },
      events: 0,
    });
    await exportData(middle.config, file('b2.ndjson'));
    expect(body(file('b2.ndjson'))).toEqual(body(file('a.ndjson')));

    const back = await createTestApp('sqlite');
    apps.push(back);
    await importData(back.config, file('b.ndjson'));
    await exportData(back.config, file('c.ndjson'));
    expect(body(file('c.ndjson'))).toEqual(body(file('a.ndjson')));

    // And the API answers the same for a call on both sides.
    const [line] = body(file('a.ndjson')).filter(
      (l) => l.kind === 'call' && l.row.status === 'completed',
    );
    const before = await source.app.inject({
      method: 'GET',
      url: `/api/call-history/${line!.row.id}`,
    });
    const after = await middle.app.inject({
      method: 'GET',
      url: `/api/call-history/${line!.row.id}`,
    });
    expect(after.json()).toEqual(before.json());
    const events = await middle.app.inject({
      method: 'GET',
      url: `/api/call-history/${line!.row.id}/events`,
    });
    const original = await source.app.inject({
      method: 'GET',
      url: `/api/call-history/${line!.row.id}/events`,
    });
    const withoutIds = (res: { json: () => any }) =>
      res.json().data.map(({ id: _id, ...e }: any) => e);
    expect(withoutIds(events)).toEqual(withoutIds(original));
  });

  it.each(TEST_DIALECTS)(
    'stores imported topics and collectedData as the API writes them, and the CSV shows them that way (%s)',
    async (dialect) => {
      await exportData(source.config, file('spaced-source.ndjson'));
      const callLine = fs
        .readFileSync(file('spaced-source.ndjson'), 'utf8')
        .split('\n')
        .find((line) => line.startsWith('{"kind":"call"'));
      const call = JSON.parse(callLine!);
      const id = `${call.row.id}spaced`;
      const row = {
        ...call.row,
        id,
        call_sid: `${call.row.call_sid}spaced`,
        topics: '[ "billing" ,\n "=refund" ]',
        collected_data: '{ "plan" : "pro", "seats": 1.50, "note": "caf\\u00e9" }',
      };
      fs.writeFileSync(
        file('spaced.ndjson'),
        `{"kind":"callmind-export","version":1,"exportedAt":"x"}\n${JSON.stringify({ ...call, row, events: [] })}\n`,
      );
      const app = await createTestApp(dialect);
      apps.push(app);
      await importData(app.config, file('spaced.ndjson'));
      const res = await app.app.inject({
        method: 'GET',
        url: `/api/call-history/export?format=csv&agentId=${row.agent_id}`,
      });
      const [header, ...rows] = parseCsv(res.body);
      const cells = rows.find((cells) => cells[header!.indexOf('id')] === id)!;
      expect(cells[header!.indexOf('topics')]).toBe('billing; =refund');
      expect(cells[header!.indexOf('collectedData')]).toBe(
        '{"plan":"pro","seats":1.5,"note":"café"}',
      );
    },
  );

  it('refuses a file that is not an export, naming the line', async () => {
    fs.writeFileSync(
      file('bad.ndjson'),
      '{"kind":"callmind-export","version":1,"exportedAt":"x"}\nnot json\n',
    );
    await expect(importData(source.config, file('bad.ndjson'))).rejects.toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'line 2', message: 'is not JSON' }],
    });
    const callLine = fs
      .readFileSync(file('a.ndjson'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith('{"kind":"call"'));
    const call = JSON.parse(callLine!);
    for (const [column, bad] of [
      ['status', 'done'],
      ['topics', 'not json'],
      ['collected_data', '[1,2]'],
      ['started_at', 'yesterday'],
      ['duration', -1],
      ['cost_micros', 1.5],
      ['cost_micros', 1_000_000_000_001],
    ] as const) {
      const edited = { ...call, row: { ...call.row, id: `${call.row.id}x`, [column]: bad } };
      fs.writeFileSync(
        file('edited.ndjson'),
        `{"kind":"callmind-export","version":1,"exportedAt":"x"}\n${JSON.stringify(edited)}\n`,
      );
      await expect(importData(source.config, file('edited.ndjson'))).rejects.toMatchObject({
        code: 'validation_failed',
        errors: [{ field: 'line 2' }],
      });
    }
    fs.writeFileSync(
      file('headless.ndjson'),
      '{"kind":"agent","row":{"tenant_id":"t","id":"a"}}\n',
    );
    await expect(importData(source.config, file('headless.ndjson'))).rejects.toMatchObject({
      code: 'validation_failed',
    });
  });
});
