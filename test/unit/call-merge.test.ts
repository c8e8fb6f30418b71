import { describe, expect, it } from 'vitest';
import type { CallRow } from '../../src/db/types.js';
import {
  buildNewCall,
  mergeCollectedData,
  mergeIntoCall,
  mergeTopics,
  statusMayMove,
} from '../../src/modules/calls/call-merge.js';

const NOW = '2025-01-17T10:40:00.000Z';
const owner = { userId: 'user_1', orgId: null };

function storedCall(overrides: Partial<CallRow> = {}): CallRow {
  const row = buildNewCall({
    id: 'call_1',
    tenantId: 't',
    callSid: 'CA-1',
    owner,
    input: { agentId: 'agent_1', startedAt: '2025-01-17T10:30:00.000Z' },
    defaultStatus: 'in-progress',
    now: '2025-01-17T10:30:00.000Z',
  });
  return { ...(row as CallRow), ...overrides };
}

describe('status order', () => {
  it('moves forward, never back from a final status, final may replace final', () => {
    expect(statusMayMove('ringing', 'in-progress')).toBe(true);
    expect(statusMayMove('in-progress', 'ringing')).toBe(false);
    expect(statusMayMove('completed', 'in-progress')).toBe(false);
    expect(statusMayMove('completed', 'failed')).toBe(true);
    expect(statusMayMove('missed', 'missed')).toBe(true);
  });
});

describe('mergeTopics', () => {
  it('keeps stored order and appends only new topics, each once', () => {
    expect(mergeTopics(['a', 'b'], ['b', 'c', 'c', 'a', 'd'])).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('mergeCollectedData', () => {
  it('merges per key, last write wins, and cannot touch a prototype', () => {
    const incoming = JSON.parse('{"b": 2, "__proto__": {"polluted": true}}') as Record<
      string,
      unknown
    >;
    const merged = mergeCollectedData({ a: 1, b: 1 }, incoming);
    expect(merged.a).toBe(1);
    expect(merged.b).toBe(2);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('mergeIntoCall', () => {
  it('reports no change when a write repeats what is stored', () => {
    const stored = storedCall();
    expect(
      mergeIntoCall(stored, { agentId: 'agent_1', status: 'in-progress' }, owner, NOW).changes,
    ).toEqual({});
  });

  it('sets endedAt and computes duration when a final status first arrives', () => {
    const { changes } = mergeIntoCall(storedCall(), { status: 'completed' }, owner, NOW);
    expect(changes).toMatchObject({
      status: 'completed',
      ended_at: NOW,
      duration: 600,
      updated_at: NOW,
    });
  });

  it('keeps a given duration and an existing endedAt', () => {
    const stored = storedCall({
      status: 'completed',
      ended_at: '2025-01-17T10:35:00.000Z',
      duration: 300,
      duration_source: 'sent',
    });
    const { changes, statusRefused } = mergeIntoCall(stored, { status: 'failed' }, owner, NOW);
    expect(statusRefused).toBe(false);
    expect(changes).toEqual({ status: 'failed', updated_at: NOW });
  });

  it('refuses a lower status but still merges the rest', () => {
    const stored = storedCall({ status: 'completed' });
    const { changes, statusRefused } = mergeIntoCall(
      stored,
      { status: 'ringing', summary: 's' },
      owner,
      NOW,
    );
    expect(statusRefused).toBe(true);
    expect(changes).toEqual({ summary: 's', updated_at: NOW });
  });

  it('a completed-first call starts at its end until a start is stated, then computes its duration', () => {
    const completedFirst = buildNewCall({
      id: 'call_2',
      tenantId: 't',
      callSid: 'CA-2',
      owner,
      input: { endedAt: '2025-01-17T10:34:05.000Z' },
      defaultStatus: 'completed',
      now: NOW,
    }) as CallRow;
    expect(completedFirst).toMatchObject({
      started_at: '2025-01-17T10:34:05.000Z',
      started_at_source: 'end',
      duration: null,
    });
    const { changes } = mergeIntoCall(
      completedFirst,
      { startedAt: '2025-01-17T10:30:00.000Z', agentId: 'agent_1' },
      owner,
      NOW,
      { fillOnly: true },
    );
    expect(changes).toMatchObject({
      started_at: '2025-01-17T10:30:00.000Z',
      started_at_source: 'sent',
      duration: 245,
      duration_source: 'computed',
      agent_id: 'agent_1',
    });
  });

  it('a stated end before a stated start is refused, naming the field', () => {
    const stored = storedCall(); // started 10:30, stated
    expect(() =>
      mergeIntoCall(
        stored,
        { status: 'completed', endedAt: '2025-01-17T10:00:00.000Z' },
        owner,
        NOW,
      ),
    ).toThrow(/endedAt/);
  });

  it('an inferred start gives way to a stated end that precedes it', () => {
    const firstSeen = storedCall({ started_at_source: 'first_seen' });
    const { changes } = mergeIntoCall(
      firstSeen,
      { status: 'completed', endedAt: '2025-01-17T10:20:00.000Z', duration: 60 },
      owner,
      NOW,
    );
    expect(changes).toMatchObject({
      started_at: '2025-01-17T10:19:00.000Z',
      started_at_source: 'end',
      ended_at: '2025-01-17T10:20:00.000Z',
    });
  });

  it('a stale start fills what is missing or defaulted and overwrites nothing stated', () => {
    const stored = storedCall({
      status: 'completed',
      caller_name: 'Updated Name',
      direction_source: 'default',
      collected_data: '{"a":1}',
    });
    const { changes } = mergeIntoCall(
      stored,
      {
        callerName: 'Old Name',
        callerNumber: '+100',
        direction: 'outbound',
        collectedData: { a: 2, b: 3 },
      },
      owner,
      NOW,
      { fillOnly: true },
    );
    expect(changes.caller_name).toBeUndefined();
    expect(changes).toMatchObject({
      caller_number: '+100',
      direction: 'outbound',
      direction_source: 'sent',
      collected_data: '{"a":1,"b":3}',
    });
  });

  it('bounds what many writes add up to', () => {
    const stored = storedCall({
      topics: JSON.stringify(Array.from({ length: 200 }, (_, i) => `t${i}`)),
    });
    expect(() => mergeIntoCall(stored, { topics: ['one more'] }, owner, NOW)).toThrow(
      /at most 200 topics/,
    );
  });

  it('fills an empty agentId but never replaces a set one', () => {
    expect(
      mergeIntoCall(storedCall({ agent_id: '' }), { agentId: 'agent_2' }, owner, NOW).changes
        .agent_id,
    ).toBe('agent_2');
    expect(
      mergeIntoCall(storedCall(), { agentId: 'agent_2' }, owner, NOW).changes.agent_id,
    ).toBeUndefined();
  });
});
