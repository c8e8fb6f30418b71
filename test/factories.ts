// Factories, not shared seeds: every test makes its own ids, so tests never see each other.
import { randomUUID } from 'node:crypto';
import type { NewCallRow } from '../src/db/types.js';
import { newCallId } from '../src/lib/ids.js';

/** mulberry32: a small seeded PRNG, so a generated data set is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const uniqueId = (prefix: string): string => `${prefix}${randomUUID().slice(0, 12)}`;
export const newCallSid = (): string => uniqueId('CA-');
export const newAgentId = (): string => uniqueId('agent_');

export function callStartBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    agentId: 'agent_factory',
    userId: 'user_67890',
    callSid: newCallSid(),
    direction: 'inbound',
    callerNumber: '+1234567890',
    callerName: 'John Doe',
    status: 'in-progress',
    ...overrides,
  };
}

export function completionBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    status: 'completed',
    duration: 245,
    recordingUrl: 'https://s3.amazonaws.com/recordings/call-123.mp3',
    transcript: 'Agent: Hello, thank you for calling...\nCaller: Hi, I need help with...',
    sentiment: 'positive',
    topics: ['support', 'billing'],
    summary: 'Customer called about billing issue, successfully resolved',
    collectedData: { name: 'John Smith', email: 'john@example.com', accountNumber: 'ACC-12345' },
    cost: 0.15,
    ...overrides,
  };
}

/** A calls row as the repository stores it: a live inbound call started now, nothing else known. */
export function newCallRow(tenantId: string, overrides: Partial<NewCallRow> = {}): NewCallRow {
  const now = new Date().toISOString();
  return {
    id: newCallId(),
    tenant_id: tenantId,
    call_sid: newCallSid(),
    agent_id: 'agent_factory',
    user_id: null,
    org_id: null,
    direction: 'inbound',
    caller_number: null,
    caller_name: null,
    status: 'in-progress',
    started_at: now,
    ended_at: null,
    duration: null,
    recording_url: null,
    transcript: null,
    sentiment: null,
    summary: null,
    topics: '[]',
    collected_data: '{}',
    cost_micros: null,
    created_at: now,
    updated_at: now,
    ...overrides,
  };
}
